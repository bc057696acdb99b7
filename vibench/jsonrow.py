"""Strict JSON for rows and ``info``: the one conversion every stored value goes through.

numpy scalars become Python numbers, arrays become lists, tuples and sets
lists, anything else unknown its ``str``; a NaN or infinite float becomes
``null`` and its field's name is added to the row's ``nonfinite`` list, so a
row never holds a ``NaN`` or ``Infinity`` token (which is not JSON) and never
hides that a value was not a number.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["jsonable", "strict_row", "dumps_row"]


def jsonable(value: Any, where: str = "", nonfinite: list[str] | None = None, strict: bool = False) -> Any:
    """``value`` as plain JSON data; the paths of non-finite floats are appended to ``nonfinite``.

    Parameters
    ----------
    value : object
    where : str
        The field's name (``kl``, ``info.elbo_tail``), recorded in ``nonfinite``.
    nonfinite : list of str, optional
        Receives ``where`` for every NaN or infinity replaced by ``None``.
    strict : bool
        Raise ``TypeError`` for a value of another type instead of storing its ``str``.
    """
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if nonfinite is not None and where not in nonfinite:
            nonfinite.append(where)
        return None
    if isinstance(value, dict):
        return {_text(str(k)): jsonable(v, f"{where}.{k}" if where else str(k), nonfinite, strict) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, where, nonfinite, strict) for v in value]
    if strict:
        raise TypeError(f"{where or 'value'}: {type(value).__name__} is not JSON-serializable")
    return str(value)


def _text(value: str) -> str:
    """``value``, with any lone surrogate (a file name that is not UTF-8, decoded with ``surrogateescape``)
    written as its backslash escape: JSON would carry it, but no UTF-8 text column (Parquet, pandas'
    ``str``) can hold it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def strict_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row as strict JSON data, with ``nonfinite`` naming any field that was NaN or infinite."""
    nonfinite = list(row.get("nonfinite") or [])
    out = jsonable({k: v for k, v in row.items() if k != "nonfinite"}, "", nonfinite)
    if nonfinite:
        out["nonfinite"] = nonfinite
    return out


def dumps_row(row: dict[str, Any]) -> str:
    """One row as one line of strict JSON (no NaN or Infinity tokens)."""
    return json.dumps(strict_row(row), allow_nan=False, separators=(",", ":"))
