"""The report's HTML building blocks: escaping, short number formats, and sortable tables.

A table is a list of rows of :class:`_Cell`; each cell carries its sort key
(``data-v``), so numbers sort as numbers and blanks sort last whichever the
direction (the sorting itself is the page's script, :mod:`vibench.report_assets`).
"""

from __future__ import annotations

import html
import math
import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "task"


def _e(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _finite(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _fmt(v) -> str:
    """A table cell: short numbers, blanks for missing values."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "NO"
    if isinstance(v, (float, np.floating, int, np.integer)):
        if math.isinf(v):
            return "inf"
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:.3g}"
    return str(v)


def _x(f) -> str:
    if not _finite(f):
        return "inf"
    return f"{f:.2g}×" if f < 10 else f"{f:,.0f}×"


def _secs(v) -> str:
    if not _finite(v):
        return "-"
    return f"{v:.2g} s" if v < 10 else f"{v:,.0f} s"


def _cost(v, by: str) -> str:
    if by == "time":
        return _secs(v)
    return f"{v:,.0f} evals" if _finite(v) else "-"


# ---------------------------------------------------------------------------------------------- tables

class _Cell:
    """One ``<td>``: its HTML, its sort key (``data-v``; None = sort by text) and attributes."""

    __slots__ = ("html", "sort", "cls", "title", "style")

    def __init__(self, html_: str, sort=None, cls: str = "", title: str = "", style: str = ""):
        self.html, self.sort, self.cls, self.title, self.style = html_, sort, cls, title, style

    def render(self) -> str:
        attrs = ""
        if self.sort is not None:
            attrs += f' data-v="{_e(self.sort if not _finite(self.sort) else repr(float(self.sort)))}"'
        if self.cls:
            attrs += f' class="{self.cls}"'
        if self.title:
            attrs += f' title="{_e(self.title)}"'
        if self.style:
            attrs += f' style="{self.style}"'
        return f"<td{attrs}>{self.html}</td>"


def _num_cell(v, text: str | None = None) -> _Cell:
    return _Cell(_e(_fmt(v) if text is None else text), v if _finite(v) else "")


def _text_cell(v, cls: str = "l") -> _Cell:
    return _Cell(_e(_fmt(v)), None, cls)


def _table(headers: Sequence[tuple[str, str]], rows: Iterable[tuple[str, list[_Cell]]], cls: str = "sortable",
           id_: str = "", extra_attrs: str = "", empty: str = "(none)") -> str:
    """A sortable table; ``headers`` are (label, tooltip); ``rows`` are (tr class, cells)."""
    rows = list(rows)
    if not rows:
        return f"<p class=\"muted\">{_e(empty)}</p>"
    head = "".join(f'<th class="l" title="{_e(tip)}">{_e(label)}</th>' if tip else f'<th class="l">{_e(label)}</th>'
                   for label, tip in headers)
    body = "\n".join(f'<tr{f" class={chr(34)}{rc}{chr(34)}" if rc else ""}>' + "".join(c.render() for c in cells)
                     + "</tr>" for rc, cells in rows)
    ident = f' id="{id_}"' if id_ else ""
    return (f'<div class="scroll"><table class="{cls}"{ident}{extra_attrs}><thead><tr>{head}</tr></thead>'
            f"<tbody>\n{body}\n</tbody></table></div>")


def _frame_table(df: pd.DataFrame, headers: dict[str, str] | None = None, empty: str = "(none)",
                 text_cols: Sequence[str] = ()) -> str:
    """A DataFrame as a sortable table (numbers right-aligned and sorted as numbers)."""
    headers = headers or {}
    if df.empty:
        return f"<p class=\"muted\">{_e(empty)}</p>"
    rows = []
    for _, r in df.iterrows():
        cells = []
        for col in df.columns:
            v = r[col]
            numeric = _finite(v) and col not in text_cols
            cells.append(_num_cell(v) if numeric else _text_cell(v))
        rows.append(("", cells))
    return _table([(headers.get(col, col), "") for col in df.columns], rows)
