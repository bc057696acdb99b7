"""``vibench report``: the answer, its plots and one HTML page, written into the run directory.

Layout: ``RUN_DIR/report/`` holds ``report.html`` and the PNGs it shows
(referenced by relative file name, so the folder can be moved or zipped as a
whole). Rebuilding replaces the previous report's PNGs.
"""

from __future__ import annotations

import html
import math
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import analysis
from .errors import VibenchError

__all__ = ["build_report", "REPORT_DIR"]

REPORT_DIR = "report"

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: 0.85em; line-height: 1.35; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td:nth-child(-n+3) { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.meta { color: #555; font-size: 0.9em; }
"""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "task"


def _fmt(v) -> str:
    """A table cell: short numbers, blanks for missing values."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (float, np.floating)):
        if math.isinf(v):
            return "inf"
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:.3g}"
    return str(v)


def _table(df: pd.DataFrame, empty: str = "(none)") -> str:
    if df.empty:
        return f"<p>{html.escape(empty)}</p>"
    shown = df.apply(lambda col: col.map(_fmt))
    return shown.to_html(index=False, escape=True, border=0)


def _img(name: str, alt: str) -> str:
    return f'<img src="{html.escape(name)}" alt="{html.escape(alt)}">'


def _plots(out: Path, c: pd.DataFrame, win: pd.DataFrame, fl: pd.DataFrame,
           thresholds: Sequence[float]) -> dict[str, list[tuple[str, str]]]:  # thresholds: the dist levels
    """Draw every figure into ``out``; return ``{section: [(file name, caption), ...]}``."""
    from . import plots

    figures: dict[str, list[tuple[str, str]]] = {"winners": [], "tasks": []}
    if not win.empty:
        plots.winner_heatmap(win, out / "winners.png")
        figures["winners"].append(("winners.png", "verdict per task, size and level"))
    for task in (dict.fromkeys(c["task"]) if not c.empty else ()):
        name = f"accuracy_vs_time_{_slug(task)}.png"
        plots.accuracy_vs_time(c, task, out / name, thresholds)
        figures["tasks"].append((name, f"{task}: dist vs fit time, Pareto front"))
        if c.loc[c["task"] == task, "dim"].nunique() > 1:
            name = f"scaling_{_slug(task)}.png"
            plots.scaling(fl, c, task, out / name)
            figures["tasks"].append((name, f"{task}: fit time and dist vs dimension"))
    return figures


def _winner_table(v: pd.DataFrame) -> pd.DataFrame:
    cols = ["task", "size", "level", "by", "verdict", "method", "steps", "cost", "value", "rival_method",
            "rival_steps", "rival_cost", "factor", "factor_lo", "factor_hi", "bound", "note"]
    return v[cols].rename(columns={"rival_method": "rival"})


def build_report(run_dir: str | os.PathLike, levels: Sequence | None = None) -> Path:
    """Write ``RUN_DIR/report/report.html`` and its PNGs; return the HTML's path.

    Parameters
    ----------
    run_dir : path
        A run directory (with ``run.json`` and ``cells.jsonl``).
    levels : sequence of vibench.scoring.levels.Level, optional
        Accuracy levels; default the suite's.

    Returns
    -------
    pathlib.Path
        The written ``report.html``.

    Raises
    ------
    VibenchError
        When ``run_dir`` is not a run directory or the report cannot be written.
    """
    from .store import load, read_run_json
    from .table import summary

    run_dir = Path(run_dir)
    meta = read_run_json(run_dir)
    df = load(run_dir)
    from .answer import answer_text

    levels = list(levels or analysis.levels_of(run_dir))
    thresholds = [lv.threshold for lv in levels if lv.metric == "dist"]
    out = run_dir / REPORT_DIR
    try:
        out.mkdir(exist_ok=True)
        for old in out.glob("*.png"):
            old.unlink()
    except OSError as exc:
        raise VibenchError(f"cannot write the report into {str(out)!r}: {exc.strerror or exc}") from None
    c = analysis.cells(df)
    win = analysis.verdicts(df, levels)
    fl = analysis.floors(df)
    figures = _plots(out, c, win, fl, thresholds)
    suite = meta.get("suite") or {}
    counts = df["status"].value_counts().to_dict() if not df.empty else {}
    title = f"vibench report: {suite.get('name', '?')}"
    parts = [
        f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>\n</head>\n<body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p class=\"meta\">" + html.escape(
            f"{run_dir.resolve()} | {len(df)} of {meta.get('n_cells', '?')} cells "
            f"({', '.join(f'{k}: {v}' for k, v in counts.items()) or 'none'}) | started {meta.get('started')}, "
            f"ended {meta.get('ended') or '(unfinished)'} | commit {str(meta.get('git_commit') or '?')[:10]} | "
            f"{(meta.get('machine') or {}).get('cpus', '?')} CPUs | levels "
            + ", ".join(lv.label for lv in levels)) + "</p>",
        f"<p>{html.escape(suite['description'])}</p>" if suite.get("description") else "",
        "<h2>The answer</h2>",
        f"<pre>{html.escape(answer_text(df, levels))}</pre>",
        "<p>Definitions: see <code>vibench.analysis</code>. Time is the method's fit time (set-up apart); evals "
        "are n_grad + n_logp; a cell reaches a level when the upper bound of its mean over seeds (2 SE) is "
        "below it; only reliable cells win; the factor is the cost of the cheapest reliable cell of the other "
        "kind that also reaches the level over the winner's, with its range over seeds.</p>",
    ]
    parts += [_img(name, alt) for name, alt in figures["winners"]]
    parts.append("<h2>Accuracy vs cost, and scaling</h2>")
    parts += [f"<figure>{_img(name, alt)}<figcaption>{html.escape(alt)}</figcaption></figure>"
              for name, alt in figures["tasks"]] or ["<p>(no finished cells)</p>"]
    parts += [
        "<h2>Verdicts</h2>", _table(_winner_table(win)),
        "<h2>Crossovers</h2>", _table(analysis.crossovers(win), "none: the winning kind does not change with size"),
        "<h2>Accuracy floors (each method's largest budget)</h2>", _table(fl),
        "<h2>All cells (over seeds)</h2>", _table(summary(df)),
        "</body>\n</html>\n",
    ]
    path = out / "report.html"
    try:
        path.write_text("\n".join(parts), encoding="utf-8")
    except OSError as exc:
        raise VibenchError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
