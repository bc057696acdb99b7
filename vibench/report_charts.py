"""The report's interactive charts: Vega-Lite specifications built with Altair, one task at a time.

Every function takes the tables of :mod:`vibench.analysis` (and the rows) and
returns a Vega-Lite spec as a plain dict, or ``None`` when there is nothing to
draw; :mod:`vibench.report` embeds them with the Vega JavaScript inline. The
numbers they draw (the per-cell table, the Pareto front, the fitted slopes)
are :mod:`vibench.report_data`'s, importable from here as before.

Conventions, the same in every chart of a report:

* colour = method (one scale over the whole report, so a method keeps its
  colour from task to task); shape = kind (circle optimization, square
  sampling, diamond a plugin's other family); a star is an *exact* result
  (a closed-form KL of 0: the approximation is the posterior);
* filled = reliable, hollow = unreliable (failed a diagnostics gate; the
  flags are in the tooltip); a red cross = a cell that failed (error or
  timeout), drawn at the top edge at the wall time it took, its error in the
  tooltip;
* bars are 2 SE (accuracy: mean over seeds) and the range over seeds (cost:
  median over seeds);
* clicking a method in the legend highlights it; scroll to zoom, drag to pan.

KL is drawn on a log axis only where it is positive; exact and non-positive
KLs (closed form 0, or a Monte Carlo estimate at or below 0) go to a strip of
their own under the chart, one row per method, so they neither sit on a clip
line nor hide each other.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from .report_data import (EXACT_KL, _MARKERS, _finite, chart_data, loglog_slope, pareto_mask,  # noqa: F401
                          scaling_table, slopes)

__all__ = ["EXACT_KL", "chart_data", "accuracy_vs_cost", "kl_vs_cost", "scaling", "loglog_slope", "KIND_SHAPES"]


def _star() -> str:
    """A five-pointed star as an SVG path in Vega's unit symbol box (Vega has no built-in star)."""
    pts = []
    for i in range(10):
        r, a = (1.0 if i % 2 == 0 else 0.42), math.pi * (i / 5 - 0.5)
        pts.append(f"{r * math.cos(a):.3f},{r * math.sin(a):.3f}")
    return "M" + "L".join(pts) + "Z"


KIND_SHAPES = {"optimization": "circle", "sampling": "square", "other": "diamond", "exact": _star()}
_WIDTH, _HEIGHT = 280, 210
_FAIL_COLOR = "#222222"


def _alt():
    import altair as alt

    return alt


