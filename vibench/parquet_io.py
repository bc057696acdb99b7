"""``results.parquet``: a run's table as flat Parquet columns, readable by pandas, pyarrow, DuckDB, Polars.

Columns and dtypes are those of :func:`vibench.store.load`'s frame. Columns
holding nested values (``params``, ``budget``, ``info``, ``flags``,
``nonfinite``: dicts and lists) are stored as strings of JSON, so any Parquet
reader sees flat columns (DuckDB: ``json_extract(info, '$.converged')``);
their names are listed in the file's schema metadata (key ``vibench``), and
:func:`read_frame` decodes them back, so ``vibench.load`` gives the same frame
from a run directory, its ``cells.jsonl`` or its ``results.parquet``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import VibenchError

__all__ = ["METADATA_KEY", "frame_to_table", "table_to_frame", "write_frame", "read_frame"]

#: Schema-metadata key holding ``{"format": 1, "json_columns": [...]}``.
METADATA_KEY = b"vibench"
FORMAT = 1


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise VibenchError("writing or reading results.parquet needs pyarrow (pip install pyarrow)") from None
    return pyarrow


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _flat(values: list) -> bool:
    """Whether an object column can be stored as is: only strings, or only booleans, besides missing values."""
    present = [v for v in values if not _missing(v)]
    return all(isinstance(v, str) for v in present) or all(isinstance(v, bool) for v in present)


def frame_to_table(df):
    """The frame as a :class:`pyarrow.Table`: nested object columns become JSON strings.

    Parameters
    ----------
    df : pandas.DataFrame
        As :func:`vibench.store.load` returns it.

    Returns
    -------
    pyarrow.Table
        With ``METADATA_KEY`` in its schema metadata naming the JSON columns.
    """
    import pandas as pd

    pa = _pyarrow()
    out = df.copy()
    encoded = []
    for col in df.columns:
        if df[col].dtype != object or _flat(list(df[col])):
            continue
        out[col] = pd.Series([None if _missing(v) else json.dumps(v, allow_nan=False) for v in df[col]],
                             index=df.index, dtype=object)
        encoded.append(str(col))
    table = pa.Table.from_pandas(out, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps({"format": FORMAT, "json_columns": encoded}).encode()
    return table.replace_schema_metadata(meta)


def table_to_frame(table):
    """The frame :func:`frame_to_table` was given (JSON columns decoded)."""
    import pandas as pd

    df = table.to_pandas()
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    columns = json.loads(raw.decode())["json_columns"] if raw else []
    for col in columns:
        df[col] = pd.Series([None if _missing(v) else json.loads(v) for v in df[col]], index=df.index, dtype=object)
    return df


def write_frame(df, path: str | os.PathLike) -> Path:
    """Write ``df`` to the Parquet file ``path`` atomically (a temporary file, then a rename)."""
    pa = _pyarrow()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pa.parquet.write_table(frame_to_table(df), tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_frame(path: str | os.PathLike):
    """Read a ``results.parquet`` written by :func:`write_frame` into the frame it holds.

    Raises
    ------
    VibenchError
        When the file cannot be read as Parquet.
    """
    pa = _pyarrow()
    try:
        table = pa.parquet.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise VibenchError(f"cannot read {str(path)!r} as Parquet: {str(exc).splitlines()[0]}") from None
    return table_to_frame(table)
