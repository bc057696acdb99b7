"""One cell: build the task, fit the method, evaluate, return a row. Never raises.

Whatever the method does becomes its own row, never a crash of the run or a
change to another cell:

* any exception, ``sys.exit()``, ``os._exit()`` (refused while a cell runs) and
  a ``KeyboardInterrupt`` the method raises itself is an ``error`` row. A real
  Ctrl-C (SIGINT) still stops the run: it is re-raised;
* the method sees a *view* of the cached task whose ``truth`` is hidden (reading
  it is an error row, "method read task.truth") and whose fields, and its log
  density's attributes, are reset before every cell; the task's arrays (data,
  tags, truth) are read-only. So no method changes what a later cell sees;
* its stdout and stderr, at the file-descriptor level, go to a temporary file,
  and their tails are kept in ``info`` (``stdout_tail``, ``stderr_tail``);
* a truth that fails its checks (non-finite moments, a covariance that is not
  positive semi-definite), a non-finite metric or an impossible evaluation
  count is an ``error`` row, never an ``ok`` row with NaN in it.

With ``draws_dir`` (``vibench run --keep-draws``) an ``ok`` cell also saves its
approximation's draws as InferenceData NetCDF (:mod:`vibench.draws_io`) in the
process that ran it; a cell that fails has no file.

The guards live beside this module: :mod:`vibench.truth_guard` (the hidden
truth, read-only arrays, the truth's checks) and :mod:`vibench.isolation`
(output capture, the ``os._exit`` and SIGINT guard, the one-line error);
their public names are importable from here too.
"""

from __future__ import annotations

import functools
import math
import os
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import console
from .cell import Cell, size_label
from .draws_io import draws_file, save_draws
from .errors import VibenchError
from .registry import get_registry
from .columns import METRIC_KEYS
from .isolation import TAIL_CHARS, _INTERRUPTED, _base_exception_message, _captured, _ExitCalled, _guarded, one_line
from .jsonrow import jsonable
from .method import Method
from .task import Task
from .truth_guard import HiddenTruth, TruthAccessError, check_truth, fit_view, freeze  # noqa: F401  (re-exported)

__all__ = ["blas_threads", "warm_up", "run_cell", "build_task", "check_cells", "error_row", "METRIC_KEYS",
           "HiddenTruth", "TruthAccessError", "fit_view", "check_truth", "freeze", "TAIL_CHARS"]

#: Metrics whose non-finite value makes the row an error (the yardstick and the KL).
CHECKED_METRICS = ("mean_err", "sd_err", "dist", "kl")


@dataclass
class _Entry:
    """A cached task, the view methods see, and what is wrong with its truth (if anything)."""

    task: Task
    view: Task
    truth_problem: str | None
    density_state: dict[str, Any]

    def reset(self) -> Task:
        """The view, with the task's fields and its density's attributes as they were built."""
        state = getattr(self.task.log_density, "__dict__", None)
        if state is not None:
            state.update(self.density_state)
        return fit_view(self.task, self.view)


@functools.lru_cache(maxsize=16)
def _cached_entry(name: str, params: tuple) -> _Entry:
    task = get_registry().get_task(name, **dict(params))
    freeze(task.data)
    freeze(task.tags)
    truth = getattr(task, "truth", None)
    lazy = getattr(truth, "precision", None) is not None  # a banded truth builds its cov only on demand
    for attr in ("mean", "sd", "draws", "mean_se", "sd_se") + (() if lazy else ("cov",)):
        freeze(getattr(truth, attr, None))
    density_state = dict(getattr(task.log_density, "__dict__", {}))
    return _Entry(task, fit_view(task), check_truth(truth, task.dim), density_state)


def _cached_task(name: str, params: tuple) -> Task:
    return _cached_entry(name, params).task


def build_task(name: str, params: dict[str, Any]) -> Task:
    """The task at this size, built once per process and reused (counters reset by the runner)."""
    return _cached_task(name, tuple(sorted(params.items())))


