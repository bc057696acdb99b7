"""The ``vibench`` command line. Commands only; the work lives in the library.

User errors (:class:`~vibench.errors.VibenchError`, and bad arguments) print
one line on stderr and exit 2; ``--debug`` (before or after the command) adds
the traceback above that line and never changes the exit code. ``-q`` and
``-v`` (before or after the command too) set how much is said
(:mod:`vibench.console`): information lines ``vibench: ...`` and the progress
bar go with ``-q``; warnings print as one line, ``vibench: warning: ...``, and
third-party banners (ArviZ's refactor notice) not at all. Nothing here
imports PyMC: only running a PyMC method does.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
import warnings
from typing import NoReturn

from .errors import VibenchError

__all__ = ["main", "build_parser"]


def _csv(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``vibench: error: ...``, and exit code 2."""

    def error(self, message):
        self.exit(2, f"vibench: error: {self.prog}: {message} (see {self.prog} --help)\n")


def _debug_flag(parser: argparse.ArgumentParser, default) -> None:
    """The global options; on a subcommand (``default`` SUPPRESS) they may follow it: ``vibench run x -q``."""
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show tracebacks as well as one-line errors")
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="no progress bar and no information lines; only warnings, errors and the result: "
                             "run prints its directory and the answer's summary line, show the summary line, "
                             "report the report's path")
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="more detail: run prints a line per finished cell, report prints the full answer")


def _version() -> str:
    import importlib.metadata as md

    try:
        return md.version("vibench")
    except md.PackageNotFoundError:  # pragma: no cover (a source tree that was never installed)
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so docs and tests can inspect it)."""
    p = _Parser(prog="vibench", description="Does optimization beat sampling on this posterior?")
    p.add_argument("--version", action="version", version=f"vibench {_version()}")
    _debug_flag(p, False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    real_add = sub.add_parser

    def add_parser(name, **kw):
        command = real_add(name, **kw)
        _debug_flag(command, argparse.SUPPRESS)  # ``vibench run x --debug`` works too
        return command

    sub.add_parser = add_parser

    run = sub.add_parser("run", help="run a suite (a built-in name or a TOML file)")
    run.add_argument("suite", help="built-in suite name (vibench list suites) or path to a .toml file")
    run.add_argument("--out", default="results", help="parent folder for the run directory (default: results)")
    run.add_argument("--tasks", type=_csv, help="comma-separated task names to keep")
    run.add_argument("--methods", type=_csv, help="comma-separated method names to keep")
    run.add_argument("--seed", type=int, help="run only this seed")
    run.add_argument("--jobs", type=int, help="worker processes (default: run in this process)")
    run.add_argument("--dask", metavar="ADDRESS", help="a dask.distributed scheduler address, or 'local'")
    run.add_argument("--timeout", type=float, help="per-cell timeout in seconds (overrides the suite's)")
    run.add_argument("--resume", metavar="RUN_DIR", help="run only the cells missing from this run directory")
    run.add_argument("--retry-failed", action="store_true",
                     help="with --resume: also run again the cells whose row is an error or a timeout")
    run.add_argument("--keep-draws", action="store_true",
                     help="save each finished cell's draws as ArviZ NetCDF in RUN_DIR/draws/")
    run.add_argument("--no-progress", action="store_true",
                     help="no progress bar (it shows cells done, the elapsed time, what runs now: building, compiling, "
                          "fitting or scoring a cell when cells run in this process, the cell each worker got "
                          "otherwise; and the time left only once 20%% of the cells are done, as cells differ in "
                          "cost by orders of magnitude)")

    lst = sub.add_parser("list", help="list installed tasks, methods or built-in suites")
    lst.add_argument("what", choices=["tasks", "methods", "suites", "posteriordb"],
                     help="posteriordb: the posteriors of the source ($VIBENCH_POSTERIORDB or the shipped ones) and which are tasks")

    show = sub.add_parser("show", help="print a run's summary table")
    show.add_argument("run_dir")

    report = sub.add_parser("report", help="write plots and report.html into RUN_DIR/report/; print the answer's "
                                           "summary line and the report's path (-v: the full answer)")
    report.add_argument("run_dir")
    report.add_argument("--thresholds", type=_csv, help="comma-separated KL thresholds (default: the suite's)")

    sub.add_parser("plugins", help="list plugins, what each registered, and load failures")

    truth = sub.add_parser("truth", help="show a task's truth; compute or refresh its stored NUTS reference")
    truth.add_argument("task", help="a task name (vibench list tasks) or module:function")
    truth.add_argument("params", nargs="*", metavar="k=v", help="size parameters, e.g. dim=20 n=200")
    truth.add_argument("--refresh", action="store_true", help="recompute a reference truth even if one is stored")
    truth.add_argument("--check", action="store_true",
                       help="run a fresh NUTS reference and z-test the truth's means and sds against it")
    return p


#: Third-party notices that are not the user's to act on, silenced before any command runs:
#: ArviZ 0.2x's once-a-day "ArviZ is undergoing a major refactor" FutureWarning (its message starts with a newline).
_SILENCED = [(r"\s*ArviZ is undergoing a major refactor", FutureWarning)]


def _one_line_warnings() -> None:
    """Warnings print as one line, ``vibench: warning: ...`` (none for an empty message); banners are silenced."""
    from . import console

    def show(message, category, filename, lineno, file=None, line=None):
        console.warning(str(message))

    for pattern, category in _SILENCED:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vibench`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a bad argument (one line, exit 2)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:  # a bare ``vibench`` is a usage error: help on stderr, exit 2
        parser.print_help(sys.stderr)
        return 2
    if args.quiet and args.verbose:
        print("vibench: error: -q/--quiet and -v/--verbose cannot be used together", file=sys.stderr)
        return 2
    from . import console

    console.setup(-1 if args.quiet else 1 if args.verbose else 0)
    _one_line_warnings()
    try:
        from . import commands

        return getattr(commands, f"cmd_{args.command}")(args)
    except VibenchError as exc:
        if args.debug:
            traceback.print_exc()
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"vibench: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vibench: interrupted; finished cells are saved (use --resume to continue)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # ``vibench list tasks | head``: the reader left, no traceback
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        except (AttributeError, OSError, ValueError):
            pass
        return 1


def entry() -> NoReturn:
    """The ``vibench`` console script: :func:`main`, then exit with its code.

    Before exiting it moves every object to the garbage collector's permanent
    generation (:func:`gc.freeze`), so the interpreter's final collections do
    not walk the objects of SciPy, xarray and pandas once more: with them
    imported, exiting took 0.3 to 0.6 s of a run's wall time. Files are closed
    and ``atexit`` handlers run as usual. :func:`main` itself does not freeze,
    since tests call it many times in one process.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
