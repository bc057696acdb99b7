"""Executors: where cells run. Serial, local worker processes, or Dask (:mod:`vibench.dask_executor`).

All executors take the same cells and yield the same rows (``run_cell``'s),
in order of completion, so the rest of a run does not know which ran them.
This module holds the protocol (:class:`Executor`) and the worker-process
machinery both local processes and Dask workers use (:class:`CellHost`), so
neither executor imports the other.

Process workers are long-lived, so their task and compiled-model caches
survive from cell to cell. A cell's timeout starts when the worker receives
it; a worker whose cell passes it is killed (not waited for), the cell becomes
a ``timeout`` row, and a fresh worker takes its place. A worker that dies
(``os._exit`` in C code, a segfault, the OOM killer) becomes an ``error`` row
naming its exit code or signal. Workers ignore SIGINT (the parent handles
Ctrl-C and stops them) and die with their parent, even a SIGKILLed one.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Iterable, Iterator

from .cell import Cell
from .errors import VibenchError
from .runner import error_row, one_line, run_cell, warm_up

__all__ = ["Executor", "SerialExecutor", "ProcessExecutor", "CellHost", "make_executor", "describe_exit",
           "check_timeout"]

#: Seconds a new worker process may take to import vibench and warm up before it counts as failed.
STARTUP_TIMEOUT_S = 300
_REAL_EXIT = os._exit


def check_timeout(timeout: float | None, what: str = "timeout") -> float | None:
    """``timeout`` if it is ``None`` or a finite number > 0; else a :class:`VibenchError`."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout == timeout \
            or timeout in (float("inf"), float("-inf")) or timeout <= 0:
        raise VibenchError(f"{what} must be > 0 and finite (seconds), got {timeout!r}")
    return float(timeout)


class Executor:
    """Runs cells and yields their rows as they finish."""

    jobs: int = 1
    #: Called with each cell as it starts (the progress bar shows it); ``None`` for nothing.
    on_cell_start = None
    #: Whether the executor's workers can save each cell's draws (``--keep-draws``).
    can_keep_draws: bool = False
    #: Where each ``ok`` cell saves its draws (set by :func:`vibench.session.run_suite`); ``None``: nowhere.
    draws_dir = None

    def _started(self, cell: Cell) -> None:
        if self.on_cell_start is not None:
            self.on_cell_start(cell)

    def run(self, cells: Iterable[Cell], timeout: float | None = None) -> Iterator[dict]:
        """Yield one row per cell, in order of completion."""
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (idempotent)."""


class SerialExecutor(Executor):
    """In this process, one cell after another. Cannot enforce a timeout.

    ``run_cell`` isolates the run from what a method can do in Python
    (exceptions, ``sys.exit``, ``os._exit``, ``KeyboardInterrupt``, output);
    a segfault or a ``SIGKILL`` still ends the process: use ``--jobs 1`` for
    a worker process that can die alone.
    """

    can_keep_draws = True

    def __init__(self, debug: bool = False):
        self.debug = debug

    def run(self, cells, timeout=None):
        from .isolation import marking_sigint

        warm_up()
        with marking_sigint():
            for cell in cells:
                self._started(cell)
                yield run_cell(cell, debug=self.debug, draws_dir=self.draws_dir)


def describe_exit(code: int | None) -> str:
    """``exit code 3``, ``killed by SIGKILL``, or ``exit code unknown``."""
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _die_with_parent(parent_pid: int, pdeathsig: bool) -> None:
    """End this worker when its parent ends, even by SIGKILL (Linux: the kernel; elsewhere: a poll)."""
    if pdeathsig and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        _REAL_EXIT(1)

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                _REAL_EXIT(1)

    threading.Thread(target=watch, name="vibench-parent-watch", daemon=True).start()


def _message(cell: Cell, draws_dir) -> object:
    """What a worker receives for one cell: the cell, or ``(cell, draws_dir)`` when draws are kept."""
    return cell if draws_dir is None else (cell, str(draws_dir))


def _serve(conn: Connection, debug: bool) -> None:
    """A worker's loop: announce readiness, then run each cell received (see :func:`_message`) until ``None`` or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    warm_up()
    conn.send("ready")
    while True:
        try:
            cell = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if cell is None:
            return
        cell, draws_dir = cell if isinstance(cell, tuple) else (cell, None)
        try:
            conn.send(run_cell(cell, debug=debug, draws_dir=draws_dir))
        except (BrokenPipeError, OSError):
            return


def _worker_main(conn, debug: bool, parent_pid: int, pdeathsig: bool) -> None:
    """Entry point of a forked worker process."""
    _die_with_parent(parent_pid, pdeathsig)
    _serve(conn, debug)


def _host_main(fd: int, debug: bool, parent_pid: int) -> None:
    """Entry point of a :class:`CellHost` child (a fresh interpreter talking over an inherited socket)."""
    _die_with_parent(parent_pid, pdeathsig=False)
    _serve(Connection(fd), debug)


@dataclass
class _Slot:
    process: mp.Process
    conn: object
    cell: Cell | None = None
    started: float = 0.0


