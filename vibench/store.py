"""The run directory: ``run.json`` (what ran, where, when) and ``cells.jsonl`` (one line a cell).

Each finished cell is appended as one complete JSON line with a single
``write`` on an ``O_APPEND`` descriptor, then flushed to disk, so a run killed
at any point leaves only whole lines behind; a torn last line (a crash inside
``write``) is skipped on reading. ``--resume`` reruns only the cells whose
keys are missing.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from .errors import VibenchError
from .columns import ROW_COLUMNS

__all__ = ["ROW_COLUMNS", "create_run_dir", "write_run_json", "append_row", "read_rows", "load", "run_metadata"]

CELLS = "cells.jsonl"
RUN = "run.json"


def create_run_dir(out: str | os.PathLike, suite_name: str) -> Path:
    """Make ``out/<suite>-<YYYYmmdd-HHMMSS>/`` (suffixed if taken) and return it.

    Raises
    ------
    VibenchError
        When ``out`` cannot be created or written.
    """
    out = Path(out)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for i in range(1000):
            path = out / (f"{suite_name}-{stamp}" + (f"-{i}" if i else ""))
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        probe = path / ".write-test"
        probe.write_text("")
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
    tmp.write_text(json.dumps(meta, indent=2, default=str))
    os.replace(tmp, Path(run_dir) / RUN)


def read_run_json(run_dir: Path) -> dict[str, Any]:
    """Read ``run.json``; a clear error if it is missing or unreadable."""
    path = Path(run_dir) / RUN
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise VibenchError(f"{str(run_dir)!r} is not a vibench run directory (no {RUN})") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise VibenchError(f"cannot read {path}: {exc}") from None


def append_row(run_dir: Path, row: dict[str, Any]) -> None:
    """Append one row as one JSON line: a single write, flushed and fsynced."""
    line = (json.dumps(row, default=_jsonable, allow_nan=True) + "\n").encode()
    fd = os.open(Path(run_dir) / CELLS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _jsonable(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def read_rows(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """All complete rows of a run (a torn trailing line is skipped)."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / CELLS
    if not path.exists():
        if (path.parent / RUN).exists():
            return []
        raise VibenchError(f"{str(run_dir)!r} is not a vibench run directory (no {CELLS})")
    rows = []
    with open(path, "rb") as fh:
        for line in fh:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def done_keys(rows: Iterable[dict[str, Any]]) -> set[str]:
    """Keys of the cells already recorded."""
    return {r["key"] for r in rows if "key" in r}


def load(run_dir: str | os.PathLike):
    """A run's rows as a pandas DataFrame, one row per cell.

    Parameters
    ----------
    run_dir : path
        A run directory (or its ``cells.jsonl``).

    Returns
    -------
    pandas.DataFrame
        The :data:`ROW_COLUMNS` first, then the rest (``size``, ``key``,
        ``info``, ...). ``params`` holds dicts; ``size`` is the same as a
        short string (``dim=10,rho=0.9``) for grouping.
    """
    import pandas as pd

    rows = read_rows(run_dir)
    df = pd.DataFrame(rows)
    for col in ROW_COLUMNS:
        if col not in df.columns:
            df[col] = None
    rest = [c for c in df.columns if c not in ROW_COLUMNS]
    return df[ROW_COLUMNS + rest]

