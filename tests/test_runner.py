"""One cell -> one row, whatever the method does; executors agree; timeouts kill."""

from __future__ import annotations

import time

import numpy as np
import pytest

import vibench
from vibench.cell import Cell
from vibench.executors import ProcessExecutor, SerialExecutor
from vibench.registry import get_registry
from vibench.runner import run_cell
from vibench.store import ROW_COLUMNS


class _Crash(vibench.Method):
    name, family = "test-crash", "meanfield"

    def fit(self, task, budget, rng):
        raise RuntimeError("boom\nsecond line")


class _NaN(vibench.Method):
    name, family = "test-nan", "meanfield"

    def fit(self, task, budget, rng):
        return vibench.GaussianApproximation(np.full(task.dim, np.nan), sd=np.ones(task.dim))


class _Sleep(vibench.Method):
    name, family = "test-sleep", "mcmc"

    def fit(self, task, budget, rng):
        time.sleep(budget.steps)
        raise AssertionError("should have been killed")


class _Picky(vibench.Method):
    name, family = "test-picky", "laplace"

    def supports(self, task):
        return "only for funnels"


@pytest.fixture
def test_methods(fresh_registry):
    r = get_registry()
    for m in (_Crash(), _NaN(), _Sleep(), _Picky()):
        r.add_method(m)
    yield r


def _cell(method, steps=50, dim=3, seed=0):
    return Cell.make("gaussian", {"dim": dim, "rho": 0.5}, method, vibench.Budget(steps), seed)


def test_ok_row_has_every_column():
    row = run_cell(_cell("laplace"))
    assert row["status"] == "ok", row["error"]
    assert set(ROW_COLUMNS) <= set(row)
    assert row["kl_estimator"] == "closed-form" and abs(row["kl"]) < 1e-8
    assert row["family"] == "laplace" and row["dim"] == 3 and row["n_grad"] > 0
    assert row["fit_s"] <= row["wall_s"]


def test_crash_nan_and_unsupported_become_rows(test_methods):
    crash = run_cell(_cell("test-crash"))
    assert crash["status"] == "error" and crash["error"] == "RuntimeError: boom"
    nan = run_cell(_cell("test-nan"))
    assert nan["status"] == "error" and "non-finite" in nan["error"]
    picky = run_cell(_cell("test-picky"))
    assert picky["status"] == "unsupported" and picky["error"] == "only for funnels"


def test_counters_are_per_cell():
    a = run_cell(_cell("laplace"))
    b = run_cell(_cell("laplace"))
    assert a["n_grad"] == b["n_grad"]


def test_timeout_kills_the_worker_and_the_run_goes_on(test_methods):
    cells = [_cell("test-sleep", steps=60), _cell("laplace")]
    ex = ProcessExecutor(1)
    start = time.monotonic()
    rows = {r["method"]: r for r in ex.run(cells, timeout=1.0)}
    ex.close()
    assert time.monotonic() - start < 30
    assert rows["test-sleep"]["status"] == "timeout"
    assert rows["laplace"]["status"] == "ok"


def test_serial_and_processes_give_identical_metrics():
    cells = [_cell("laplace", dim=d) for d in (2, 4)] + [_cell("emcee", steps=200, dim=2, seed=s) for s in (0, 1)]
    serial = {r["key"]: r for r in SerialExecutor().run(cells)}
    ex = ProcessExecutor(2)
    parallel = {r["key"]: r for r in ex.run(cells)}
    ex.close()
    assert serial.keys() == parallel.keys()
    for key in serial:
        for col in ("kl", "mean_err", "sd_err", "n_grad", "n_logp"):
            assert serial[key][col] == parallel[key][col], (key, col)


class _Noisy(vibench.Method):
    name, family = "test-noisy", "laplace"

    def fit(self, task, budget, rng):
        np.log(np.zeros(1))  # RuntimeWarning: divide by zero
        return vibench.get_method("laplace").fit(task, budget, rng)


def test_warnings_during_fit_are_recorded_in_info_not_printed(fresh_registry, recwarn):
    get_registry().add_method(_Noisy())
    row = run_cell(_cell("test-noisy"))
    assert row["status"] == "ok"
    assert row["info"]["warnings"] == 1 and "divide by zero" in row["info"]["first_warning"]
    assert not [w for w in recwarn if "divide by zero" in str(w.message)]