def _await_ready(conn, alive, timeout: float) -> str | None:
    """Wait for a new worker's ``"ready"``; ``None`` when it came, else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn.poll(0.2):
            try:
                return None if conn.recv() == "ready" else "sent something other than 'ready'"
            except (EOFError, OSError):
                return "died while starting"
        if not alive():
            return "died while starting"
    return f"did not start within {timeout:g} s"


class ProcessExecutor(Executor):
    """``jobs`` long-lived worker processes; per-cell timeout by killing the worker.

    Parameters
    ----------
    jobs : int
        Number of worker processes (>= 1).
    debug : bool
        Record tracebacks of failing cells.
    """

    can_keep_draws = True

    def __init__(self, jobs: int, debug: bool = False):
        if jobs < 1:
            raise VibenchError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self.debug = debug
        self._ctx = mp.get_context("fork")
        self._slots: list[_Slot] = []

    def _spawn(self) -> _Slot:
        parent, child = self._ctx.Pipe()
        pdeathsig = threading.current_thread() is threading.main_thread()
        proc = self._ctx.Process(target=_worker_main, args=(child, self.debug, os.getpid(), pdeathsig), daemon=True)
        proc.start()
        child.close()
        problem = _await_ready(parent, proc.is_alive, STARTUP_TIMEOUT_S)
        if problem:
            proc.kill()
            proc.join(5)
            raise RuntimeError(f"a vibench worker process {problem} ({describe_exit(proc.exitcode)})")
        return _Slot(proc, parent)

    def _kill(self, slot: _Slot) -> None:
        slot.process.kill()
        slot.process.join(5)
        slot.conn.close()

    def _died(self, slot: _Slot) -> dict:
        slot.process.join(5)  # reap it, or its exit code is not known yet
        return error_row(slot.cell, "error", f"worker process died ({describe_exit(slot.process.exitcode)})",
                         wall_s=time.monotonic() - slot.started)

    def run(self, cells, timeout=None):
        timeout = check_timeout(timeout)
        pending = deque(cells)
        if not self._slots:
            warm_up()  # once, before forking: the workers inherit the imports and the BLAS limit
        try:
            while len(self._slots) < min(self.jobs, max(len(pending), 1)):
                self._slots.append(self._spawn())
            while pending or any(s.cell for s in self._slots):
                for slot in self._slots:
                    if slot.cell is None and pending:
                        slot.cell, slot.started = pending.popleft(), time.monotonic()
                        slot.conn.send(_message(slot.cell, self.draws_dir))
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
                            row = self._died(slot)
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
            except (OSError, BrokenPipeError, ValueError):
                pass
        for slot in self._slots:
            slot.process.join(2)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(2)
        self._slots = []


class CellHost:
    """One long-lived worker process (a fresh interpreter) that runs cells one at a time.

    What a Dask worker thread uses to run a cell: the cell's timeout starts
    when the host receives it, a cell past it kills the host (a new one starts
    for the next cell), and a host that dies becomes an ``error`` row with its
    exit code, while the Dask worker itself lives on. Started with
    ``subprocess`` rather than ``multiprocessing``, which refuses to start
    children of a daemonic process (a Dask worker under a nanny is one). The
    host dies with the process that started it.

    Parameters
    ----------
    debug : bool
        Record tracebacks of failing cells.
    """

    def __init__(self, debug: bool = False):
        self.debug = debug
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None

    def _start(self) -> None:
        import socket

        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [*sys.path, env.get("PYTHONPATH", "")] if p)
        code = (f"from vibench.executors import _host_main; "
                f"_host_main({theirs.fileno()}, {self.debug!r}, {os.getpid()})")
        self._proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=(theirs.fileno(),), env=env,
                                      stdin=subprocess.DEVNULL)
        theirs.close()
        self._conn = Connection(ours.detach())
        problem = _await_ready(self._conn, lambda: self._proc.poll() is None, STARTUP_TIMEOUT_S)
        if problem:
            code = self._exit_code()
            self.close()
            raise RuntimeError(f"the vibench cell process {problem} ({describe_exit(code)})")

    def _exit_code(self) -> int | None:
        if self._proc is None:
            return None
        try:
            return self._proc.wait(5)
        except subprocess.TimeoutExpired:
            return None

    def run(self, cell: Cell, timeout: float | None = None, draws_dir=None) -> dict:
        """Run ``cell`` in the host and return its row (its draws saved in ``draws_dir``, if given); never raises."""
        try:
            if self._proc is None or self._proc.poll() is not None:
                self.close()
                self._start()
        except Exception as exc:
            return error_row(cell, "error", f"could not start a worker process: {one_line(exc)}")
        started = time.monotonic()
        try:
            self._conn.send(_message(cell, draws_dir))
            if self._conn.poll(timeout):
                return self._conn.recv()
        except (EOFError, OSError, pickle.PickleError):
            code = self._exit_code()
            self.close()
            return error_row(cell, "error", f"worker process died ({describe_exit(code)})",
                             wall_s=time.monotonic() - started)
        self.close()
        return error_row(cell, "timeout", f"cell exceeded the {timeout:g} s timeout; worker process killed",
                         wall_s=time.monotonic() - started)

    def close(self) -> None:
        """Kill the host process (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None


def make_executor(jobs: int | None = None, dask: str | None = None, timeout: float | None = None,
                  debug: bool = False) -> Executor:
    """The executor the command line asked for.

    ``--dask`` wins; otherwise ``--jobs N`` worker processes; otherwise serial
    in this process, unless a timeout is set (a timeout needs a process to kill).
    """
    if jobs is not None and jobs < 1:
        raise VibenchError(f"--jobs must be >= 1, got {jobs}")
    timeout = check_timeout(timeout)
    if dask:
        from .dask_executor import DaskExecutor

        return DaskExecutor(dask, jobs=jobs, debug=debug)
    if jobs and jobs > 1 or timeout is not None:
        return ProcessExecutor(jobs or 1, debug=debug)
    return SerialExecutor(debug=debug)
