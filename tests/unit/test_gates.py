"""The pre-commit hooks run the same fast gates as `make test`, with the project's tools."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def hooks() -> list[dict]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def test_the_pre_commit_config_is_valid():
    subprocess.run([str(VENV_BIN / "pre-commit"), "validate-config",
                    str(ROOT / ".pre-commit-config.yaml")], check=True, capture_output=True)


def test_every_gate_of_make_gates_has_a_hook_run_from_the_venv():
    makefile = (ROOT / "Makefile").read_text()
    gates = makefile.split("\ngates:\n", 1)[1].split("\n\n", 1)[0]
    tools = set(re.findall(r"\$\(VENV\)/bin/([\w-]+)", gates))
    assert tools == {"ruff", "lint-imports", "mypy"}
    entries = [hook["entry"].split()[0] for hook in hooks()]
    for tool in tools:
        assert f".venv/bin/{tool}" in entries, f"no pre-commit hook runs {tool}"
    for entry in entries:
        assert (ROOT / entry).exists() or (VENV_BIN / Path(entry).name).exists(), entry
