"""What vibench tells the person at the terminal: information, warnings, what a cell is doing, tables.

The library itself never prints. It logs information on the ``vibench`` logger
(:func:`info`: "computing the reference truth of ...") and reports what a cell
is doing (:func:`phase`: building task, compiling, fitting, scoring) to a
listener the command line installs (:func:`phases`). Outside the command line
both are silent (no handler: Python shows only warnings).

:func:`setup`, called by the command line, prints each log message as one line
on stderr: ``vibench: ...`` for information (hidden by ``-q``; debug lines only
with ``-v``) and ``vibench: warning: ...`` for warnings. A message is folded
onto one line, and an empty one prints nothing. Lines go to a duplicate of the
stderr file descriptor made at set-up, so a cell whose output the runner is
capturing (it redirects file descriptors 1 and 2 while a method runs) does not
swallow them, and they are written above a progress bar rather than through
it. Only the process that called :func:`setup` prints: forked worker
processes, which inherit the handler, stay silent.

Tables fit the terminal: :func:`print_table` draws one with rich when stdout
is a terminal and prints the plain text otherwise (piped, redirected, tests:
no ANSI codes); :func:`print_text` wraps long prose lines to the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import textwrap
from typing import Any, Callable, Iterator, Sequence, TextIO

__all__ = ["LOGGER", "setup", "verbosity", "terminal", "info", "debug", "warning", "write_line", "phase", "phases",
           "stdout_is_terminal", "print_table", "print_text"]

#: The logger vibench's information goes to.
LOGGER = logging.getLogger("vibench")
_LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}
_state: dict[str, Any] = {"verbosity": 0, "stream": None, "owned": None, "handler": None, "listener": None}


class _LineHandler(logging.Handler):
    """``vibench: message`` (``vibench: warning: message``), one line, in the process that set it up."""

    def __init__(self, stream: TextIO):
        super().__init__()
        self.stream, self.pid = stream, os.getpid()

    def emit(self, record: logging.LogRecord) -> None:
        if os.getpid() != self.pid:  # a forked worker: its parent owns the terminal
            return
        try:
            message = " ".join(str(record.getMessage()).split())
            if not message:
                return
            kind = "error: " if record.levelno >= logging.ERROR else "warning: " if record.levelno >= logging.WARNING \
                else ""
            write_line(f"vibench: {kind}{message}", self.stream)
        except Exception:  # noqa: BLE001 - logging must never take the run down
            self.handleError(record)


def write_line(line: str, stream: TextIO | None = None) -> None:
    """Write ``line`` to ``stream`` (default: :func:`terminal`), above a progress bar if one is shown."""
    stream = stream or terminal()
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None and getattr(tqdm, "tqdm", None) is not None:
        tqdm.tqdm.write(line, file=stream)  # clears the bar, writes, redraws it
    else:
        stream.write(line + "\n")
        stream.flush()


def _terminal_stream() -> tuple[TextIO, TextIO | None]:
    """A stream on a duplicate of stderr's file descriptor (and it, to close), or ``sys.stderr`` itself."""
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # no real descriptor (pytest's capsys, an IDE console)
        return sys.stderr, None
    stream = os.fdopen(fd, "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                       errors="replace")
    return stream, stream


def setup(verbosity: int = 0) -> None:
    """Print vibench's log on stderr, one line per message (the command line calls this once per command).

    Parameters
    ----------
    verbosity : int
        -1 (``-q``): warnings and errors only; 0: information too; 1 (``-v``): debug lines too.
    """
    if _state["owned"] is not None:
        with contextlib.suppress(OSError, ValueError):
            _state["owned"].close()
    if _state["handler"] is not None:
        LOGGER.removeHandler(_state["handler"])
    stream, owned = _terminal_stream()
    handler = _LineHandler(stream)
    LOGGER.addHandler(handler)
    LOGGER.setLevel(_LEVELS[max(-1, min(1, verbosity))])
    LOGGER.propagate = False  # printed here, not again by a root handler
    _state.update(verbosity=verbosity, stream=stream, owned=owned, handler=handler)


def verbosity() -> int:
    """-1 (quiet), 0 or 1 (verbose), as set by :func:`setup`."""
    return _state["verbosity"]


def terminal() -> TextIO:
    """The stream that reaches the person even while a cell's output is captured (stderr before :func:`setup`)."""
    return _state["stream"] or sys.stderr


def info(message: str) -> None:
    """Information: ``vibench: message`` on stderr from the command line (not with ``-q``)."""
    LOGGER.info("%s", message)


def debug(message: str) -> None:
    """Detail: ``vibench: message`` on stderr with ``-v`` only."""
    LOGGER.debug("%s", message)


def warning(message: str) -> None:
    """Something the user should act on: ``vibench: warning: message`` (empty messages print nothing)."""
    LOGGER.warning("%s", message)


@contextlib.contextmanager
def phases(listener: Callable[[Any, str], None] | None) -> Iterator[None]:
    """Within the block, :func:`phase` calls ``listener(cell, phase)`` in this process (not in worker processes)."""
    saved = _state["listener"]
    _state["listener"] = (listener, os.getpid()) if listener is not None else None
    try:
        yield
    finally:
        _state["listener"] = saved


def phase(cell: Any, name: str) -> None:
    """Tell the listener (the progress bar) what ``cell`` is doing now: ``building task``, ``compiling``, ...

    Never raises: a broken listener must not become the cell's error.
    """
    current = _state["listener"]
    if current is None or current[1] != os.getpid():
        return
    with contextlib.suppress(Exception):
        current[0](cell, name)


def interactive() -> bool:
    """Whether a person watches: the command line set up logging, not ``-q``, and stderr is a terminal.

    Long computations outside cells (a NUTS reference truth) show their own
    progress bar then, with draws per second and the time left.
    """
    stream = _state["stream"]
    if stream is None or _state["verbosity"] < 0:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (tables are drawn with rich) rather than a pipe or a file (plain text)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]], plain: str,
                right: Sequence[str] = (), drop: Sequence[str] = ()) -> None:
    """Print a table: fitted to the terminal and drawn with rich, or ``plain`` as it is when stdout is not one.

    On a terminal, empty columns are left out, then the columns named in
    ``drop`` (in that order) until the table fits, with a line saying which;
    what still does not fit is folded within its column.

    Parameters
    ----------
    header : sequence of str
    rows : sequence of sequences
        Cells, already formatted (``str`` of each is shown; ``None`` is empty).
    plain : str
        The text printed when stdout is not a terminal (piped, redirected, tests).
    right : sequence of str
        Columns aligned right (numbers).
    drop : sequence of str
        Columns that may be left out to fit, the least useful first.
    """
    if not stdout_is_terminal():
        print(plain)
        return
    from rich.console import Console
    from rich.table import Table

    cells = [["" if v is None else str(v) for v in row] for row in rows]
    keep = [i for i in range(len(header)) if any(row[i] not in ("", "-") for row in cells)] or list(range(len(header)))
    width = max(20, shutil.get_terminal_size().columns - 1)

    def needed(columns):
        return sum(max([len(header[i])] + [len(row[i]) for row in cells]) for i in columns) + 2 * (len(columns) - 1)

    hidden = []
    for name in drop:
        if needed(keep) <= width:
            break
        if name in header and header.index(name) in keep:
            keep.remove(header.index(name))
            hidden.append(name)
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    for i in keep:  # headers and numbers never fold: text columns give way
        number = header[i] in right
        table.add_column(header[i], justify="right" if number else "left", overflow="fold", no_wrap=number,
                         min_width=max([len(header[i])] + [len(row[i]) for row in cells] * number))
    for row in cells:
        table.add_row(*(row[i] for i in keep))
    console = Console(file=sys.stdout, highlight=False, width=width)
    console.print(table)
    if hidden:
        console.print(f"(left out to fit: {', '.join(hidden)}; piped output has every column)", style="dim")


def text_width() -> int | None:
    """The terminal's width for text on stdout, or ``None`` when stdout is piped (print as is)."""
    return max(40, shutil.get_terminal_size().columns - 1) if stdout_is_terminal() else None


def print_text(text: str) -> None:
    """Print ``text``; on a terminal, wrap each long prose line to its width (indented under itself).

    Aligned blocks (two or more lines of one length, as pandas prints a table)
    are left as they are.
    """
    width = text_width()
    if width is None:
        print(text)
        return
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        aligned = any(0 <= j < len(lines) and len(lines[j]) == len(line) for j in (i - 1, i + 1))
        if len(line) <= width or aligned:
            out.append(line)
            continue
        indent = re.match(r"\s*", line).group()
        out.extend(textwrap.wrap(line, width, initial_indent="", subsequent_indent=indent + "    ",
                                 break_long_words=False, break_on_hyphens=False) or [line])
    print("\n".join(out))
