"""The asv benchmarks import, validate, and measure the same cells as the suite file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_asv_check_passes():
    proc = subprocess.run([sys.executable, "-m", "asv", "check", "--python=same"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout


def test_asv_results_stay_out_of_results_dir():
    conf = json.loads((ROOT / "asv.conf.json").read_text())
    assert conf["benchmark_dir"] == "suites"
    for key in ("results_dir", "html_dir", "env_dir"):
        assert conf[key].startswith(".asv/")


def test_benchmark_grid_is_the_suite_grid(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from suites import benchmarks
    from vibench.suite import load_suite

    cells = load_suite("dashboard").cells()
    assert benchmarks.Cells.params == [[str(c) for c in cells]]
    assert benchmarks.Cells.track_kl.unit == "nats"
