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

Every table sorts by clicking its header. Chart conventions are in
:mod:`vibench.report_charts`.
"""

from __future__ import annotations

import functools
import html
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import analysis
from .errors import VibenchError

__all__ = ["build_report", "REPORT_DIR", "vega_javascript"]

REPORT_DIR = "report"

VERDICT_COLORS = {"optimization": "#9ECAE9", "sampling": "#FFBF79", "tie": "#D4B9DA", "unresolved": "#CCCCCC",
                  "none": "#F5F5F5"}
_VERDICT_HELP = {
    "optimization": "an optimization method (VI, Laplace) is the cheapest reliable cell that reaches the level",
    "sampling": "a sampler (MCMC) is the cheapest reliable cell that reaches the level",
    "tie": "both kinds reach it; the factor's range over seeds straddles 1",
    "unresolved": "the yardstick cannot tell at this many draws or seeds, or a cheaper cell of the other kind is "
                  "unresolved",
    "none": "no reliable cell reaches the level",
}

_CSS = """
:root { --border: #d8d8d8; }
body { font-family: system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 1.2em auto;
       max-width: 1280px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.45em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.15em; }
h3 { font-size: 1.0em; margin: 1.2em 0 0.3em; }
.meta { color: #555; font-size: 0.85em; margin-top: 0; }
.summary { font-size: 1.15em; font-weight: 600; margin: 0.6em 0 0.2em; }
.levels { margin: 0 0 0.8em; padding-left: 1.2em; color: #333; font-size: 0.9em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.4em 0 1em; }
th, td { border: 1px solid var(--border); padding: 0.25em 0.5em; text-align: right; vertical-align: top; }
th { background: #f0f0f0; position: relative; }
td.l, th.l { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; padding-right: 1.1em; }
table.sortable th::after { content: "\\2195"; position: absolute; right: 0.25em; color: #aaa; font-size: 0.85em; }
table.sortable th[data-dir="asc"]::after { content: "\\25B2"; color: #333; }
table.sortable th[data-dir="desc"]::after { content: "\\25BC"; color: #333; }
table.verdicts td.v { text-align: left; min-width: 9em; }
table.verdicts td.v b { font-weight: 600; }
td.v .rng, .muted { color: #555; font-size: 0.9em; }
td.v small { color: #444; }
.warn { color: #b35900; font-weight: 700; cursor: help; }
tr.unreliable td { background: #fff8e6; } tr.failed td { background: #fdecea; }
.legend { font-size: 0.82em; margin: 0.3em 0; }
.legend span.sw { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #999;
                  vertical-align: -0.1em; margin: 0 0.25em 0 0.8em; }
.toggle { font-size: 0.85em; margin: 0.3em 0; }
.toggle label { margin-right: 1em; cursor: pointer; }
nav.toc { background: #f8f8f8; border: 1px solid #e4e4e4; padding: 0.4em 1em; font-size: 0.88em; }
nav.toc ol { margin: 0.2em 0; padding-left: 1.4em; columns: 3; }
.chart { margin: 0.3em 0 0.6em; min-height: 40px; }
.note { font-size: 0.82em; color: #444; max-width: 70em; }
details > summary { cursor: pointer; font-size: 0.9em; color: #333; margin: 0.3em 0; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
#errors, #warnings { display: none; }
"""

# Before any other script: every error (and console warning) lands in a hidden element, so a headless
# browser's --dump-dom shows it (tests/test_report_browser.py).
_CAPTURE_JS = """
(function () {
  var log = {errors: [], warnings: []};
  window.__vibench = log;
  function put(kind, text) {
    log[kind].push(String(text));
    var el = document.getElementById(kind);
    if (el) { var p = document.createElement("p"); p.textContent = String(text); el.appendChild(p); }
  }
  window.addEventListener("error", function (e) { put("errors", "error: " + (e.message || e)); });
  window.addEventListener("unhandledrejection", function (e) {
    put("errors", "unhandled rejection: " + ((e.reason && e.reason.message) || e.reason)); });
  var err = console.error, warn = console.warn;
  console.error = function () { put("errors", "console.error: " + Array.prototype.join.call(arguments, " "));
                                return err.apply(console, arguments); };
  console.warn = function () { put("warnings", "console.warn: " + Array.prototype.join.call(arguments, " "));
                               return warn.apply(console, arguments); };
  window.__vibenchFlush = function () {
    ["errors", "warnings"].forEach(function (kind) {
      var el = document.getElementById(kind);
      if (el && !el.childElementCount) { log[kind].forEach(function (t) {
        var p = document.createElement("p"); p.textContent = t; el.appendChild(p); }); }
    });
  };
})();
"""

_PAGE_JS = """
(function () {
  window.__vibenchFlush();
  function key(cell) {
    var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
    if (v === "") return null;
    var n = Number(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }
  function sortBy(table, index, th) {
    var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", dir);
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index]), y = key(b.cells[index]);
      if (x === null || y === null) return (x === null) - (y === null);    // blanks last, either way
      if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;
      var c = x < y ? -1 : x > y ? 1 : 0;
      return dir === "asc" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, i) {
      th.tabIndex = 0;
      th.title = (th.title ? th.title + " - " : "") + "click to sort";
      th.addEventListener("click", function () { sortBy(table, i, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, i, th); });
    });
  });
  document.querySelectorAll("input[name=by]").forEach(function (input) {
    input.addEventListener("change", function () {
      document.querySelectorAll("[data-by]").forEach(function (el) {
        el.hidden = el.getAttribute("data-by") !== input.value; });
    });
  });
  var charts = document.querySelectorAll("div.chart[data-spec]");
  var done = 0, failed = 0;
  function finish() {
    document.body.setAttribute("data-charts", charts.length);
    document.body.setAttribute("data-charts-rendered", done);
    document.body.setAttribute("data-charts-failed", failed);
  }
  finish();
  if (!charts.length) return;
  if (typeof vegaEmbed !== "function") { console.error("vega-embed did not load"); return; }
  charts.forEach(function (el) {
    var spec = JSON.parse(document.getElementById(el.getAttribute("data-spec")).textContent);
    vegaEmbed(el, spec, {actions: false, renderer: "svg", tooltip: {theme: "light"}}).then(function () {
      done += 1; el.setAttribute("data-rendered", "1"); finish();
    }).catch(function (e) { failed += 1; console.error("chart " + el.id + ": " + e); finish(); });
  });
})();
"""


@functools.lru_cache(maxsize=1)
def vega_javascript() -> str:
    """The vega-embed + Vega-Lite + Vega bundle (one script, no imports), for the installed Altair's Vega-Lite."""
    try:
        import altair as alt
        import vl_convert as vlc
    except ImportError as exc:  # both are dependencies; a broken install says which
        raise VibenchError(f"the report needs altair and vl-convert-python: {exc}") from None
    version = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    try:
        return vlc.javascript_bundle(vl_version=version)
    except Exception:  # an Altair newer than the bundle: vl-convert's own newest Vega-Lite
        return vlc.javascript_bundle()


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


# ---------------------------------------------------------------------------------------------- verdicts

def _factor_html(r: pd.Series) -> tuple[str, str]:
    """The factor as shown in a verdict cell (with its range over seeds) and as plain text."""
    f, lo, hi = r["factor"], r["factor_lo"], r["factor_hi"]
    if r["bound"] == ">=":
        return f"&ge;&#8239;{_e(_x(f))}", f">= {_x(f)}"
    if not _finite(f):
        return "", ""
    rng = ""
    if _finite(lo) and _finite(hi) and lo != hi:
        rng = f"{_x(lo)}–{_x(hi)}"
    text = _x(f) + (f" [{rng}]" if rng else "")
    return _e(_x(f)) + (f' <span class="rng">[{_e(rng)}]</span>' if rng else ""), text


def _claim(r: pd.Series) -> str:
    """The cell's verdict in words (its tooltip)."""
    by = r["by"]
    if pd.isna(r["method"]):
        return f"{r['verdict']}: {r['note'] or _VERDICT_HELP.get(r['verdict'], '')}"
    who = f"{r['method']} [{_fmt(r['steps'])}] {_cost(r['cost'], by)} ({r['metric']} {_fmt(r['value'])})"
    if r["verdict"] == "unresolved":
        return f"unresolved: {who}, but {r['rival_method']} ({_cost(r['rival_cost'], by)}) is unresolved at lower cost"
    if r["metric"] == "kl":
        return f"{r['verdict']}: {who}; KL compares methods with a density only"
    if r["bound"] == "only":
        return f"{r['verdict']}: {who}; {r['note']}"
    if r["bound"] == ">=":
        return f"{r['verdict']}: {who}; >= {_x(r['factor'])} ({r['note']}: {r['rival_method']} {_cost(r['rival_cost'], by)})"
    _, factor = _factor_html(r)
    return (f"{r['verdict']}: {who} vs {r['rival_method']} [{_fmt(r['rival_steps'])}] {_cost(r['rival_cost'], by)}"
            f" = {factor} (rival cost / winner cost; range over seeds)")


def _suspects(c: pd.DataFrame, levels: Sequence) -> dict[tuple, list[tuple[float, str]]]:
    """``(task, size, level label, by) -> [(cost, description)]``: the unreliable cells that reached the level."""
    out: dict[tuple, list[tuple[float, str]]] = {}
    if c.empty:
        return out
    bad = c[~c["reliable"] & (c["n_seeds"] > 0)]
    if bad.empty:
        return out
    for level in levels:
        st = analysis.cell_states(bad, level)
        reached = bad[st == "reached"]
        for _, r in reached.iterrows():
            for by, col in analysis.COSTS.items():
                out.setdefault((r["task"], r["size"], level.label, by), []).append(
                    (r[col], f"{r['method']}[{r['budget']}] {_cost(r[col], by)}: {r['flags'] or 'not reliable'}"))
    return out


def _verdict_cell(r: pd.Series, suspects: list) -> _Cell:
    verdict = r["verdict"]
    color = VERDICT_COLORS.get(verdict, "#fff")
    sign = {"optimization": 1.0, "sampling": -1.0}.get(verdict)
    title = _claim(r)
    if pd.isna(r["method"]):
        body = f"<b>{_e(verdict)}</b>"
        if r["note"]:
            body += f"<br><small>{_e(r['note'])}</small>"
        sort = ""
    else:
        factor_html, _ = _factor_html(r)
        body = f"<b>{_e(r['method'])}</b>"
        if r["metric"] == "kl":
            body += f" {_e(_cost(r['cost'], r['by']))}"
        elif verdict == "unresolved":
            body += f"<br><small>{_e(r['rival_method'])} unresolved, cheaper</small>"
        elif r["bound"] == "only":
            body += f' <span class="muted">only</span><br><small>{_e(r["note"])}</small>'
        else:
            body += f" {factor_html}<br><small>{'tie ' if verdict == 'tie' else ''}vs {_e(r['rival_method'])}</small>"
        f = r["factor"]
        if verdict == "tie":
            sort = 0.0
        elif sign is None:
            sort = ""
        elif r["bound"] == "only" or not _finite(f):
            sort = sign * 99.0
        else:
            sort = sign * math.log10(max(f, 1e-300))
    cheaper = [text for cost, text in suspects if not _finite(r["cost"]) or (_finite(cost) and cost < r["cost"])]
    if cheaper:
        body += (f' <span class="warn" title="{_e("unreliable, reached it cheaper (not trusted): " + "; ".join(cheaper))}">'
                 f"&#9888;</span>")
        title += " | unreliable cells that reached it cheaper: " + "; ".join(cheaper)
    return _Cell(body, sort, "v", title, f"background:{color}")


def _verdict_tables(v: pd.DataFrame, c: pd.DataFrame, levels: Sequence) -> str:
    if v.empty:
        return "<p class=\"muted\">(no finished cells)</p>"
    suspects = _suspects(c, levels)
    labels = [lv.label for lv in levels if lv.metric != "kl"] + [lv.label for lv in levels if lv.metric == "kl"]
    help_level = {"moments": "every coordinate's mean and sd within t posterior sds",
                  "dist": "sliced W1 distance to the truth within t posterior sds",
                  "kl": "KL(q||p) within t nats: methods with a density only (samplers have none)"}
    metric_of = {lv.label: lv.metric for lv in levels}
    headers = [("task", ""), ("size", ""), ("dim", "")] + [
        (lab.replace("<=", " ≤ "), help_level[metric_of[lab]]) for lab in labels] + [
        ("unreliable / failed cells", "cells that failed a diagnostics gate or did not finish: never winners")]
    bad = c[~c["reliable"]] if not c.empty else c
    out = []
    for by, name in (("time", "fit time"), ("evals", "density evaluations (n_grad + n_logp)")):
        w = v[v["by"] == by]
        rows = []
        for (task, size), g in w.sort_values(["task", "dim", "size"], kind="stable").groupby(["task", "size"],
                                                                                              sort=False):
            byl = {r["level"]: r for _, r in g.iterrows()}
            dim = g["dim"].iloc[0]
            cells = [_Cell(f'<a href="#task-{_slug(task)}">{_e(task)}</a>', task, "l"), _text_cell(size),
                     _num_cell(dim)]
            for lab in labels:
                r = byl.get(lab)
                cells.append(_verdict_cell(r, suspects.get((task, size, lab, by), [])) if r is not None else
                             _Cell("", ""))
            b = bad[(bad["task"] == task) & (bad["size"] == size)] if not bad.empty else bad
            n_failed = int((b["n_seeds"] == 0).sum()) if len(b) else 0
            n_unrel = len(b) - n_failed
            parts = ([f"{n_unrel} unreliable"] if n_unrel else []) + ([f"{n_failed} failed"] if n_failed else [])
            tip = "; ".join(f"{r['method']}[{r['budget']}]: {r['flags'] or 'failed'}" for _, r in b.iterrows())
            cells.append(_Cell(_e(", ".join(parts)) if parts else '<span class="muted">none</span>',
                               len(b), "l", tip))
            rows.append(("", cells))
        hidden = "" if by == "time" else " hidden"
        out.append(f'<div data-by="{by}"{hidden}><p class="note">By {_e(name)}: the cheapest reliable cell that '
                   f"reaches each level; factor = the other kind's cheapest reaching cost / the winner's "
                   f"[its range over seeds]; &#9888; = an unreliable cell reached it cheaper (not trusted). "
                   f"Hover a cell for the full claim.</p>"
                   + _table(headers, rows, cls="sortable verdicts", id_=f"verdicts-{by}") + "</div>")
    legend = '<div class="legend">verdict:' + "".join(
        f'<span class="sw" style="background:{col}" title="{_e(_VERDICT_HELP[k])}"></span>{_e(k)}'
        for k, col in VERDICT_COLORS.items()) + "</div>"
    toggle = ('<div class="toggle">cost: <label><input type="radio" name="by" value="time" checked> fit time (s)'
              '</label><label><input type="radio" name="by" value="evals"> density evaluations</label></div>')
    return toggle + legend + "\n".join(out)


# ---------------------------------------------------------------------------------------------- cells

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


# ---------------------------------------------------------------------------------------------- page

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
