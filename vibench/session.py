"""A whole run: suite -> cells -> executor -> store, with resume."""

from __future__ import annotations

import warnings
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


def plan(suite: Suite, resume: str | Path | None = None, retry_failed: bool = False) -> tuple[list[Cell], list[Cell]]:
    """All of a suite's cells, and those still to run (all, or those missing from ``resume``; with
    ``retry_failed``, also those whose row is an ``error`` or a ``timeout``)."""
    cells = suite.cells()
    if resume is None:
        return cells, cells
    done = store.done_keys(store.read_rows(resume), retry_failed=retry_failed)
    return cells, [c for c in cells if c.key not in done]


def check_resumable(suite: Suite, run_dir: Path, meta: dict) -> None:
    """Refuse to resume ``run_dir`` with another suite, or with the same suite's content changed.

    The run must have been made from a suite of the same name and content
    (:attr:`Suite.digest`; ``--tasks``, ``--methods`` and ``--seed`` may
    differ), and every row it holds must be a cell of this suite.

    Raises
    ------
    VibenchError
    """
    stored = meta.get("suite") or {}
    where = f"--resume {str(run_dir)!r}"
    if stored.get("name") != suite.name:
        raise VibenchError(f"{where} is a run of suite {stored.get('name')!r}, not {suite.name!r}")
    if stored.get("digest") and suite.digest:
        if stored["digest"] != suite.digest:
            raise VibenchError(f"{where}: suite {suite.name!r} changed since that run (tasks, methods, budgets, "
                               "seeds, timeout or thresholds); start a new run")
        return
    keys = {c.key for c in suite.cells()}
    foreign = [r for r in store.read_rows(run_dir) if r["key"] not in keys]
    if foreign:
        raise VibenchError(f"{where} holds {len(foreign)} rows that are not cells of suite {suite.name!r} "
                           f"(first: {foreign[0].get('task')} {foreign[0].get('method')}); start a new run")


def run_suite(
    suite: Suite,
    executor: Executor,
    out: str | Path = "results",
    resume: str | Path | None = None,
    timeout: float | None = None,
    on_start: Callable[[Path, int, int], None] | None = None,
    on_row: Callable[[dict], None] | None = None,
    retry_failed: bool = False,
    keep_draws: bool = False,
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
    retry_failed : bool
        With ``resume``: run ``error`` and ``timeout`` cells again too (their
        old rows move to ``cells.retried.jsonl``).
    keep_draws : bool
        Each cell that ends ``ok`` saves its approximation's draws as
        InferenceData NetCDF in ``RUN_DIR/draws/`` (see
        :func:`vibench.draws_io.draws_file`), written by the process that ran it.

    Returns
    -------
    Path
        The run directory; its ``results.parquet`` is written when the run ends.
    """
    if retry_failed and resume is None:
        raise VibenchError("--retry-failed needs --resume RUN_DIR")
    if keep_draws and not getattr(executor, "can_keep_draws", False):
        executor.close()
        raise VibenchError(f"--keep-draws is not supported with the {type(executor).__name__} (use the default "
                           "executor or --jobs N)")
    if resume is not None:
        run_dir = Path(resume)
        meta = store.read_run_json(run_dir)
        check_resumable(suite, run_dir, meta)
    all_cells, todo = plan(suite, resume, retry_failed)
    check_cells(todo)
    if resume is not None:
        store.repair(run_dir)  # a torn last line must not glue onto the next row
        if retry_failed:
            store.drop_rows(run_dir, {c.key for c in todo})
        if not isinstance(meta.get("resumed"), list):
            meta["resumed"] = []
        meta["resumed"].append(datetime.now(timezone.utc).isoformat(timespec="seconds"))
    else:
        run_dir = store.create_run_dir(out, suite.name)
        meta = store.run_metadata(suite.to_dict())
    meta["executor"] = {"kind": type(executor).__name__, "jobs": executor.jobs}
    if keep_draws:
        executor.draws_dir = Path(run_dir) / "draws"
        executor.draws_dir.mkdir(exist_ok=True)
        meta["keep_draws"] = True
    if resume is not None:  # the full suite may now be run into a directory started with filters
        stored = store.done_keys(store.read_rows(run_dir))
        if len(all_cells) >= int(meta.get("n_cells") or 0):
            meta["suite"] = suite.to_dict()
        meta["n_cells"] = len(stored | {c.key for c in all_cells})
    else:
        meta["n_cells"] = len(all_cells)
    try:
        store.write_run_json(run_dir, meta)
    except OSError as exc:
        raise VibenchError(f"cannot write to run directory {str(run_dir)!r}: {exc.strerror or exc}") from None
    if on_start:
        on_start(run_dir, len(all_cells), len(todo))
    timeout = timeout if timeout is not None else suite.timeout
    try:
        with store.RowWriter(Path(run_dir) / store.CELLS) as writer:  # rows written at once, fsynced in batches
            for row in executor.run(todo, timeout=timeout):
                writer.write(row)
                if on_row:
                    on_row(row)
    finally:
        executor.close()
    meta["ended"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    store.write_run_json(run_dir, meta)
    try:
        store.write_parquet(run_dir)
    except Exception as exc:  # noqa: BLE001 - the run is complete in cells.jsonl; the Parquet copy is a convenience
        warnings.warn(f"{run_dir}: results.parquet not written ({type(exc).__name__}: {exc}); "
                      "cells.jsonl holds every row", stacklevel=2)
    return run_dir
