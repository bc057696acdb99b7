"""Executors: where cells run. Serial, local worker processes, or Dask.

All executors take the same cells and yield the same rows (``run_cell``'s),
in order of completion, so the rest of a run does not know which ran them.
Process workers are long-lived, so their task and compiled-model caches
survive from cell to cell; a worker whose cell passes the timeout is killed
(not waited for), the cell becomes a ``timeout`` row, and a fresh worker
takes its place.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Iterable, Iterator

from .cell import Cell
from .errors import VibenchError
from .runner import error_row, run_cell, warm_up

__all__ = ["Executor", "SerialExecutor", "ProcessExecutor", "make_executor"]


class Executor:
    """Runs cells and yields their rows as they finish."""

    jobs: int = 1
    #: Called with each cell as it starts (the progress bar shows it); ``None`` for nothing.
    on_cell_start = None

    def _started(self, cell: Cell) -> None:
        if self.on_cell_start is not None:
            self.on_cell_start(cell)

    def run(self, cells: Iterable[Cell], timeout: float | None = None) -> Iterator[dict]:
        """Yield one row per cell, in order of completion."""
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (idempotent)."""


class SerialExecutor(Executor):
    """In this process, one cell after another. Cannot enforce a timeout."""

    def __init__(self, debug: bool = False):
        self.debug = debug

    def run(self, cells, timeout=None):
        warm_up()
        for cell in cells:
            self._started(cell)
            yield run_cell(cell, debug=self.debug)


def _worker_main(conn, debug: bool) -> None:
    while True:
        try:
            cell = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if cell is None:
            return
        conn.send(run_cell(cell, debug=debug))


@dataclass
class _Slot:
    process: mp.Process
    conn: object
    cell: Cell | None = None
    started: float = 0.0


class ProcessExecutor(Executor):
    """``jobs`` long-lived worker processes; per-cell timeout by killing the worker.

    Parameters
    ----------
    jobs : int
        Number of worker processes (>= 1).
    debug : bool
        Record tracebacks of failing cells.
    """

    def __init__(self, jobs: int, debug: bool = False):
        if jobs < 1:
            raise VibenchError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self.debug = debug
        self._ctx = mp.get_context("fork")
        self._slots: list[_Slot] = []

    def _spawn(self) -> _Slot:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_main, args=(child, self.debug), daemon=True)
        proc.start()
        child.close()
        return _Slot(proc, parent)

    def _kill(self, slot: _Slot) -> None:
        slot.process.kill()
        slot.process.join(5)
        slot.conn.close()

    def run(self, cells, timeout=None):
        pending = deque(cells)
        if not self._slots:
            warm_up()  # once, before forking: the workers inherit the imports and the BLAS limit
        while len(self._slots) < min(self.jobs, max(len(pending), 1)):
            self._slots.append(self._spawn())
        try:
            while pending or any(s.cell for s in self._slots):
                for slot in self._slots:
                    if slot.cell is None and pending:
                        slot.cell, slot.started = pending.popleft(), time.monotonic()
                        slot.conn.send(slot.cell)
                        self._started(slot.cell)
                busy = [s for s in self._slots if s.cell is not None]
                wait_for = None
                if timeout is not None:
                    wait_for = max(0.0, min(s.started + timeout for s in busy) - time.monotonic())
                ready = wait([s.conn for s in busy], timeout=wait_for)
                for i, slot in enumerate(self._slots):
                    if slot.cell is None:
                        continue
                    if slot.conn in ready:
                        try:
                            row = slot.conn.recv()
                        except (EOFError, OSError):
                            code = slot.process.exitcode
                            row = error_row(slot.cell, "error", f"worker process died (exit code {code})")
                            self._kill(slot)
                            self._slots[i] = slot = self._spawn()
                        slot.cell = None
                        yield row
                    elif timeout is not None and time.monotonic() - slot.started >= timeout:
                        row = error_row(slot.cell, "timeout", f"cell exceeded the {timeout:g} s timeout; worker killed",
                                        wall_s=time.monotonic() - slot.started)
                        self._kill(slot)
                        self._slots[i] = self._spawn()
                        yield row
        except BaseException:
            self.close()
            raise

    def close(self):
        for slot in self._slots:
            try:
                slot.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for slot in self._slots:
            slot.process.join(2)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(2)
        self._slots = []


def make_executor(jobs: int | None = None, dask: str | None = None, timeout: float | None = None,
                  debug: bool = False) -> Executor:
    """The executor the command line asked for.

    ``--dask`` wins; otherwise ``--jobs N`` worker processes; otherwise serial
    in this process, unless a timeout is set (a timeout needs a process to kill).
    """
    if jobs is not None and jobs < 1:
        raise VibenchError(f"--jobs must be >= 1, got {jobs}")
    if dask:
        from .dask_executor import DaskExecutor

        return DaskExecutor(dask, jobs=jobs, debug=debug)
    if jobs and jobs > 1 or timeout is not None:
        return ProcessExecutor(jobs or 1, debug=debug)
    return SerialExecutor(debug=debug)
