"""Executors agree with each other; Dask errors are quick and clear; a killed run resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import vibench
from vibench.cell import Cell
from vibench.errors import VibenchError
from vibench.executors import SerialExecutor, make_executor


def _cells():
    return ([Cell.make("gaussian", {"dim": d, "rho": 0.5}, "laplace", vibench.Budget(50), 0) for d in (2, 3)]
            + [Cell.make("banana", {"dim": 2}, "emcee", vibench.Budget(200), s) for s in (0, 1)])


@pytest.fixture(scope="module")
def dask_local():
    ex = make_executor(dask="local", jobs=2)
    yield ex
    ex.close()


def test_dask_local_gives_the_same_metrics_as_serial(dask_local):
    cells = _cells()
    serial = {r["key"]: r for r in SerialExecutor().run(cells)}
    dask = {r["key"]: r for r in dask_local.run(cells)}
    assert serial.keys() == dask.keys()
    for key, row in serial.items():
        assert row["status"] == dask[key]["status"] == "ok"
        for col in ("kl", "kl_se", "mean_err", "sd_err", "khat", "n_grad", "n_logp"):
            assert row[col] == dask[key][col], (row["method"], col)


def test_dask_timeout_kills_the_cells_process_and_goes_on(dask_local):
    slow = Cell.make("gaussian", {"dim": 2, "rho": 0.5}, "emcee", vibench.Budget(10**6), 0)
    fast = Cell.make("gaussian", {"dim": 2, "rho": 0.5}, "laplace", vibench.Budget(50), 0)
    rows = {r["method"]: r for r in dask_local.run([slow, fast], timeout=2.0)}
    assert rows["emcee"]["status"] == "timeout" and "timeout" in rows["emcee"]["error"]
    assert rows["laplace"]["status"] == "ok"
    again = list(dask_local.run([fast]))  # the worker whose cell process was killed takes work again
    assert again[0]["status"] == "ok"
    assert dask_local._threads() == 2


def test_dask_timeouts_start_when_the_cell_starts(dask_local):
    # 12 quick cells on 2 workers, a timeout shorter than the queue: none may time out
    cells = [Cell.make("gaussian", {"dim": 2, "rho": 0.5}, "laplace", vibench.Budget(50), s) for s in range(12)]
    rows = list(dask_local.run(cells, timeout=3.0))
    assert sorted(r["key"] for r in rows) == sorted(c.key for c in cells)
    assert [r["status"] for r in rows] == ["ok"] * 12, [r["error"] for r in rows]


def test_unreachable_dask_scheduler_is_a_quick_clear_error():
    start = time.monotonic()
    with pytest.raises(VibenchError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'"):
        make_executor(dask="tcp://127.0.0.1:1")
    assert time.monotonic() - start < 20


SLOW_SUITE = """
name = "killme"
seeds = [0, 1, 2, 3, 4, 5, 6, 7]
[[tasks]]
name = "gaussian"
dim = 2
rho = 0.5
[[methods]]
name = "emcee"
budgets = [2500]
"""


@pytest.mark.parametrize("jobs", [None, 2])
def test_sigkill_then_resume_gives_every_cell_exactly_once(tmp_path, jobs):
    suite = tmp_path / "killme.toml"
    suite.write_text(textwrap.dedent(SLOW_SUITE))
    out = tmp_path / "res"
    args = [sys.executable, "-m", "vibench.cli", "run", str(suite), "--out", str(out), "--no-progress"]
    args += ["--jobs", str(jobs)] if jobs else []
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cells = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list(out.glob("killme-*/cells.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 3:
            cells = found[0]
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert cells is not None, "the run never wrote three cells"
    before = len(cells.read_text().splitlines())
    assert 3 <= before < 8, "killed too late to test resuming"
    resumed = subprocess.run([sys.executable, "-m", "vibench.cli", "run", str(suite), "--resume", str(cells.parent),
                              "--no-progress"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    rows = [json.loads(line) for line in cells.read_text().splitlines()]
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8
    assert sorted(r["seed"] for r in rows) == list(range(8))
    assert all(r["status"] == "ok" for r in rows)


def test_dask_with_no_worker_left_gives_error_rows_instead_of_hanging(monkeypatch):
    from vibench import dask_executor

    ex = make_executor(dask="local", jobs=1)
    try:
        ex._cluster.scale(0)
        deadline = time.monotonic() + 30
        while ex._threads() and time.monotonic() < deadline:
            time.sleep(0.2)
        monkeypatch.setattr(dask_executor, "NO_WORKER_S", 2.0)
        start = time.monotonic()
        rows = list(ex.run(_cells()[:2]))
    finally:
        ex.close()
    assert time.monotonic() - start < 30
    assert [r["status"] for r in rows] == ["error", "error"]
    assert all("no Dask worker (or scheduler) for 2 s" in r["error"] for r in rows)
