"""The report's section per task: its charts (inline Vega-Lite), its fitted slopes and its cells' table.

The charts themselves are :mod:`vibench.report_charts`'s; this module lays
them out with their captions and a key to the markers, and writes the
task's cells as a sortable table (one row per cell over its seeds: state,
dist and KL with 2-SE, cost with its range over seeds, flags or error).
"""

from __future__ import annotations

import json
from typing import Sequence

import pandas as pd

from .report_html import _Cell, _e, _finite, _frame_table, _num_cell, _secs, _slug, _table, _text_cell


def _cells_rows(d: pd.DataFrame) -> list[tuple[str, list[_Cell]]]:
    rows = []
    for _, r in d.iterrows():
        state = r["state"]
        dist = "" if not _finite(r["dist"]) else f"{r['dist']:.3g} ± {2 * r['dist_se']:.2g}"
        kl = ""
        if _finite(r["kl"]):
            kl = ("0 (exact)" if r["exact"] else f"{r['kl']:.3g}" + (f" ± {2 * r['kl_se']:.2g}" if _finite(r["kl_se"])
                                                                        and r["kl_se"] > 0 else ""))
            kl += f" {r['kl_estimator']}" if r["kl_estimator"] and not r["exact"] else ""
        t = "" if not _finite(r["cost_time"]) else _secs(r["cost_time"]) + (
            f" [{r['time_lo']:.2g}–{r['time_hi']:.2g}]" if _finite(r["time_lo"]) and r["time_lo"] != r["time_hi"] else "")
        why = r["error"] if state == "failed" else ("" if r["flags"] == "none" else r["flags"])
        rows.append((state if state != "reliable" else "", [
            _text_cell(r["method"]), _text_cell(r["kind"]), _text_cell(r["size"]), _num_cell(r["steps"]),
            _text_cell(state), _Cell(_e(dist), r["dist"] if _finite(r["dist"]) else ""),
            _num_cell(r["dist_floor"]), _num_cell(r["moments"]),
            _Cell(_e(kl), r["kl"] if _finite(r["kl"]) else ""),
            _Cell(_e(t), r["cost_time"] if _finite(r["cost_time"]) else ""), _num_cell(r["cost_evals"]),
            _text_cell(r["seeds"]), _Cell(_e(why), None, "l")]))
    return rows


_CELL_HEADERS = [("method", ""), ("kind", "optimization or sampling"), ("size", ""), ("steps", "budget"),
                 ("diagnostics", "reliable: passed every gate on every seed"),
                 ("dist ± 2 SE (sds)", "sliced W1 to the truth, mean over seeds, in posterior sds"),
                 ("floor (sds)", "what exact draws of the same effective size score"),
                 ("moments (sds)", "max of mean_err and sd_err"),
                 ("KL (nats)", "KL(q||p) where it is one: closed form or Monte Carlo"),
                 ("fit time [range]", "median over seeds of fit_s, seconds [min-max over seeds]"),
                 ("evals", "median n_grad + n_logp"), ("seeds", ""), ("flags / error", "")]


