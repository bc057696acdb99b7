"""A whole run: suite -> cells -> executor -> store, with resume."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import store
from .cell import Cell
from .errors import VibenchError
from .executors import Executor
from .runner import check_cells
from .suite import Suite

__all__ = ["run_suite", "plan"]


def plan(suite: Suite, resume: str | Path | None = None) -> tuple[list[Cell], list[Cell]]:
    """All of a suite's cells, and those still to run (all, or those missing from ``resume``)."""
    cells = suite.cells()
    if resume is None:
        return cells, cells
    done = store.done_keys(store.read_rows(resume))
    return cells, [c for c in cells if c.key not in done]


def run_suite(
    suite: Suite,
    executor: Executor,
    out: str | Path = "results",
    resume: str | Path | None = None,
    timeout: float | None = None,
    on_start: Callable[[Path, int, int], None] | None = None,
    on_row: Callable[[dict], None] | None = None,
) -> Path:
    """Run every missing cell of ``suite`` and append each row as it finishes.

    Parameters
    ----------
    suite : Suite
    executor : Executor
    out : path
        Parent folder of the new run directory (ignored with ``resume``).
    resume : path, optional
        An existing run directory: only its missing cells run, appended to it.
    timeout : float, optional
        Per-cell timeout in seconds (overrides the suite's).
    on_start : callable, optional
        ``on_start(run_dir, n_total, n_todo)`` before the first cell.
    on_row : callable, optional
        ``on_row(row)`` after each row is stored.

    Returns
    -------
    Path
        The run directory.
    """
    all_cells, todo = plan(suite, resume)
    check_cells(todo)
    if resume is not None:
        run_dir = Path(resume)
        meta = store.read_run_json(run_dir)
        meta.setdefault("resumed", []).append(datetime.now(timezone.utc).isoformat(timespec="seconds"))
    else:
        run_dir = store.create_run_dir(out, suite.name)
        meta = store.run_metadata(suite.to_dict())
    meta["executor"] = {"kind": type(executor).__name__, "jobs": executor.jobs}
    meta["n_cells"] = len(all_cells)
    try:
        store.write_run_json(run_dir, meta)
    except OSError as exc:
        raise VibenchError(f"cannot write to run directory {str(run_dir)!r}: {exc.strerror or exc}") from None
    if on_start:
        on_start(run_dir, len(all_cells), len(todo))
    timeout = timeout if timeout is not None else suite.timeout
    try:
        for row in executor.run(todo, timeout=timeout):
            store.append_row(run_dir, row)
            if on_row:
                on_row(row)
    finally:
        executor.close()
    meta["ended"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    store.write_run_json(run_dir, meta)
    return run_dir
