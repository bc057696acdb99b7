"""The report's verdict table: a row per task x size, a column per level, a coloured cell per verdict.

Each cell names the winner and its factor over the other kind, with the
factor's range over seeds; its tooltip says the whole claim in words. There
are two tables, by fit time and by density evaluations, one shown at a time
(the toggle). A warning sign marks a cell where an *unreliable* cell reached
the level cheaper than the winner: it is not trusted, so it does not win, but
it is shown. The rules behind a verdict are :mod:`vibench.analysis`'s.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from . import analysis
from .report_html import _Cell, _cost, _e, _finite, _fmt, _num_cell, _slug, _table, _text_cell, _x

__all__ = ["VERDICT_COLORS"]

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
        return f"unresolved: {who}, but {r['rival_method']} ({_cost(r['rival_cost'], by)}) is unresolved at no higher cost"
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
