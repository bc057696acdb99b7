"""The asv benchmarks import, validate, and measure the same cells as the suite file."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _conf(tmp_path: Path) -> Path:
    """asv.conf.json with asv's own files in ``tmp_path``: asv writes benchmarks.json and machine.json into its
    results directory even on ``--dry-run``, which would overwrite the dashboard's in ``.asv/``."""
    conf = json.loads((ROOT / "asv.conf.json").read_text())
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / conf["benchmark_dir"]),
                **{key: str(tmp_path / "asv" / key) for key in ("results_dir", "html_dir", "env_dir")})
    path = tmp_path / "asv.conf.json"
    path.write_text(json.dumps(conf))
    return path


def test_asv_check_passes(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "asv", "check", "--python=same", "--config", str(_conf(tmp_path))],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout


def test_asv_results_stay_out_of_results_dir():
    conf = json.loads((ROOT / "asv.conf.json").read_text())
    assert conf["benchmark_dir"] == "suites"
    for key in ("results_dir", "html_dir", "env_dir"):
        assert conf[key].startswith(".asv/")


QUICK_SUITE = """
name = "asvquick"
seeds = [0]
[[tasks]]
name = "gaussian"
dim = [2, 5]
rho = 0.9
[[methods]]
name = "laplace"
budgets = [200]
[[methods]]
name = "meanfield"
budgets = [300]
"""


def _benchmarks(monkeypatch, suite: str | None = None):
    """``suites/benchmarks.py`` imported afresh (its grid is read at import), optionally on another suite."""
    import importlib

    monkeypatch.syspath_prepend(str(ROOT))
    if suite:
        monkeypatch.setenv("VIBENCH_ASV_SUITE", suite)
    else:
        monkeypatch.delenv("VIBENCH_ASV_SUITE", raising=False)
    from suites import benchmarks

    return importlib.reload(benchmarks)


def test_benchmark_grid_is_the_suite_grid(monkeypatch):
    benchmarks = _benchmarks(monkeypatch)
    from vibench.suite import load_suite

    cells = load_suite("dashboard").cells()
    for cls in (benchmarks.Fit, benchmarks.Score, benchmarks.Accuracy):
        assert cls.param_names == ["task", "dim", "method"]
        tasks, dims, methods = cls.params
        assert all(isinstance(d, int) for d in dims) and dims == sorted(dims) and len(dims) > 1  # size is an axis
    # every cell of the suite is in exactly one grid point, with all its seeds
    grouped = [c for group in benchmarks.GRID.values() for c in group]
    assert sorted(map(str, grouped)) == sorted(map(str, cells))
    for (task, dim, method), group in benchmarks.GRID.items():
        assert {c.params_dict["dim"] for c in group} == {dim} and {c.method for c in group} == {method.split("[")[0]}
        assert task.split()[0] == group[0].task
    assert benchmarks.Accuracy.track_kl.unit == "log10(nats)"
    assert benchmarks.Accuracy.track_dist.unit == benchmarks.Accuracy.track_mean_err.unit == "log10(posterior sds)"
    assert benchmarks.Accuracy.track_evals.unit == "evaluations"


def test_accuracy_tracks_read_the_cache_and_never_fit(monkeypatch, tmp_path):
    suite = tmp_path / "asvquick.toml"
    suite.write_text(QUICK_SUITE)
    benchmarks = _benchmarks(monkeypatch, str(suite))
    acc = benchmarks.Accuracy()
    rows = acc.setup_cache()
    assert set(rows) == {"gaussian rho=0.9|2|laplace", "gaussian rho=0.9|2|meanfield", "gaussian rho=0.9|5|laplace",
                         "gaussian rho=0.9|5|meanfield"}
    import vibench.runner

    def no_fit(*args, **kwargs):
        raise AssertionError("an accuracy track ran a cell")

    monkeypatch.setattr(vibench.runner, "run_cell", no_fit)
    from vibench.registry import get_registry

    for name in ("laplace", "meanfield"):
        monkeypatch.setattr(type(get_registry().get_method(name)), "fit", no_fit)
    args = ("gaussian rho=0.9", 5, "meanfield")
    acc.setup(rows, *args)
    (row,) = rows["gaussian rho=0.9|5|meanfield"]
    assert acc.track_dist(rows, *args) == pytest.approx(math.log10(row["dist"]), abs=1e-4)
    assert acc.track_mean_err(rows, *args) == pytest.approx(math.log10(max(row["mean_err"], benchmarks.FLOOR)), abs=1e-4)
    assert row["kl_estimator"] == "closed-form" and row["kl"] > 1  # mean-field on a correlated Gaussian
    assert acc.track_kl(rows, *args) == pytest.approx(math.log10(row["kl"]), abs=1e-4)
    assert acc.track_evals(rows, *args) == row["n_grad"] + (row["n_logp"] or 0)
    acc.setup(rows, "gaussian rho=0.9", 5, "laplace")
    assert acc.track_kl(rows, "gaussian rho=0.9", 5, "laplace") == math.log10(benchmarks.FLOOR)  # exact: KL = 0
    with pytest.raises(NotImplementedError):  # not in the suite: asv shows n/a
        acc.setup(rows, "gaussian rho=0.9", 3, "laplace")


