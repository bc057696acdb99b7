"""One cell: build the task, fit the method, evaluate, return a row. Never raises."""

from __future__ import annotations

import functools
import math
import os
import time
import traceback
import warnings
from typing import Any

import numpy as np

from .cell import Cell, size_label
from .errors import VibenchError
from .registry import get_registry
from .columns import METRIC_KEYS
from .task import Task

__all__ = ["blas_threads", "warm_up", "run_cell", "build_task", "check_cells", "error_row", "METRIC_KEYS"]



@functools.lru_cache(maxsize=16)
def _cached_task(name: str, params: tuple) -> Task:
    return get_registry().get_task(name, **dict(params))


def build_task(name: str, params: dict[str, Any]) -> Task:
    """The task at this size, built once per process and reused (counters reset by the runner)."""
    return _cached_task(name, tuple(sorted(params.items())))


def check_cells(cells: list[Cell]) -> None:
    """Fail fast, before any work, on unknown methods or tasks and impossible sizes.

    Raises
    ------
    VibenchError
        Naming the first problem found.
    """
    registry = get_registry()
    for name in dict.fromkeys(c.method for c in cells):
        registry.get_method(name)
    for task, params in dict.fromkeys((c.task, c.params) for c in cells):
        registry.task_factory(task)
        try:
            build_task(task, dict(params))
        except VibenchError as exc:
            raise VibenchError(f"task {task}({size_label(dict(params))}): {exc}") from None


def blas_threads() -> int:
    """BLAS threads per cell: ``VIBENCH_BLAS_THREADS``, default 1.

    One thread is the fair default: a method's small matrix products (an
    L-BFGS step, a d = 100 covariance) spend more time synchronizing BLAS
    threads than computing (mean-field VI at d = 100: 0.011 s with one
    OpenBLAS thread, 0.8 s with two on a 2-core machine), and cells running
    side by side in worker processes would oversubscribe the cores.
    """
    try:
        return max(1, int(os.environ.get("VIBENCH_BLAS_THREADS", "1")))
    except ValueError:
        raise VibenchError("VIBENCH_BLAS_THREADS must be a whole number") from None


def warm_up() -> None:
    """Limit BLAS threads and import what every cell needs, so no cell pays for it.

    Called by every executor before its first cell: in this process (serial),
    before worker processes fork, and on Dask workers when they join.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(blas_threads())
    import arviz  # noqa: F401  (1 s of imports, otherwise charged to the first cell)

    from .scoring import score  # noqa: F401

    get_registry()


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` — what an error row records."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def error_row(cell: Cell, status: str, error: str, **extra: Any) -> dict[str, Any]:
    """A row for a cell that produced no measurement (error, timeout, unsupported)."""
    row = _blank_row(cell)
    row.update(status=status, error=error, **extra)
    return row


def _blank_row(cell: Cell) -> dict[str, Any]:
    row: dict[str, Any] = cell.to_dict()
    row.update(
        key=cell.key, size=size_label(cell.params_dict), dim=None, family=None, status=None, error=None,
        wall_s=None, fit_s=None, setup_s=None, total_s=None, n_logp=None, n_grad=None, s_per_eval=None, **{k: None for k in METRIC_KEYS}, info={},
    )
    return row


def _jsonable_info(info: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in info.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[str(k)] = v
    return out


def _seconds(value: Any, at_most: float) -> float:
    """A method-reported ``setup_s``: a finite number in [0, at_most], else 0."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return min(max(value, 0.0), at_most) if math.isfinite(value) else 0.0


def run_cell(cell: Cell, debug: bool = False) -> dict[str, Any]:
    """Run one cell and return its row; failures become rows, never exceptions.

    Parameters
    ----------
    cell : Cell
    debug : bool
        Add the traceback of a failure to the row (``traceback`` column).

    Returns
    -------
    dict
        The row: :data:`vibench.store.ROW_COLUMNS` plus ``key``, ``size``, ``info``.
    """
    from .scoring.score import check_finite, evaluate

    start = time.perf_counter()
    row = _blank_row(cell)
    try:
        method = get_registry().get_method(cell.method)
        row["family"] = method.family
        task = build_task(cell.task, cell.params_dict)
        row["dim"] = task.dim
        supported = method.supports(task)
        if supported is not True:
            row.update(status="unsupported", error=str(supported or "not supported"))
            return row
        fit_rng, eval_rng = cell.rngs()
        with warnings.catch_warnings(record=True) as caught:  # kept in the row, not printed mid-run
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            prepare = getattr(method, "prepare", None)
            if callable(prepare):
                prepare(task)  # compile / JIT / imports: setup_s, never fit_s
            prepared_s = time.perf_counter() - t0
            task.log_density.reset_counts()
            t1 = time.perf_counter()
            approx = method.fit(task, cell.budget, fit_rng)
            fit_call_s = time.perf_counter() - t1
        info = dict(getattr(approx, "info", {}) or {})
        inner_setup = _seconds(info.pop("setup_s", None), fit_call_s)
        row["setup_s"] = prepared_s + inner_setup
        row["fit_s"] = fit_call_s - inner_setup
        row["total_s"] = prepared_s + fit_call_s
        if caught:
            info.setdefault("warnings", len(caught))
            info.setdefault("first_warning", f"{caught[0].category.__name__}: {caught[0].message}"[:200])
        row["n_logp"] = int(info.pop("n_logp", task.log_density.n_logp))
        row["n_grad"] = int(info.pop("n_grad", task.log_density.n_grad))
        row["info"] = _jsonable_info(info)
        check_finite(approx)  # NaN or inf: an error row saying so
        row["s_per_eval"] = row["fit_s"] / (row["n_logp"] + row["n_grad"]) if row["n_logp"] + row["n_grad"] else None
        row.update(evaluate(approx, task, eval_rng, family=method.family))
        row["status"] = "ok"
    except Exception as exc:  # the run goes on: the failure is the row
        row.update(status="error", error=one_line(exc))
        if debug:
            row["traceback"] = traceback.format_exc()
    finally:
        row["wall_s"] = time.perf_counter() - start
    return row
