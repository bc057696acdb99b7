"""Run cells on a Dask distributed cluster: an existing scheduler, or a LocalCluster.

Each worker process keeps its own task and compiled-model caches (they live
in module state that ``run_cell`` uses). At most one cell per worker thread
is in flight, so a cell starts when it is submitted and its timeout can be
measured from there; a cell past its timeout is cancelled and the worker
running it is restarted through its nanny (its process is killed). Workers
started without a nanny cannot be restarted: the cell is still recorded as
``timeout``, and the worker finishes it in the background.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque

from .errors import VibenchError
from .executors import Executor
from .runner import error_row, one_line, run_cell

__all__ = ["DaskExecutor"]

CONNECT_TIMEOUT_S = 5


def _warm_up_plugin():
    """A WorkerPlugin that runs :func:`~vibench.runner.warm_up` on every worker, restarted ones too."""
    from distributed import WorkerPlugin

    class WarmUp(WorkerPlugin):
        name = "vibench-warm-up"

        def setup(self, worker):
            from vibench.runner import warm_up

            warm_up()

    return WarmUp()


class DaskExecutor(Executor):
    """Cells as Dask futures, one in flight per worker thread.

    Parameters
    ----------
    address : str
        A scheduler address (``tcp://host:8786``) or ``"local"`` for a
        :class:`distributed.LocalCluster` of ``jobs`` single-threaded workers.
    jobs : int, optional
        Workers of the local cluster (default: the number of CPUs).
    debug : bool
        Record tracebacks of failing cells.
    """

    def __init__(self, address: str, jobs: int | None = None, debug: bool = False):
        from distributed import Client, LocalCluster

        self.debug = debug
        self._cluster = None
        if address == "local":
            self._cluster = LocalCluster(
                n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR,
            )
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(address, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as exc:
                raise VibenchError(
                    f"cannot reach the Dask scheduler at {address!r} within {CONNECT_TIMEOUT_S} s ({one_line(exc)})"
                ) from None
        self.client.register_plugin(_warm_up_plugin())
        self.jobs = self._threads()
        if self.jobs < 1:
            self.close()
            raise VibenchError(f"the Dask scheduler at {address!r} has no workers")

    def _threads(self) -> int:
        return sum(self._workers().values())

    def _workers(self) -> dict[str, int]:
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return {addr: w.get("nthreads", 1) for addr, w in workers.items()}

    def _submit(self, cell, address):
        key = f"cell-{cell.key}-{time.time_ns()}"
        return self.client.submit(run_cell, cell, self.debug, pure=False, key=key,
                                  workers=[address], allow_other_workers=False)

    def run(self, cells, timeout=None):
        from distributed import wait

        pending = deque(cells)
        running: dict = {}  # future -> (cell, submitted at, worker address)
        workers = self._workers()
        while pending or running:
            load = {addr: 0 for addr in workers}
            for _, _, addr in running.values():
                load[addr] = load.get(addr, 0) + 1
            for addr, nthreads in workers.items():
                while pending and load[addr] < nthreads:
                    cell = pending.popleft()
                    running[self._submit(cell, addr)] = (cell, time.monotonic(), addr)
                    self._started(cell)
                    load[addr] += 1
            if not running:  # every worker gone: wait for the cluster to come back
                time.sleep(0.5)
                workers = self._workers()
                continue
            wait_for = None
            if timeout is not None:
                wait_for = max(0.05, min(t for _, t, _ in running.values()) + timeout - time.monotonic())
            try:
                done = wait(list(running), timeout=wait_for, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            for future in done:
                cell, _, _ = running.pop(future)
                if future.status == "finished":
                    yield future.result()
                else:
                    yield error_row(cell, "error", f"Dask worker failed: {one_line(future.exception())}")
            if timeout is not None:
                now = time.monotonic()
                for future, (cell, started, addr) in list(running.items()):
                    if now - started >= timeout:
                        running.pop(future)
                        self._kill(future, addr)
                        workers = self._workers()
                        yield error_row(cell, "timeout", f"cell exceeded the {timeout:g} s timeout; worker restarted",
                                        wall_s=now - started)

    def _kill(self, future, address: str) -> None:
        future.cancel()
        try:
            self.client.restart_workers([address], raise_for_error=False)
        except Exception:  # no nanny: cannot kill; the cell is recorded as timeout anyway
            pass

    def close(self):
        try:
            self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None
