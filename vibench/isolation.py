"""What a method's run in this process is kept from doing to the run: its output and its exits.

* :func:`_captured` sends stdout and stderr, at the file-descriptor level, to
  temporary files while a method runs and keeps their tails (``stdout_tail``,
  ``stderr_tail``: :data:`TAIL_CHARS` characters) and sizes;
* :func:`_guarded` turns ``os._exit`` into an exception (:class:`_ExitCalled`)
  and marks a real SIGINT (``_INTERRUPTED``), so that a method's own
  ``KeyboardInterrupt`` is its error row while the user's Ctrl-C stops the run;
* :func:`one_line` and :func:`_base_exception_message` are what an error row
  says of what escaped.

Used by :func:`vibench.runner.run_cell` around every cell.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import tempfile
import threading
from typing import Any

__all__ = ["TAIL_CHARS", "one_line", "marking_sigint"]

#: Characters of a method's stdout and stderr kept in ``info``.
TAIL_CHARS = 2000
_REAL_EXIT = os._exit


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` — what an error row records."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class _ExitCalled(BaseException):
    """``os._exit`` called by a method while a cell runs in this process."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


_INTERRUPTED = threading.Event()


def _on_sigint(signum, frame):
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def _install_marker():
    """Put :func:`_on_sigint` in place of Python's default SIGINT handler (main thread only).

    Returns the handler it replaced, or ``None`` when it did nothing (another
    thread, SIGINT ignored or already handled by someone else, or marked already).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            return signal.signal(signal.SIGINT, _on_sigint)
    except (ValueError, OSError):
        pass
    return None


@contextlib.contextmanager
def marking_sigint():
    """For a whole run in this process: a real SIGINT, wherever it lands, is marked as the user's.

    :func:`_guarded` marks a SIGINT only while a method runs; one that lands
    in a cell's set-up or tear-down (capturing output, say) would otherwise be
    taken for a method's own ``KeyboardInterrupt`` and become an error row, and
    the run would go on. Installed only in the main thread, where SIGINT has
    Python's default handler.
    """
    previous = _install_marker()
    _INTERRUPTED.clear()
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _guarded():
    """While a method runs: ``os._exit`` raises instead of ending the process; a real SIGINT is marked.

    Only the process that entered the block is guarded (a child forked by the
    method exits for real). The SIGINT handler is installed only in the main
    thread and only where SIGINT is not ignored (worker processes ignore it:
    their parent handles Ctrl-C).
    """
    owner = os.getpid()

    def refuse_exit(code=0):
        if os.getpid() != owner:
            _REAL_EXIT(code)
        raise _ExitCalled(code)

    marked = signal.getsignal(signal.SIGINT) is _on_sigint  # inside marking_sigint: its mark stands
    previous = _install_marker()
    if not marked:
        _INTERRUPTED.clear()
    saved_exit, os._exit = os._exit, refuse_exit
    try:
        yield
    finally:
        os._exit = saved_exit
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _tail(fh, limit: int) -> tuple[str, int]:
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(0, size - limit * 4))
    text = fh.read().decode("utf-8", errors="replace")
    return text[-limit:], size


@contextlib.contextmanager
def _captured(out: dict[str, Any], limit: int = TAIL_CHARS):
    """Send this process's stdout and stderr (file descriptors 1 and 2, and ``sys.stdout``/``sys.stderr``)
    to temporary files while the block runs; put their tails and sizes in ``out``."""
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        saved_fds = []
        for fd, fh in ((1, so), (2, se)):
            try:
                saved_fds.append((fd, os.dup(fd)))
                os.dup2(fh.fileno(), fd)
            except OSError:
                continue
        saved_py = sys.stdout, sys.stderr
        sys.stdout = io.TextIOWrapper(open(so.fileno(), "wb", closefd=False), errors="replace", write_through=True)
        sys.stderr = io.TextIOWrapper(open(se.fileno(), "wb", closefd=False), errors="replace", write_through=True)
        try:
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            replaced = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = saved_py
            for stream in replaced:
                with contextlib.suppress(Exception):
                    stream.detach()
            for fd, saved in saved_fds:
                os.dup2(saved, fd)
                os.close(saved)
            for name, fh in (("stdout", so), ("stderr", se)):
                text, size = _tail(fh, limit)
                if size:
                    out[f"{name}_tail"], out[f"{name}_bytes"] = text, size


def _base_exception_message(exc: BaseException) -> str:
    if isinstance(exc, _ExitCalled):
        return f"method called os._exit({exc.code!r})"
    if isinstance(exc, SystemExit):
        return f"method called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "method raised KeyboardInterrupt"
    return one_line(exc)
