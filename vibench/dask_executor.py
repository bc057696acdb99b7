"""Run cells on a Dask distributed cluster: an existing scheduler, or a LocalCluster.

Built on Dask's own machinery:

* every cell is one future, submitted at once, pinned to no worker: the
  scheduler places it on any worker with a free thread, including workers
  that join mid-run, and moves it when a worker leaves;
* on the worker the cell runs in a :class:`~vibench.executors.CellHost`, a
  long-lived process of that worker thread (its task and compiled-model
  caches survive from cell to cell). The cell's timeout starts there, when the
  cell starts, so time spent queued, or on a worker that died, never counts;
  a cell past its timeout kills only its host, and the worker goes on;
* a worker that dies (SIGKILL, the OOM killer) loses its cells to the
  scheduler, which runs them again elsewhere; a cell whose workers died more
  often than the scheduler allows (``distributed.scheduler.allowed-failures``,
  3 by default) is an ``error`` row "worker died ...". ``retries=`` covers a
  cell whose task itself failed (it cannot be unpickled on the worker, say);
* never hang: with no worker in the cluster (or no scheduler) for
  :data:`NO_WORKER_S` seconds, the cells not yet finished become ``error`` rows.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

from .errors import VibenchError
from .executors import CellHost, Executor, check_timeout
from .runner import error_row, one_line

__all__ = ["DaskExecutor", "run_on_worker", "NO_WORKER_S", "RETRIES"]

CONNECT_TIMEOUT_S = 5
#: Seconds without any worker (or scheduler) after which unfinished cells become error rows.
NO_WORKER_S = float(os.environ.get("VIBENCH_DASK_NO_WORKER_S", "120"))
#: Retries of a cell whose task failed on the worker (not its method: that is a row).
RETRIES = 2
_POLL_S = 1.0
_HOSTS = threading.local()


def run_on_worker(cell, debug: bool = False, timeout: float | None = None, draws_dir: str | None = None) -> dict:
    """What a Dask task runs: ``cell`` in this worker thread's :class:`CellHost`, timed from now.

    ``draws_dir`` (``--keep-draws``) is a path on the worker's file system: on a
    cluster without a shared file system the draws stay on the worker that ran the cell.
    """
    host = getattr(_HOSTS, "host", None)
    if host is None or host.debug != debug:
        host = _HOSTS.host = CellHost(debug=debug)
    row = host.run(cell, timeout, draws_dir)
    try:
        from distributed import get_worker

        row.setdefault("info", {})["dask_worker"] = get_worker().address
    except (ImportError, ValueError):
        pass
    return row


class DaskExecutor(Executor):
    """Cells as Dask futures, placed, retried and rebalanced by the scheduler.

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

    can_keep_draws = True

    def __init__(self, address: str, jobs: int | None = None, debug: bool = False):
        from distributed import Client, LocalCluster

        self.debug = debug
        self.address = address
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
        self.jobs = self._threads()
        if self.jobs < 1:
            self.close()
            raise VibenchError(f"the Dask scheduler at {address!r} has no workers")

    def _threads(self) -> int:
        """Worker threads in the cluster now (0 when the scheduler does not answer within 5 s)."""
        try:
            info = self.client.sync(self.client.scheduler.identity, n_workers=-1, callback_timeout=5)
        except Exception:
            return 0
        return sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())

    def run(self, cells, timeout=None):
        from distributed import wait

        timeout = check_timeout(timeout)
        run_id = uuid.uuid4().hex[:8]
        futures = {}
        for cell in cells:
            future = self.client.submit(run_on_worker, cell, self.debug, timeout,
                                        None if self.draws_dir is None else str(self.draws_dir), pure=False, retries=RETRIES,
                                        key=f"vibench-{cell.key}-{run_id}")
            futures[future] = cell
        pending = set(futures)
        alone_since = None
        while pending:
            try:
                done = wait(list(pending), timeout=_POLL_S, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            except Exception:  # the client lost its scheduler: count it as having no workers
                done = set()
            for future in done:
                pending.discard(future)
                yield self._row(future, futures[future])
            if done:
                alone_since = None
                continue
            if self._threads() > 0:
                alone_since = None
            elif alone_since is None:
                alone_since = time.monotonic()
            elif time.monotonic() - alone_since > NO_WORKER_S:
                for future in list(pending):
                    future.cancel()
                    yield error_row(futures[future], "error",
                                    f"no Dask worker (or scheduler) for {NO_WORKER_S:g} s; cell not run")
                pending.clear()

    @staticmethod
    def _row(future, cell) -> dict:
        if future.status == "finished":
            try:
                return future.result()
            except Exception as exc:  # noqa: BLE001 - the result could not be fetched
                return error_row(cell, "error", f"Dask could not return the row: {one_line(exc)}")
        try:
            exc = future.exception()
        except Exception as err:  # cancelled
            exc = err
        name = type(exc).__name__
        if name == "KilledWorker":
            return error_row(cell, "error", f"worker died while running this cell, every time it was tried ({one_line(exc)})")
        return error_row(cell, "error", f"Dask task failed after {RETRIES} retries: {one_line(exc)}")

    def close(self):
        try:
            self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None
