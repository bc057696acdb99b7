"""The run directory: ``run.json`` (what ran, where, when), ``cells.jsonl`` (one line a cell), ``results.parquet``.

Each finished cell is appended as one complete line of strict JSON (no NaN or
Infinity tokens: see :mod:`vibench.jsonrow`) with a single ``write`` on an
``O_APPEND`` descriptor, so a run killed at any point leaves only whole lines
behind. A torn last line (a crash inside ``write``) is skipped on reading and
cut off (kept in ``cells.jsonl.torn``) before anything is appended again. Any
other line that is not a row is an error, never silently dropped.
``--resume`` reruns only the cells whose keys are missing; ``--retry-failed``
also the ``error`` and ``timeout`` ones, whose old rows move to
``cells.retried.jsonl`` so the run keeps one row per cell.

What a crash can lose. :class:`~vibench.row_writer.RowWriter` hands every row to the kernel at
once (one ``write``, nothing buffered in the process), so a killed or
crashed vibench (``SIGKILL``, the OOM killer, a segfault) loses no row that
was written. It calls ``fsync`` once :data:`FSYNC_ROWS` rows are pending or
:data:`FSYNC_SECONDS` seconds after the first pending row, whichever comes
first, and when it closes: a power loss or a kernel crash may lose at most the
rows written since the last ``fsync`` (fewer than 50, all from the last 5 s;
those cells run again on ``--resume``), never more, and never an earlier line.

When a run (or a resumed run) ends, its rows are also written to
``results.parquet`` (:mod:`vibench.parquet_io`): the same table as flat
Parquet columns for pandas, pyarrow, DuckDB or Polars. ``cells.jsonl`` stays
the record: :func:`load` reads it when it is there.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from .errors import VibenchError
from .columns import ROW_COLUMNS
from .jsonrow import dumps_row, jsonable
from .row_writer import FSYNC_ROWS, FSYNC_SECONDS, RowWriter

__all__ = ["ROW_COLUMNS", "create_run_dir", "write_run_json", "read_run_json", "append_row", "read_rows", "load",
           "run_metadata", "repair", "drop_rows", "safe_name", "done_keys", "REQUIRED_KEYS", "RowWriter",
           "write_parquet", "FSYNC_ROWS", "FSYNC_SECONDS", "PARQUET"]

CELLS = "cells.jsonl"
RUN = "run.json"
TORN = CELLS + ".torn"
RETRIED = "cells.retried.jsonl"
PARQUET = "results.parquet"
#: What every stored row must have to count as a row.
REQUIRED_KEYS = ("key", "task", "method", "status")


def safe_name(name: str) -> str:
    """``name`` as a safe file name: letters, digits, ``.``, ``_``, ``-``; never a path, never empty.

    A suite's ``name`` becomes part of the run directory's name; this keeps it
    inside ``--out`` (``../../x`` -> ``x``, ``/etc`` -> ``etc``).
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._-")
    return cleaned[:64] or "suite"