def test_fit_setup_limits_blas_threads_like_the_executors(monkeypatch, tmp_path):
    """Timed with OpenBLAS's default threads, a d = 10 Laplace fit takes 0.35 s on 2 cores instead of 0.002 s."""
    from threadpoolctl import threadpool_info, threadpool_limits

    suite = tmp_path / "asvquick.toml"
    suite.write_text(QUICK_SUITE)
    benchmarks = _benchmarks(monkeypatch, str(suite))
    with threadpool_limits(2):  # as a fresh process starts
        fit = benchmarks.Fit()
        fit.setup("gaussian rho=0.9", 5, "laplace")
        assert {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} == {1}
        fit.time_fit("gaussian rho=0.9", 5, "laplace")


def test_score_times_evaluate_alone_with_the_frame_built(monkeypatch, tmp_path):
    """``Score.time_score`` scores the setup's fit again: no fit, and the truth's frame is already cached."""
    suite = tmp_path / "asvquick.toml"
    suite.write_text(QUICK_SUITE)
    benchmarks = _benchmarks(monkeypatch, str(suite))
    score = benchmarks.Score()
    score.setup("gaussian rho=0.9", 5, "meanfield")
    assert "_vibench_frame" in score.task.truth.__dict__  # built by the untimed first scoring
    calls = []
    import vibench

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    def no_fit(*args, **kwargs):
        raise AssertionError("time_score fitted")

    real = vibench.evaluate
    monkeypatch.setattr(vibench, "evaluate", counted)
    monkeypatch.setattr(type(score.method), "fit", no_fit)
    score.time_score("gaussian rho=0.9", 5, "meanfield")
    assert len(calls) == 1 and calls[0][0] is score.approx and calls[0][1] is score.task


def test_asv_quick_run(tmp_path):
    """``asv run --quick`` over a small grid, in this environment: every benchmark runs, both sizes are columns."""
    suite = tmp_path / "asvquick.toml"
    suite.write_text(QUICK_SUITE)
    env = {**os.environ, "HOME": str(tmp_path), "VIBENCH_ASV_SUITE": str(suite)}  # asv's machine file lives in HOME
    machine = subprocess.run([sys.executable, "-m", "asv", "machine", "--yes", "--config", str(_conf(tmp_path))],
                             cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert machine.returncode == 0, machine.stdout + machine.stderr
    proc = subprocess.run([sys.executable, "-m", "asv", "run", "--python=same", "--quick", "--dry-run",
                           "--show-stderr", "--config", str(_conf(tmp_path))], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    names = ["Fit.time_fit", "Fit.peakmem_fit", "Score.time_score", "Accuracy.track_dist", "Accuracy.track_mean_err",
             "Accuracy.track_kl", "Accuracy.track_evals"]
    for name in names:
        assert re.search(rf"benchmarks\.{re.escape(name)}\s+ok", out), (name, out[-4000:])
    assert "failed" not in out.lower(), out[-4000:]
    assert re.search(r"task\s+dim\s+laplace\s+meanfield", out)  # the parameter table: dim is a column
    assert re.search(r"gaussian rho=0\.9\s+5\s", out)
    assert (tmp_path / "asv" / "results_dir" / "benchmarks.json").exists()  # asv's files went to tmp_path, not .asv/
