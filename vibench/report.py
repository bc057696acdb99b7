"""``vibench report``: one self-contained HTML page, verdict first, written into the run directory.

Layout: ``RUN_DIR/report/report.html``, which needs nothing else (the Vega,
Vega-Lite and vega-embed JavaScript is inline, from the ``vl-convert-python``
bundle, so the page works offline and can be mailed as one file), plus static
PNG versions of the main figures beside it (matplotlib; linked from the
page's last section). Rebuilding replaces the previous report's PNGs.

The page, top to bottom:

1. the summary sentence (:func:`vibench.answer.summary_line`) and the verdict
   table: a row per task x size, a column per level, each cell coloured by
   the verdict and naming the winner and its factor over the other kind with
   the factor's range over seeds; by fit time, or by density evaluations at
   the toggle; a warning sign where an *unreliable* cell reached the level
   cheaper than the winner (it is not trusted, so it does not win);
2. a table of contents, then a section per task: accuracy (``dist``, 2-SE
   bars, floor ticks) against fit time with the Pareto front of reliable
   cells; KL against fit time for methods with a density, exact results in
   a strip of their own; fit time and ``dist`` against dimension with fitted
   log-log slopes; the task's cells in a sortable table;
3. crossovers, unreliable and failed cells with their flags and errors,
   accuracy floors, every cell.

Every table sorts by clicking its header. The page is built by
:func:`build_report` here from: :mod:`vibench.report_verdicts` (the verdict
table), :mod:`vibench.report_tasks` (a task's section and the cells' table),
:mod:`vibench.report_html` (escaping, number formats, sortable tables) and
:mod:`vibench.report_assets` (the style sheet, the scripts, the inline Vega
bundle). Chart conventions are in :mod:`vibench.report_charts`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import pandas as pd

from . import analysis
from .errors import VibenchError
from .report_assets import _CAPTURE_JS, _CSS, _PAGE_JS, vega_javascript
from .report_html import _Cell, _e, _frame_table, _num_cell, _slug, _table, _text_cell
from .report_tasks import _task_section
from .report_verdicts import VERDICT_COLORS, _verdict_tables  # noqa: F401  (VERDICT_COLORS: imported from here)

__all__ = ["build_report", "REPORT_DIR", "vega_javascript"]

REPORT_DIR = "report"


def _plots(out: Path, c: pd.DataFrame, win: pd.DataFrame, fl: pd.DataFrame,
           thresholds: Sequence[float]) -> list[tuple[str, str]]:
    """The static PNG figures (matplotlib) into ``out``: ``[(file name, caption), ...]``."""
    from . import plots

    figures: list[tuple[str, str]] = []
    if not win.empty:
        plots.winner_heatmap(win, out / "winners.png")
        figures.append(("winners.png", "verdict per task, size and level"))
    for task in (dict.fromkeys(c["task"]) if not c.empty else ()):
        name = f"accuracy_vs_time_{_slug(task)}.png"
        plots.accuracy_vs_time(c, task, out / name, thresholds)
        figures.append((name, f"{task}: dist vs fit time, Pareto front"))
        if c.loc[c["task"] == task, "dim"].nunique() > 1:
            name = f"scaling_{_slug(task)}.png"
            plots.scaling(fl, c, task, out / name)
            figures.append((name, f"{task}: fit time and dist vs dimension"))
    return figures


def _problems_table(d: pd.DataFrame) -> str:
    bad = d[d["state"] != "reliable"] if not d.empty else d
    if bad.empty:
        return "<p class=\"muted\">none: every cell ran on every seed and passed every gate.</p>"
    return _table([("task", ""), ("size", ""), ("method", ""), ("steps", ""), ("state", ""), ("seeds", ""),
                   ("why (flags or error)", "")],
                  [(r["state"], [_text_cell(r["task"]), _text_cell(r["size"]), _text_cell(r["method"]),
                                 _num_cell(r["steps"]), _text_cell(r["state"]), _text_cell(r["seeds"]),
                                 _Cell(_e(r["error"] if r["state"] == "failed" else r["flags"]), None, "l")])
                   for _, r in bad.iterrows()])


def build_report(run_dir: str | os.PathLike, levels: Sequence | None = None) -> Path:
    """Write ``RUN_DIR/report/report.html`` (self-contained) and its static PNGs; return the HTML's path.

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
    from .answer import summary_line
    from .report_charts import EXACT_KL, chart_data
    from .store import load, read_run_json
    from .table import summary

    run_dir = Path(run_dir)
    meta = read_run_json(run_dir)
    df = load(run_dir)
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
    win = analysis.verdicts(df, levels, c)
    fl = analysis.floors(df, c)
    d = chart_data(c, df) if not c.empty else pd.DataFrame()
    figures = _plots(out, c, win, fl, thresholds)
    suite = meta.get("suite") or {}
    counts = df["status"].value_counts().to_dict() if not df.empty else {}
    title = f"vibench report: {suite.get('name', '?')}"
    tasks = list(dict.fromkeys(d["task"])) if not d.empty else []
    methods = sorted(set(d["method"])) if not d.empty else []
    n_seeds = int(df["seed"].nunique()) if "seed" in df and not df.empty else 0

    head_levels = [lv for lv in levels if lv.metric != "kl"]
    summary_html = ""
    if not win.empty:
        summary_html = f'<p class="summary" id="summary">{_e(summary_line(win))}</p>'
        more = [summary_line(win, lv) for lv in head_levels[1:]]
        if more:
            summary_html += '<ul class="levels">' + "".join(f"<li>{_e(s)}</li>" for s in more) + "</ul>"
    else:
        summary_html = '<p class="summary" id="summary">No finished cells to compare yet.</p>'

    toc = ['<li><a href="#verdicts">Verdicts</a></li>'] + [
        f'<li><a href="#task-{_slug(t)}">{_e(t)}</a></li>' for t in tasks] + [
        '<li><a href="#crossovers">Crossovers</a></li>', '<li><a href="#problems">Unreliable and failed cells</a></li>',
        '<li><a href="#floors">Accuracy floors</a></li>', '<li><a href="#cells">All cells</a></li>',
        '<li><a href="#static">Static figures (PNG)</a></li>']
    meta_line = (f"{run_dir.resolve()} | {len(df)} of {meta.get('n_cells', '?')} cells "
                 f"({', '.join(f'{k}: {v}' for k, v in counts.items()) or 'none'}), {n_seeds} seed(s) | "
                 f"started {meta.get('started')}, ended {meta.get('ended') or '(unfinished)'} | commit "
                 f"{str(meta.get('git_commit') or '?')[:10]} | {(meta.get('machine') or {}).get('cpus', '?')} CPUs | "
                 "levels " + ", ".join(lv.label for lv in levels))
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>",
        f"<script>{_CAPTURE_JS}</script>",
        "</head>\n<body>",
        '<div id="errors"></div><div id="warnings"></div>',
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{_e(meta_line)}</p>',
        f"<p class=\"note\">{_e(suite['description'])}</p>" if suite.get("description") else "",
        summary_html,
        '<section id="verdicts"><h2>Verdicts</h2>',
        _verdict_tables(win, c, levels),
        "</section>",
        f'<nav class="toc" aria-label="contents"><b>Contents</b><ol>{"".join(toc)}</ol></nav>',
        "<p class=\"note\">How a verdict is reached: docs/answer.md. Time is the method's own fit time (set-up such "
        "as compiling apart); evals are n_grad + n_logp; a cell reaches a level when the upper 2-SE bound of its "
        "mean over seeds is below it; only reliable cells win; the factor is the cheapest reliable reaching cell "
        "of the other kind over the winner, with its range over seeds.</p>",
    ]
    if d.empty:
        parts.append("<p class=\"muted\">(no finished cells)</p>")
    with warnings.catch_warnings():  # Altair notes that the legend selection is shared by the panels: it is meant to
        warnings.filterwarnings("ignore", message="Automatically deduplicated selection parameter")
        for task in tasks:
            parts.append(_task_section(task, d, methods, levels, win))
    cross = analysis.crossovers(win)
    fl_shown = fl
    if not fl.empty:  # a closed-form KL of -1e-16 is an exact 0
        fl_shown = fl.assign(reliable=fl["reliable"].map({True: "yes", False: "NO (not a floor)"}),
                             kl=fl["kl"].where(~(fl["kl"].abs() <= EXACT_KL), 0.0))
    all_cells = summary(df)
    parts += [
        '<h2 id="crossovers">Crossovers</h2>',
        _frame_table(cross, empty="none: the winning kind does not change with size"),
        '<h2 id="problems">Unreliable and failed cells</h2>',
        '<p class="note">Shown in every table and chart, never a winner, a crossover or a floor.</p>',
        _problems_table(d),
        '<h2 id="floors">Accuracy floors (each method\'s largest budget)</h2>',
        _frame_table(fl_shown.drop(columns=[col for col in ("family",) if col in fl_shown]),
                     {"dist": "dist (sds)", "dist_floor": "floor (sds)", "moments": "moments (sds)", "kl": "KL (nats)",
                      "prev_dist": "dist at the budget before"}),
        '<h2 id="cells">All cells (over seeds)</h2>',
        f"<details><summary>{len(all_cells)} cells: means (accuracy) and medians (cost) over seeds</summary>"
        + _frame_table(all_cells, {"fit_s": "fit_s (s)", "setup_s": "setup_s (s)"}) + "</details>",
        '<h2 id="static">Static figures (PNG)</h2>',
        "<details><summary>matplotlib versions of the charts, for slides and papers</summary>"
        + ("".join(f'<figure><img src="{_e(name)}" alt="{_e(cap)}" loading="lazy"><figcaption>{_e(cap)}</figcaption>'
                   f"</figure>" for name, cap in figures) or "<p class=\"muted\">(none)</p>") + "</details>",
        f"<script>{vega_javascript()}</script>" if not d.empty else "",
        f"<script>{_PAGE_JS}</script>",
        "</body>\n</html>\n",
    ]
    path = out / "report.html"
    try:
        path.write_text("\n".join(p for p in parts if p), encoding="utf-8")
    except OSError as exc:
        raise VibenchError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