def create_run_dir(out: str | os.PathLike, suite_name: str) -> Path:
    """Make ``out/<suite>-<YYYYmmdd-HHMMSS>/`` (suffixed if taken) and return it.

    Raises
    ------
    VibenchError
        When ``out`` cannot be created or written.
    """
    out = Path(out)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    suite_name = safe_name(suite_name)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for i in range(1000):
            path = out / (f"{suite_name}-{stamp}" + (f"-{i}" if i else ""))
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:  # never write into another run's directory
            raise VibenchError(f"cannot make a run directory in {str(out)!r}: {suite_name}-{stamp} and its "
                               "999 suffixed names are all taken")
        probe = path / ".write-test"
        probe.write_text("x")  # one byte: a full disk or a quota lets an empty file be made, not written
        probe.unlink()
    except OSError as exc:
        raise VibenchError(f"cannot write results to {str(out)!r}: {exc.strerror or exc}") from None
    return path


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    versions = {}
    for dist in ("vibench", "numpy", "scipy", "pandas", "pymc", "pytensor", "arviz", "emcee", "pluggy"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return versions


def run_metadata(suite: dict[str, Any]) -> dict[str, Any]:
    """What ``run.json`` records at the start of a run."""
    return {
        "suite": suite,
        "versions": _versions(),
        "python": platform.python_version(),
        "git_commit": _git_commit(),
        "machine": {
            "node": platform.node(),
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ended": None,
    }


def write_run_json(run_dir: Path, meta: dict[str, Any]) -> None:
    """Write ``run.json`` atomically (temporary file, then rename)."""
    tmp = Path(run_dir) / (RUN + ".tmp")
    tmp.write_text(json.dumps(jsonable(meta), indent=2, allow_nan=False))
    os.replace(tmp, Path(run_dir) / RUN)


def read_run_json(run_dir: Path) -> dict[str, Any]:
    """Read ``run.json``; a clear error if it is missing, unreadable or not a JSON object."""
    path = Path(run_dir) / RUN
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise VibenchError(f"{str(run_dir)!r} is not a vibench run directory (no {RUN})") from None
    except NotADirectoryError:
        raise VibenchError(f"{str(run_dir)!r} is not a vibench run directory") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise VibenchError(f"cannot read {path}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    if not isinstance(meta, dict):
        raise VibenchError(f"{path} is not a vibench run.json (a JSON object), it holds a {type(meta).__name__}")
    if not isinstance(meta.get("suite", {}), dict):
        raise VibenchError(f"{path}: 'suite' must be a JSON object")
    return meta


def append_row(run_dir: Path, row: dict[str, Any]) -> None:
    """Append one row as one line of strict JSON: one write, then fsync (a one-off; runs use :class:`RowWriter`)."""
    with RowWriter(Path(run_dir) / CELLS, every_rows=1) as writer:
        writer.write(row)


def repair(run_dir: str | os.PathLike) -> bool:
    """Cut a torn last line (no final newline) off ``cells.jsonl``, keeping it in ``cells.jsonl.torn``.

    Called before appending to an existing run, so a new row never glues onto
    a fragment. Returns whether anything was cut.
    """
    path = Path(run_dir) / CELLS
    if not path.exists():
        return False
    with open(path, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return False
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return False
        fh.seek(0)
        keep = fh.read().rfind(b"\n") + 1
        fh.seek(keep)
        fragment = fh.read()
        if _parse_row(fragment) is not None:  # a whole row that only lacks its newline
            fh.write(b"\n")
            fragment = b""
        else:
            fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    if fragment:
        with open(Path(run_dir) / TORN, "ab") as torn:
            torn.write(fragment + b"\n")
    return bool(fragment)


def _parse_row(raw: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(raw.decode("utf-8"))
    except ValueError:
        return None
    ok = isinstance(row, dict) and all(k in row for k in REQUIRED_KEYS) and isinstance(row["key"], str)
    return row if ok else None


def _row_error(path: Path, number: int, what: str) -> VibenchError:
    return VibenchError(f"{path} line {number} is not a vibench row ({what}); fix or remove that line")


def read_rows(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """All rows of a run, one per cell (the last row of a key wins); a torn last line is skipped.

    Raises
    ------
    VibenchError
        When a line other than a torn last one is not a row: not UTF-8, not
        JSON, not an object, or missing one of :data:`REQUIRED_KEYS`.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / CELLS
    if not path.exists():
        if (path.parent / RUN).exists():
            return []
        raise VibenchError(f"{str(run_dir)!r} is not a vibench run directory (no {CELLS})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VibenchError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = data.split(b"\n")
    torn = lines.pop() if lines else b""  # b"" when the file ends with a newline
    rows: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise _row_error(path, number, "not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise _row_error(path, number, f"not JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise _row_error(path, number, f"a JSON {type(row).__name__}, not an object")
        missing = [k for k in REQUIRED_KEYS if k not in row]
        if missing:
            raise _row_error(path, number, f"no {missing[0]!r}")
        if not isinstance(row["key"], str):
            raise _row_error(path, number, "'key' is not a string")
        rows.pop(row["key"], None)
        rows[row["key"]] = row
    last = _parse_row(torn) if torn.strip() else None  # else a crash inside the last write: repair() cuts it
    if last is not None:
        rows.pop(last["key"], None)
        rows[last["key"]] = last
    return list(rows.values())


def drop_rows(run_dir: str | os.PathLike, keys: set[str]) -> int:
    """Move the rows of ``keys`` from ``cells.jsonl`` to ``cells.retried.jsonl`` (atomically); return how many."""
    path = Path(run_dir) / CELLS
    if not keys or not path.exists():
        return 0
    keep, moved = [], []
    for row in read_rows(run_dir):
        (moved if row["key"] in keys else keep).append(row)
    with open(Path(run_dir) / RETRIED, "a") as fh:
        fh.writelines(dumps_row(r) + "\n" for r in moved)
    tmp = path.with_name(CELLS + ".tmp")
    with open(tmp, "w") as fh:
        fh.writelines(dumps_row(r) + "\n" for r in keep)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return len(moved)


def done_keys(rows: Iterable[dict[str, Any]], retry_failed: bool = False) -> set[str]:
    """Keys of the cells already recorded (without ``error`` and ``timeout`` ones if ``retry_failed``)."""
    return {r["key"] for r in rows if not (retry_failed and r.get("status") in ("error", "timeout"))}


def _frame(rows: list[dict[str, Any]]):
    """Rows as :func:`load`'s frame: :data:`ROW_COLUMNS` first; missing values of object columns are ``None``."""
    import pandas as pd

    df = pd.DataFrame(rows)
    for col in ROW_COLUMNS:
        if col not in df.columns:
            df[col] = None
    rest = [c for c in df.columns if c not in ROW_COLUMNS]
    df = df[ROW_COLUMNS + rest]
    for col in df.columns:  # a key some rows lack is NaN there: make it None, as a null of the row itself
        if df[col].dtype == object:
            missing = df[col].isna()
            if missing.any():
                df[col] = pd.Series([None if m else v for v, m in zip(df[col], missing)], index=df.index,
                                    dtype=object)
    return df


def load(path: str | os.PathLike):
    """A run's rows as a pandas DataFrame, one row per cell.

    Parameters
    ----------
    path : path
        A run directory, its ``cells.jsonl`` or its ``results.parquet``. A
        directory is read from ``cells.jsonl`` (the record, complete even
        while the run goes on), or from ``results.parquet`` when it holds
        only that.

    Returns
    -------
    pandas.DataFrame
        The :data:`ROW_COLUMNS` first, then the rest (``size``, ``key``,
        ``info``, ...). ``params`` holds dicts; ``size`` is the same as a
        short string (``dim=10,rho=0.9``) for grouping. The same frame
        whichever file it is read from.

    Raises
    ------
    VibenchError
        When ``path`` is not a run directory or one of its files, or a file is damaged.
    """
    from .parquet_io import read_frame

    path = Path(path)
    if path.is_dir() and not (path / CELLS).exists() and (path / PARQUET).exists():
        path = path / PARQUET
    if path.suffix == ".parquet":
        if not path.is_file():
            raise VibenchError(f"{str(path)!r} does not exist")
        return read_frame(path)
    return _frame(read_rows(path))


def write_parquet(run_dir: str | os.PathLike) -> Path:
    """Write ``RUN_DIR/results.parquet`` from ``cells.jsonl`` (atomically) and return its path.

    Raises
    ------
    VibenchError
        When pyarrow is not installed or the run cannot be read.
    """
    from .parquet_io import write_frame

    return write_frame(_frame(read_rows(run_dir)), Path(run_dir) / PARQUET)
