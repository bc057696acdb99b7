"""The numbers the report's charts draw: one record per cell, the Pareto front, log-log slopes.

:func:`chart_data` turns the cells of :func:`vibench.analysis.cells` into
the charts' table (states, markers, 2-SE bounds, the seed range of fit
time); :func:`pareto_mask` picks the non-dominated cells; :func:`slopes`
fits ``log y`` on ``log dim`` at each method's largest budget. No Altair
here: :mod:`vibench.report_charts` draws these.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["EXACT_KL", "chart_data", "pareto_mask", "loglog_slope", "scaling_table", "slopes"]

#: |KL| at or below this, from a closed form, is an exact result (float round-off of 0).
EXACT_KL = 1e-9
#: The ``marker`` column's entries (the shape legend), by kind; ``exact`` for an exact result.
_MARKERS = {"optimization": "optimization", "sampling": "sampling", "other": "other (plugin family)",
            "exact": "exact (KL = 0, closed form)"}


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(float(x))


def _seed_range(d) -> tuple[float, float]:
    vals = [float(v) for v in (d or {}).values() if _finite(v)]
    return (min(vals), max(vals)) if vals else (math.nan, math.nan)


def chart_data(c: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """One record per cell for the charts: the cells of :func:`vibench.analysis.cells` plus plot columns.

    Adds ``budget_label``, ``state`` (``reliable``/``unreliable``/``failed``),
    ``marker`` (the shape legend's entry), ``exact``, 2-SE bounds ``dist_lo``
    and ``dist_hi``, the seed range of fit time ``time_lo``/``time_hi``,
    ``kl_lo``/``kl_hi``, ``wall_s`` (median over seeds, every status) and
    ``error`` (the first error message of a failed seed).
    """
    if c.empty:
        return pd.DataFrame()
    d = c.copy()
    ran = df[df["status"] != "unsupported"].copy()
    from .analysis import budget_label

    ran["budget"] = ran["budget"].map(budget_label)
    ran["wall_s"] = pd.to_numeric(ran["wall_s"], errors="coerce")
    keys = ["task", "size", "method", "budget"]
    extra = ran.groupby(keys, sort=False).agg(
        wall_s=("wall_s", "median"),
        statuses=("status", lambda s: ", ".join(f"{k} {v}" for k, v in s.value_counts().items())),
        error=("error", lambda s: next((str(e) for e in s if isinstance(e, str) and e), "")),
    ).reset_index()
    d = d.merge(extra, on=keys, how="left")
    d["budget_label"] = d["budget"].astype(str)
    d["state"] = np.where(d["n_seeds"] == 0, "failed", np.where(d["reliable"], "reliable", "unreliable"))
    exact = (d["kl_estimator"] == "closed-form") & (d["kl"].abs() <= EXACT_KL)
    d["exact"] = exact.fillna(False).astype(bool)
    d["marker"] = [_MARKERS["exact"] if e else _MARKERS.get(k, _MARKERS["other"]) for e, k in zip(d["exact"], d["kind"])]
    two = 2 * d["dist_se"].fillna(0.0)
    d["dist_lo"], d["dist_hi"] = d["dist"] - two, d["dist"] + two
    two_kl = 2 * d["kl_se"].fillna(0.0)
    d["kl_lo"], d["kl_hi"] = d["kl"] - two_kl, d["kl"] + two_kl
    rng = [_seed_range(s) for s in d["seed_time"]]
    d["time_lo"] = [r[0] for r in rng]
    d["time_hi"] = [r[1] for r in rng]
    d["flags"] = d["flags"].fillna("").replace("", "none")
    d["seeds"] = [f"{int(a)} of {int(b)} ok" for a, b in zip(d["n_seeds"], d["n_runs"])]
    d["rest"] = d["size"].map(lambda s: ",".join(p for p in str(s).split(",") if not p.startswith("dim=")))
    return d


def pareto_mask(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
    """True for the non-dominated points (no other point is at most as costly and more accurate)."""
    order = np.lexsort((value, cost))
    keep = np.zeros(len(cost), dtype=bool)
    best = math.inf
    for i in order:
        if value[i] < best:
            keep[i] = True
            best = value[i]
    return keep


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, int]:
    """Least-squares ``log10 y = a + b log10 x`` over the positive finite points: ``(b, a, n)``, NaNs under 2 sizes."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if len(np.unique(x[ok])) < 2:
        return math.nan, math.nan, int(ok.sum())
    b, a = np.polyfit(np.log10(x[ok]), np.log10(y[ok]), 1)
    return float(b), float(a), int(ok.sum())


def scaling_table(d: pd.DataFrame, task: str) -> pd.DataFrame:
    """Each method's largest-budget cell per size (the scaling chart's points): task rows only, by dim."""
    t = d[(d["task"] == task) & (d["state"] != "failed")]
    if t.empty:
        return t
    last = t.sort_values(["steps"], kind="stable").groupby(["size", "method"], sort=False).tail(1)
    return last.sort_values(["method", "rest", "dim"], kind="stable")


def slopes(d: pd.DataFrame, task: str) -> pd.DataFrame:
    """Fitted log-log slopes against dim of fit time and dist, per method (and other size setting)."""
    last = scaling_table(d, task)
    rows = []
    for (method, rest), g in last.groupby(["method", "rest"], sort=True):
        bt, at, nt = loglog_slope(g["dim"], g["cost_time"])
        bd, ad, nd = loglog_slope(g["dim"], g["dist"])
        rows.append({"method": method, "rest": rest, "time_slope": bt, "time_icpt": at, "dist_slope": bd,
                     "dist_icpt": ad, "n": max(nt, nd), "dim_lo": g["dim"].min(), "dim_hi": g["dim"].max()})
    return pd.DataFrame(rows)