def _chart(spec: dict | None, ident: str, caption: str) -> str:
    if spec is None:
        return ""
    data = json.dumps(spec, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    return (f'<figure><div class="chart" id="{ident}" data-spec="{ident}-spec" role="img" aria-label="{_e(caption)}">'
            f'</div><script type="application/json" id="{ident}-spec">{data}</script>'
            f'<figcaption class="note">{_e(caption)}</figcaption></figure>')


def _symbol(path: str, fill: str, stroke: str = "#333", rotate: int = 0) -> str:
    return (f'<svg width="14" height="14" viewBox="-1.3 -1.3 2.6 2.6" aria-hidden="true"><path d="{path}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="0.25" transform="rotate({rotate})"/></svg>')


_CIRCLE = "M-1,0A1,1 0 1,0 1,0A1,1 0 1,0 -1,0Z"
_SQUARE = "M-0.9,-0.9H0.9V0.9H-0.9Z"
_CROSS = "M-0.3,-1H0.3V-0.3H1V0.3H0.3V1H-0.3V0.3H-1V-0.3H-0.3Z"


def _key() -> str:
    from .report_charts import KIND_SHAPES

    items = [(_symbol(_CIRCLE, "#4c78a8"), "optimization"), (_symbol(_SQUARE, "#4c78a8"), "sampling"),
             (_symbol(KIND_SHAPES["exact"], "#4c78a8"), "exact (closed-form KL = 0)"),
             (_symbol(_CIRCLE, "#4c78a8"), "filled = reliable"), (_symbol(_CIRCLE, "none", "#4c78a8"),
                                                                  "hollow = unreliable (failed a gate)"),
             (_symbol(_CROSS, "#222", "#222", 45), "failed (error or timeout; top edge, at its wall time)"),
             (_symbol("M-1,0H1", "none", "#4c78a8"), "floor: what exact draws score")]
    return '<p class="legend key">' + " ".join(f"{svg}&nbsp;{_e(text)}&emsp;" for svg, text in items) + "</p>"


def _task_section(task: str, d: pd.DataFrame, methods: list[str], levels: Sequence, v: pd.DataFrame) -> str:
    from . import report_charts as rc

    slug = _slug(task)
    dist_levels = [lv.threshold for lv in levels if lv.metric == "dist"]
    kl_levels = [lv.threshold for lv in levels if lv.metric == "kl"]
    t = d[d["task"] == task]
    n_bad = int((t["state"] != "reliable").sum())
    parts = [f'<h2 id="task-{slug}">{_e(task)}</h2>',
             f'<p class="note">{len(t)} cells at {t["size"].nunique()} size(s): '
             f'{_e(", ".join(dict.fromkeys(t.sort_values("dim")["size"])))}; {n_bad} unreliable or failed. '
             "Hover a point for its flags or error; click a legend entry to highlight a method; scroll to zoom, "
             "drag to pan, double-click to reset.</p>", _key()]
    parts.append(_chart(rc.accuracy_vs_cost(d, task, methods, dist_levels, uid=f"a{slug}"), f"acc-{slug}",
                        f"{task}: accuracy (dist, mean over seeds, 2 SE bars; dash = floor, what exact draws score) "
                        "against fit time (median, bar = range over seeds); black step line = Pareto front of "
                        "reliable cells; dotted = dist levels."))
    parts.append(_chart(rc.kl_vs_cost(d, task, methods, kl_levels, uid=f"k{slug}"), f"kl-{slug}",
                        f"{task}: KL(q||p) for methods with a density (2 SE bars where Monte Carlo); exact results "
                        "(closed-form KL = 0) and estimates at or below 0 in the strip below, one row per method."))
    scal = rc.scaling(d, task, methods, uid=f"s{slug}")
    if scal is not None:
        parts.append(_chart(scal, f"scale-{slug}",
                            f"{task}: fit time and dist against dimension at each method's largest budget; dashed = "
                            "least-squares fit of log y on log dim, labelled with its slope (time ∝ dim^slope)."))
        sl = rc.slopes(d, task)
        if not sl.empty:
            shown = pd.DataFrame({"method": sl["method"] + sl["rest"].map(lambda r: f" {r}" if r else ""),
                                  "fit time slope": sl["time_slope"], "dist slope": sl["dist_slope"],
                                  "points": sl["n"], "dims": [f"{a:g}–{b:g}" for a, b in zip(sl["dim_lo"], sl["dim_hi"])]})
            parts.append("<h3>Fitted log-log slopes against dimension</h3>"
                         + _frame_table(shown.round({"fit time slope": 2, "dist slope": 2}), text_cols=["dims"]))
    parts.append(f"<details><summary>{_e(task)}: every cell ({len(t)}), a sortable table</summary>"
                 + _table(_CELL_HEADERS, _cells_rows(t)) + "</details>")
    return "\n".join(parts)
