"""``RowWriter``: rows appended to ``cells.jsonl``, each written at once, fsynced in batches.

See :mod:`vibench.store` for what a crash or a power loss can lose.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from .jsonrow import dumps_row

__all__ = ["RowWriter", "FSYNC_ROWS", "FSYNC_SECONDS"]

#: :class:`RowWriter` fsyncs once this many rows are pending ...
FSYNC_ROWS = 50
#: ... or this many seconds after the first pending row, whichever comes first (and when it closes).
FSYNC_SECONDS = 5.0


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (a regular file takes it in one call)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class RowWriter:
    """Appends rows to a run's ``cells.jsonl``: each one written at once, fsynced in batches.

    Every row is one ``write`` of one whole line on an ``O_APPEND``
    descriptor, so it is in the kernel (safe from a crash of this process) as
    soon as :meth:`write` returns. ``fsync`` runs once ``every_rows`` rows are
    pending, ``every_s`` seconds after the first pending row (a timer thread,
    so a long cell never leaves rows unsynced), and on :meth:`close`: a power
    loss may lose the rows since the last fsync (see :mod:`vibench.store`).

    Parameters
    ----------
    path : path
        The file (``RUN_DIR/cells.jsonl``), created if missing.
    every_rows : int
        Rows between fsyncs (1: after every row).
    every_s : float
        Seconds a written row may wait for its fsync.
    """

    def __init__(self, path: str | os.PathLike, every_rows: int = FSYNC_ROWS, every_s: float = FSYNC_SECONDS):
        self.path = Path(path)
        self.every_rows, self.every_s = max(1, int(every_rows)), max(0.0, float(every_s))
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._unsynced = 0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        #: fsyncs done so far (for tests and curiosity).
        self.fsyncs = 0

    def write(self, row: dict[str, Any]) -> None:
        """Append ``row`` (one write); fsync when ``every_rows`` are pending, else within ``every_s``."""
        line = (dumps_row(row) + "\n").encode()
        with self._lock:
            if self._fd is None:
                raise ValueError(f"{self.path}: the row writer is closed")
            _write_all(self._fd, line)
            self._unsynced += 1
            if self._unsynced >= self.every_rows:
                self._sync()
            elif self._timer is None:
                self._timer = threading.Timer(self.every_s, self.sync)
                self._timer.daemon = True
                self._timer.start()

    def _sync(self) -> None:
        """fsync pending rows; the caller holds the lock."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
            self.fsyncs += 1
        self._unsynced = 0

    def sync(self) -> None:
        """fsync the rows written so far (nothing to do when none are pending)."""
        with self._lock:
            self._sync()

    def close(self) -> None:
        """fsync what is pending and close (idempotent)."""
        with self._lock:
            if self._fd is None:
                return
            try:
                self._sync()
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "RowWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
