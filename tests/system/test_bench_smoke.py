"""The benchmark harness, run for seconds on tiny data so that it cannot rot."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is installed by `make test`")
def test_the_bench_runs_every_scenario_without_errors():
    finished = subprocess.run([sys.executable, "-m", "bench.run", "--smoke"], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    report = json.loads((ROOT / "bench" / "results" / "smoke.json").read_text())
    scenarios = {result["scenario"] for result in report["results"]}
    assert {"hello", "plain_rpc", "post_cache_hit", "post_cache_off", "orders", "signin",
            "readers_with_signins_46"} <= scenarios
    assert all(result["errors"] == 0 for result in report["results"])
    assert report["peak_rss_mb"]["gateway"] > 0