def check_cells(cells: list[Cell]) -> None:
    """Fail fast, before any work, on unknown methods or tasks and impossible sizes, building no task
    that has a cheap size check.

    A task registered with a check (:meth:`~vibench.registry.Registry.add_task`'s
    ``validate``: every built-in task but ``logistic_regression``) is checked by its
    signature and that check, and built only where its cells run: an error found
    only then is an ``error`` row for each of its cells, and the run goes on. A task
    without one is built here (once per process: the cells reuse it).

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
        what = "building" if not registry.has_check(task) else "checking"
        try:
            registry.check_task(task, **dict(params))
            if not registry.has_check(task):
                build_task(task, dict(params))
        except VibenchError as exc:
            raise VibenchError(f"task {task}({size_label(dict(params))}): {exc}") from None
        except Exception as exc:  # a factory's bug is still the user's problem to see in one line
            raise VibenchError(f"task {task}({size_label(dict(params))}): {what} it failed: {one_line(exc)}") \
                from None


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
    """Limit BLAS threads and import what every cell's harness needs, so no cell's fit pays for it.

    Called by every executor before its first cell: in this process (serial),
    before worker processes fork, and on Dask workers when they join. The
    scoring's diagnostics library (``arviz_stats.base``, with xarray) is not
    imported here: :mod:`vibench.scoring` imports it on first use, inside the
    first cell's ``score_s``, so the measurement's cost is counted as scoring
    (issue 12 sets scoring a target of its own) and never as a method's fit.
    """
    from threadpoolctl import threadpool_limits

    from .scoring import score  # noqa: F401

    get_registry()
    # last: the imports above load scipy's own OpenBLAS with its default thread count, which a limit
    # set before them would miss (a d = 10 Laplace fit took 0.35 s instead of 0.002 s)
    threadpool_limits(blas_threads())


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


def _count(info: dict[str, Any], key: str, counted: int) -> int:
    """``info[key]`` (removed) if the method reported it, else the task's own count; it must be an integer >= 0."""
    value = info.pop(key, counted)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        if isinstance(value, (float, np.floating)) and float(value).is_integer() and value >= 0:
            return int(value)
        raise ValueError(f"info[{key!r}] must be a non-negative integer count, got {value!r}")
    return int(value)


def _seconds(value: Any, at_most: float) -> float:
    """A method-reported ``setup_s``: a finite number in [0, at_most], else 0."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return min(max(value, 0.0), at_most) if math.isfinite(value) else 0.0


def run_cell(cell: Cell, debug: bool = False, draws_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Run one cell and return its row; failures become rows, never exceptions.

    A real Ctrl-C (SIGINT while the cell runs in the main thread) is the one
    exception: it is re-raised as ``KeyboardInterrupt`` so the run stops.

    Parameters
    ----------
    cell : Cell
    debug : bool
        Add the traceback of a failure to the row (``traceback`` column).
    draws_dir : path, optional
        Save an ``ok`` cell's draws there (:func:`vibench.draws_io.draws_file`); the row's
        ``info`` names the file (``draws_file``), or why it could not be
        written (``draws_error``; the row stays ``ok``).

    Returns
    -------
    dict
        The row: :data:`vibench.store.ROW_COLUMNS` plus ``key``, ``size``, ``info``.
    """
    start = time.perf_counter()
    row = _blank_row(cell)
    output: dict[str, Any] = {}
    view = None
    kept: dict[str, Any] = {}
    ended = None
    try:
        with _captured(output), _guarded():
            view = _run(cell, row, kept)
            if view is not None and view.truth.was_read:
                raise TruthAccessError("method read task.truth (and caught the error): a method must not use the "
                                       "truth it is scored against")
            ended = time.perf_counter()  # saving the draws is not the cell's time
            if draws_dir is not None and row["status"] == "ok":
                try:
                    path = save_draws(kept["approx"], kept["task"], cell, draws_file(draws_dir, cell))
                    row["info"]["draws_file"] = f"{Path(draws_dir).name}/{path.name}"
                except Exception as exc:  # noqa: BLE001 - the cell's measurement stands without its draws
                    row["info"]["draws_error"] = one_line(exc)[:200]
    except BaseException as exc:  # the run goes on: the failure is the row
        if isinstance(exc, KeyboardInterrupt) and _INTERRUPTED.is_set():
            raise  # the user's Ctrl-C
        if not isinstance(exc, Exception) and not isinstance(exc, (SystemExit, KeyboardInterrupt, _ExitCalled)):
            raise  # GeneratorExit and the like are not a method's doing
        row.update(status="error", error=_base_exception_message(exc))
        if debug:
            row["traceback"] = traceback.format_exc()
    finally:
        row["wall_s"] = (ended or time.perf_counter()) - start
    if output:
        row["info"] = {**(row.get("info") or {}), **output}
    return row