def _records(d: pd.DataFrame, cols: Sequence[str]) -> list[dict]:
    """JSON-safe records (NaN and inf become null)."""
    out = []
    for rec in d[list(cols)].to_dict("records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, (np.floating, float)):
                v = float(v) if math.isfinite(v) else None
            elif isinstance(v, (np.integer,)):
                v = int(v)
            elif isinstance(v, (np.bool_,)):
                v = bool(v)
            clean[k] = v
        out.append(clean)
    return out


def _color(alt, methods: Sequence[str]):
    return alt.Color("method:N", title="method", scale=alt.Scale(domain=list(methods), scheme="tableau10"),
                     legend=alt.Legend(orient="right"))


def _shape(alt):
    return alt.Shape("marker:N", title="kind", scale=alt.Scale(domain=list(_MARKERS.values()),
                                                                range=list(KIND_SHAPES.values())))


def _fill_color(alt, methods: Sequence[str]):
    return alt.Fill("method:N", title="method", scale=alt.Scale(domain=list(methods), scheme="tableau10"))


def _fill(alt):
    return alt.FillOpacity("state:O", title="diagnostics", sort=["reliable", "unreliable"],
                           scale=alt.Scale(domain=["reliable", "unreliable"], range=[0.9, 0.0]))


def _tooltip(alt, extra: Sequence = ()):
    return [alt.Tooltip("method:N"), alt.Tooltip("budget_label:N", title="budget (steps)"),
            alt.Tooltip("size:N"), alt.Tooltip("kind:N"), alt.Tooltip("state:N", title="diagnostics"),
            alt.Tooltip("flags:N", title="flags"), alt.Tooltip("seeds:N"),
            alt.Tooltip("cost_time:Q", title="fit time (s, median)", format=".3g"),
            alt.Tooltip("cost_evals:Q", title="density evaluations (median)", format=",.0f"),
            alt.Tooltip("dist:Q", title="dist (sds, mean)", format=".3g"),
            alt.Tooltip("dist_se:Q", title="dist SE", format=".2g"),
            alt.Tooltip("dist_floor:Q", title="dist floor (sds)", format=".3g"),
            alt.Tooltip("moments:Q", title="moment error (sds)", format=".3g"),
            alt.Tooltip("kl:Q", title="KL (nats)", format=".3g"), alt.Tooltip("kl_estimator:N", title="KL estimator"),
            *extra]


_TIP_COLS = ["method", "budget_label", "size", "kind", "state", "flags", "seeds", "cost_time", "cost_evals", "dist",
             "dist_se", "dist_floor", "moments", "kl", "kl_estimator", "marker", "exact", "steps", "dim", "rest"]


def _log_domain(values: Sequence[float], pad: float = 1.6) -> list[float]:
    vals = [float(v) for v in values if _finite(v) and v > 0]
    if not vals:
        return [1e-3, 1.0]
    return [min(vals) / pad, max(vals) * pad]


def _legend_selection(alt, name: str):
    return alt.selection_point(name=name, fields=["method"], bind="legend")


def accuracy_vs_cost(d: pd.DataFrame, task: str, methods: Sequence[str], dist_levels: Sequence[float] = (),
                     uid: str = "a") -> dict | None:
    """``dist`` (2-SE bars, floor ticks) against fit time, a panel per size, with the Pareto front of reliable cells."""
    alt = _alt()
    t = d[d["task"] == task].sort_values(["dim", "size"], kind="stable")
    if t.empty:
        return None
    sel = _legend_selection(alt, f"pick_{uid}")
    opacity = alt.when(sel).then(alt.value(1.0)).otherwise(alt.value(0.15))
    panels = []
    for size in dict.fromkeys(t["size"]):
        g = t[t["size"] == size]
        ok = g[(g["state"] != "failed") & g["dist"].notna() & (g["cost_time"] > 0)].copy()
        failed = g[g["state"] == "failed"].copy()
        reliable = ok[ok["state"] == "reliable"]
        front = reliable.iloc[np.flatnonzero(pareto_mask(reliable["cost_time"].to_numpy(),
                                                          reliable["dist"].to_numpy()))]
        y_dom = _log_domain(list(ok["dist_hi"]) + list(ok["dist_floor"]) + list(ok["dist"]) + list(dist_levels))
        x_dom = _log_domain(list(ok["time_lo"]) + list(ok["time_hi"]) + list(ok["cost_time"]) + list(failed["wall_s"]))
        ok["dist_lo_plot"] = np.maximum(ok["dist_lo"], y_dom[0])
        failed["y_top"] = y_dom[1]
        failed["x_fail"] = failed["wall_s"].where(failed["wall_s"] > 0, x_dom[1])
        X = _axis(alt.X, alt.Scale(type="log", domain=x_dom), "fit time (s, log scale; bars: range over seeds)")
        Y = _axis(alt.Y, alt.Scale(type="log", domain=y_dom), "dist to the truth (posterior sds, log scale; bars: 2 SE)")
        base = alt.Chart(alt.Data(values=_records(ok, _TIP_COLS + ["dist_hi", "dist_lo_plot", "time_lo", "time_hi"])))
        color = _color(alt, methods)
        layers = [
            base.mark_rule(strokeWidth=1.2).encode(x=X("cost_time"), y=Y("dist_lo_plot"), y2="dist_hi:Q", color=color,
                                                    opacity=opacity),
            base.mark_rule(strokeWidth=1.2).encode(x=X("time_lo"), x2="time_hi:Q", y=Y("dist"), color=color,
                                                    opacity=opacity),
            base.mark_point(shape="stroke", size=160, strokeWidth=2).encode(
                x=X("cost_time"), y=Y("dist_floor"), color=color,
                opacity=alt.when(sel).then(alt.value(0.55)).otherwise(alt.value(0.1)),
                tooltip=[alt.Tooltip("method:N"), alt.Tooltip("budget_label:N", title="budget (steps)"),
                         alt.Tooltip("dist_floor:Q", title="floor: what exact draws score (sds)", format=".3g")]),
            base.mark_point(size=70, strokeWidth=1.8).encode(
                x=X("cost_time"), y=Y("dist"), color=color, fill=_fill_color(alt, methods), shape=_shape(alt),
                fillOpacity=_fill(alt), opacity=opacity, tooltip=_tooltip(alt)),
        ]
        if len(front):  # a step line from the cheapest reliable cell on, carried to the right edge
            steps = _records(front.sort_values("cost_time"), ["cost_time", "dist"])
            steps.append({"cost_time": x_dom[1], "dist": steps[-1]["dist"]})
            layers.append(alt.Chart(alt.Data(values=steps))
                          .mark_line(interpolate="step-after", color="black", strokeWidth=1, opacity=0.6)
                          .encode(x=X("cost_time"), y=Y("dist"), order="cost_time:Q"))
        if dist_levels:
            lv = alt.Chart(alt.Data(values=[{"t": t_, "label": f"dist <= {t_:g}"} for t_ in dist_levels]))
            layers.append(lv.mark_rule(strokeDash=[3, 3], color="grey").encode(y=Y("t")))
            layers.append(lv.mark_text(align="left", baseline="bottom", dx=3, color="grey", fontSize=9)
                          .encode(y=Y("t"), x=alt.value(0), text="label:N"))
        if len(failed):
            fcols = ["method", "budget_label", "size", "statuses", "error", "wall_s", "x_fail", "y_top"]
            layers.append(alt.Chart(alt.Data(values=_records(failed, fcols))).mark_point(
                shape="cross", size=120, angle=45, color=_FAIL_COLOR, filled=True).encode(
                x=X("x_fail"), y=Y("y_top"),
                tooltip=[alt.Tooltip("method:N"), alt.Tooltip("budget_label:N", title="budget (steps)"),
                         alt.Tooltip("statuses:N", title="failed"), alt.Tooltip("error:N"),
                         alt.Tooltip("wall_s:Q", title="wall time (s, median)", format=".3g")]))
        panels.append(alt.layer(*layers).properties(width=_WIDTH, height=_HEIGHT, title=f"{task} {size}"))
    return _finish(_panels(alt, panels).add_params(sel))


def _axis(channel, scale, title: str):
    """``f(field)`` -> a quantitative channel on one shared scale and title (every layer must agree on both)."""
    return lambda field: channel(f"{field}:Q", scale=scale, title=title)


def _panels(alt, panels: list, per_row: int = 3):
    """Panels side by side, ``per_row`` a row, each with its own axes.

    Rows of ``hconcat`` inside a ``vconcat``, not a wrapped ``concat``: Vega
    5/6 in a browser lays a wrapped concat out at width 0 (vl-convert does not).
    """
    rows = [alt.hconcat(*panels[i:i + per_row]).resolve_scale(x="independent", y="independent")
            for i in range(0, len(panels), per_row)]
    return rows[0] if len(rows) == 1 else alt.vconcat(*rows).resolve_scale(x="independent", y="independent")


def kl_vs_cost(d: pd.DataFrame, task: str, methods: Sequence[str], kl_levels: Sequence[float] = (),
               uid: str = "k") -> dict | None:
    """KL(q||p) against fit time for methods with a density; exact and non-positive KLs in a strip below."""
    alt = _alt()
    t = d[(d["task"] == task) & d["kl"].notna() & (d["cost_time"] > 0)].sort_values(["dim", "size"], kind="stable")
    if t.empty:
        return None
    t = t.copy()
    t["positive"] = (t["kl"] > EXACT_KL) & ~t["exact"]
    t["kl_note"] = np.where(t["exact"], "exact: KL = 0 (closed form)",
                            np.where(t["positive"], "", "KL <= 0: a Monte Carlo estimate within its noise of 0"))
    sel = _legend_selection(alt, f"pick_{uid}")
    opacity = alt.when(sel).then(alt.value(1.0)).otherwise(alt.value(0.15))
    color = _color(alt, methods)
    cols = _TIP_COLS + ["kl_hi", "kl_lo_plot", "kl_note", "time_lo", "time_hi"]
    panels = []
    for size in dict.fromkeys(t["size"]):
        g = t[t["size"] == size].copy()
        pos, low = g[g["positive"]].copy(), g[~g["positive"]].copy()
        x_dom = _log_domain(list(g["cost_time"]))
        X = _axis(alt.X, alt.Scale(type="log", domain=x_dom), "fit time (s, log scale)")
        parts = []
        if len(pos):
            y_dom = _log_domain(list(pos["kl_hi"]) + list(pos["kl"]) + list(kl_levels))
            pos["kl_lo_plot"] = np.maximum(pos["kl_lo"], y_dom[0])
            Y = _axis(alt.Y, alt.Scale(type="log", domain=y_dom), "KL(q||p) (nats, log scale; bars: 2 SE)")
            base = alt.Chart(alt.Data(values=_records(pos, cols)))
            layers = [
                base.mark_rule().encode(x=X("cost_time"), y=Y("kl_lo_plot"), y2="kl_hi:Q", color=color,
                                        opacity=opacity),
                base.mark_point(size=70, strokeWidth=1.8).encode(
                    x=X("cost_time"), y=Y("kl"), color=color, fill=_fill_color(alt, methods), shape=_shape(alt),
                    fillOpacity=_fill(alt), opacity=opacity, tooltip=_tooltip(alt)),
            ]
            if kl_levels:
                lv = alt.Chart(alt.Data(values=[{"t": t_, "label": f"KL <= {t_:g}"} for t_ in kl_levels]))
                layers.append(lv.mark_rule(strokeDash=[3, 3], color="grey").encode(y=Y("t")))
                layers.append(lv.mark_text(align="left", baseline="bottom", dx=3, color="grey", fontSize=9)
                              .encode(y=Y("t"), x=alt.value(0), text="label:N"))
            parts.append(alt.layer(*layers).properties(width=_WIDTH, height=_HEIGHT - 40, title=f"{task} {size}"))
        if len(low):
            low["kl_hi"], low["kl_lo_plot"] = np.nan, np.nan
            strip = alt.Chart(alt.Data(values=_records(low, cols))).mark_point(size=110, strokeWidth=1.5).encode(
                x=X("cost_time"), y=alt.Y("method:N", title=None, sort=list(methods)),
                color=color, fill=_fill_color(alt, methods), shape=_shape(alt), fillOpacity=_fill(alt),
                opacity=opacity, tooltip=[alt.Tooltip("kl_note:N", title="KL"), *_tooltip(alt)])
            title = "KL = 0 (exact) or <= 0 (MC noise)"
            parts.append(strip.properties(width=_WIDTH, height=18 * low["method"].nunique(),
                                          title=alt.TitleParams(title if len(pos) else f"{task} {size}: {title}",
                                                                fontSize=10 if len(pos) else 12)))
        panels.append(parts[0] if len(parts) == 1 else alt.vconcat(*parts, spacing=4).resolve_scale(x="shared"))
    return _finish(_panels(alt, panels).add_params(sel))


def scaling(d: pd.DataFrame, task: str, methods: Sequence[str], uid: str = "s") -> dict | None:
    """Fit time and dist against dim at each method's largest budget, log-log, with fitted slopes."""
    alt = _alt()
    last = scaling_table(d, task)
    if last.empty or last["dim"].nunique() < 2:
        return None
    sl = slopes(d, task)
    last = last.copy()
    last["series"] = last["method"] + last["rest"].map(lambda r: f" {r}" if r else "")
    sel = _legend_selection(alt, f"pick_{uid}")
    opacity = alt.when(sel).then(alt.value(1.0)).otherwise(alt.value(0.15))
    color = _color(alt, methods)
    X = _axis(alt.X, alt.Scale(type="log", domain=[last["dim"].min() / 1.3, last["dim"].max() * 1.6]),
              "dimension (log scale)")
    panels = []
    for value, lo, hi, title, what in (
            ("cost_time", "time_lo", "time_hi", "fit time (s, log scale; bars: range over seeds)", "time"),
            ("dist", "dist_lo_plot", "dist_hi", "dist (posterior sds, log scale; bars: 2 SE)", "dist")):
        g = last[last[value].notna() & (last[value] > 0)].copy()
        if g.empty:
            continue
        y_dom = _log_domain(list(g[value]) + list(g[hi]) + (list(g["time_lo"]) if value == "cost_time" else []))
        g["dist_lo_plot"] = np.maximum(g["dist_lo"], y_dom[0])
        Y = _axis(alt.Y, alt.Scale(type="log", domain=y_dom), title)
        base = alt.Chart(alt.Data(values=_records(g, _TIP_COLS + ["series", "dist_hi", "dist_lo_plot", "time_lo",
                                                                    "time_hi"])))
        fits = []
        for _, s in sl.iterrows():
            b, a = s[f"{what}_slope"], s[f"{what}_icpt"]
            if not _finite(b):
                continue
            series = s["method"] + (f" {s['rest']}" if s["rest"] else "")
            for dim in (s["dim_lo"], s["dim_hi"]):
                fits.append({"method": s["method"], "series": series, "dim": float(dim),
                             "fit": 10 ** (a + b * math.log10(dim)), "slope": b,
                             "label": f"slope {b:.2f}" if dim == s["dim_hi"] else ""})
        layers = [
            base.mark_rule().encode(x=X("dim"), y=Y(lo), y2=f"{hi}:Q", color=color, opacity=opacity),
            base.mark_point(size=60, strokeWidth=1.8).encode(
                x=X("dim"), y=Y(value), color=color, fill=_fill_color(alt, methods), shape=_shape(alt),
                fillOpacity=_fill(alt), opacity=opacity, tooltip=_tooltip(alt)),
        ]
        if fits:
            fit = alt.Chart(alt.Data(values=fits))
            layers.append(fit.mark_line(strokeDash=[4, 2], strokeWidth=1.5).encode(
                x=X("dim"), y=Y("fit"), color=color, detail="series:N", opacity=opacity,
                tooltip=[alt.Tooltip("series:N", title="method"),
                         alt.Tooltip("slope:Q", title=f"fitted log-log slope of {what} on dim", format=".2f")]))
            layers.append(fit.transform_filter("datum.label != ''").mark_text(align="left", dx=5, fontSize=9).encode(
                x=X("dim"), y=Y("fit"), text="label:N", color=color, opacity=opacity))
        name = "cost" if value == "cost_time" else "accuracy"
        panels.append(alt.layer(*layers).properties(width=_WIDTH, height=_HEIGHT,
                                                    title=f"{task}: {name} against size (largest budget)"))
    if not panels:
        return None
    return _finish(alt.hconcat(*panels).resolve_scale(y="independent").add_params(sel))


def _finish(chart) -> dict:
    spec = chart.configure_axis(labelFontSize=10, titleFontSize=10).configure_axisQuantitative(
        format="~g", labelOverlap="greedy", labelSeparation=6).configure_legend(
        labelFontSize=10, titleFontSize=10, symbolSize=60).configure_title(fontSize=12).to_dict()
    spec.pop("$schema", None)  # never fetched; kept out so the page names no remote address
    return spec