def _run(cell: Cell, row: dict[str, Any], kept: dict[str, Any] | None = None) -> Task | None:
    """The body of :func:`run_cell`: fills ``row``; returns the view the method saw (or ``None``).

    ``kept`` receives the scored approximation and the task (``approx``, ``task``).
    """
    from .scoring.score import check_finite, evaluate

    method = get_registry().get_method(cell.method)
    row["family"] = method.family
    console.phase(cell, "building task")  # what the progress bar shows (a serial run's only)
    entry = _cached_entry(cell.task, cell.params)
    task = entry.task
    row["dim"] = task.dim
    if entry.truth_problem:
        raise ValueError(f"the truth of {task.label} fails its checks: {entry.truth_problem}")
    view = entry.reset()
    supports = getattr(method, "supports", None)
    supported = supports(view) if callable(supports) else True
    if supported is not True:
        row.update(status="unsupported", error=str(supported or "not supported"))
        return view
    fit_rng, eval_rng = cell.rngs()
    with warnings.catch_warnings(record=True) as caught:  # kept in the row, not printed mid-run
        warnings.simplefilter("always")
        prepare = getattr(method, "prepare", None)
        if callable(prepare) and getattr(prepare, "__func__", None) is not Method.prepare:
            console.phase(cell, "compiling")
        t0 = time.perf_counter()
        if callable(prepare):
            prepare(view)  # compile / JIT / imports: setup_s, never fit_s
        prepared_s = time.perf_counter() - t0
        console.phase(cell, "fitting")
        task.log_density.reset_counts()
        t1 = time.perf_counter()
        approx = method.fit(view, cell.budget, fit_rng)
        fit_call_s = time.perf_counter() - t1
    if view.truth.was_read:
        return view
    info = dict(getattr(approx, "info", {}) or {})
    inner_setup = _seconds(info.pop("setup_s", None), fit_call_s)
    row["setup_s"] = prepared_s + inner_setup
    row["fit_s"] = fit_call_s - inner_setup
    row["total_s"] = prepared_s + fit_call_s
    if caught:
        info.setdefault("warnings", len(caught))
        info.setdefault("first_warning", f"{caught[0].category.__name__}: {caught[0].message}"[:200])
    nonfinite: list[str] = []
    row["info"] = jsonable(info, "info", nonfinite)
    row["n_logp"] = _count(info, "n_logp", task.log_density.n_logp)
    row["n_grad"] = _count(info, "n_grad", task.log_density.n_grad)
    row["info"].pop("n_logp", None)
    row["info"].pop("n_grad", None)
    if nonfinite:
        row["nonfinite"] = nonfinite
    check_finite(approx)  # NaN or inf: an error row saying so
    row["s_per_eval"] = row["fit_s"] / (row["n_logp"] + row["n_grad"]) if row["n_logp"] + row["n_grad"] else None
    console.phase(cell, "scoring")
    with warnings.catch_warnings(record=True) as scoring:  # overflow on a wild approximation, say
        warnings.simplefilter("always")
        t2 = time.perf_counter()
        row.update(evaluate(approx, task, eval_rng, family=method.family))
        row["score_s"] = time.perf_counter() - t2  # the yardstick's cost: neither the method's nor overhead
    if scoring:
        row["info"]["first_scoring_warning"] = f"{scoring[0].category.__name__}: {scoring[0].message}"[:200]
    bad = [k for k in CHECKED_METRICS if isinstance(row.get(k), (float, np.floating)) and not math.isfinite(row[k])]
    if bad:
        raise ValueError(f"non-finite {', '.join(bad)} from scoring: the approximation or the truth is degenerate")
    row["status"] = "ok"
    if kept is not None:
        kept.update(approx=approx, task=task)
    return view
