"""The answer a run gives: who wins at each task, size and KL threshold, and by how much.

Pure functions of the rows :func:`vibench.load` returns; nothing here prints.

Rules (the same in the tables, the text and the report):

* **Cells.** Only ``status == "ok"`` rows count. Seeds are aggregated by the
  median per (task, size, method, budget); ``n_seeds`` says how many were ok.
* **Kinds.** Families in :data:`~vibench.method.OPTIMIZATION_FAMILIES` are
  ``optimization``, those in :data:`~vibench.method.SAMPLING_FAMILIES` are
  ``sampling``, any other (a plugin's new family) is ``other``.
* **Reaching a threshold.** A cell reaches ``t`` when its median KL is below
  ``t``. A ``gaussian-moments`` KL only compares the first two moments, so such
  a cell must also have ``mean_err <= 0.1`` and ``sd_err <= 0.1``
  (:data:`MOMENT_TOL`), and its KL is compared *less* its estimator floor
  ``kl_floor`` (about d(d+3)/(4 ESS)): that floor is the bias of fitting a
  Gaussian to a finite sample, which exact iid draws have too (1.3 nats at
  d = 100 with 2,000 draws), not an inaccuracy of the sampler. Both numbers
  stay side by side in the tables.
* **Costs.** ``time`` is ``fit_s``, the method's own time (``wall_s`` also
  counts the evaluation against the truth; it is used only where ``fit_s`` is
  missing). ``evals`` is ``n_grad + n_logp``: every evaluation of the log
  density, with or without its gradient, counts once. This puts gradient-free
  samplers (emcee: ``n_grad = 0``) and gradient methods on one scale; with
  reverse-mode AD a gradient costs a small constant times a value, so the
  count favours gradient methods by at most that constant.
* **Winner and factor.** The winner is the cheapest cell that reaches the
  threshold (ties: lower KL, then name). Its rival is the cheapest cell of the
  other kind (optimization <-> sampling; ``other`` is compared with both) that
  also reaches it; ``factor = rival cost / winner cost``, ``inf`` when the
  other kind never reaches the threshold (``note`` says so).
* **Crossover.** Per task, sizes are ordered by ``dim`` (then by name); a
  crossover is a size whose winning kind differs from the previous size with
  a winner, for the same threshold and cost.
* **Floor.** A method's accuracy floor on a task and size is its median KL at
  its largest budget that ran; ``plateau`` says whether it moved less than
  10 % (or 0.01 nats) from the budget before, i.e. whether more budget would
  not help (mean-field VI on a correlated Gaussian stops at its optimum).
"""

from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .method import OPTIMIZATION_FAMILIES, SAMPLING_FAMILIES

__all__ = ["DEFAULT_THRESHOLDS", "MOMENT_TOL", "kind_of", "cells", "winners", "crossovers", "floors",
           "thresholds_of", "answer_text"]

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.01, 0.1, 1.0)
#: Moment-error tolerance required of a ``gaussian-moments`` KL cell.
MOMENT_TOL = 0.1
COSTS = {"time": "cost_time", "evals": "cost_evals"}
CELL_COLUMNS = ["task", "size", "dim", "method", "family", "kind", "budget", "steps", "n_seeds", "kl",
                "kl_estimator", "kl_floor", "mean_err", "sd_err", "fit_s", "n_grad", "n_logp", "cost_time",
                "cost_evals"]
WINNER_COLUMNS = ["task", "size", "dim", "threshold", "by", "kind", "method", "family", "steps", "cost", "kl",
                  "kl_estimator", "rival_method", "rival_family", "rival_steps", "rival_cost", "factor", "note"]
_RIVALS = {"optimization": ("sampling",), "sampling": ("optimization",), "other": ("optimization", "sampling")}
_NUMERIC = ["dim", "steps", "kl", "kl_floor", "mean_err", "sd_err", "fit_s", "wall_s", "n_grad", "n_logp"]


def kind_of(family: str | None) -> str:
    """``"optimization"``, ``"sampling"`` or ``"other"`` for a method family."""
    if family in OPTIMIZATION_FAMILIES:
        return "optimization"
    return "sampling" if family in SAMPLING_FAMILIES else "other"


def _budget_label(b) -> str:
    if not isinstance(b, dict):
        return str(b)
    return str(b.get("steps")) + (f"/{b['max_seconds']}s" if b.get("max_seconds") else "")


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, size, method, budget): medians over the ok seeds.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows as returned by :func:`vibench.load`.

    Returns
    -------
    pandas.DataFrame
        :data:`CELL_COLUMNS`, ordered by task, dim, size, method, steps.
        ``cost_time`` is ``fit_s`` (``wall_s`` where ``fit_s`` is missing),
        ``cost_evals`` is ``n_grad + n_logp``.
    """
    work = df[df["status"] == "ok"].copy() if "status" in df else df.iloc[:0]
    if work.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    if "size" not in work:
        work["size"] = work["params"].map(lambda p: ",".join(f"{k}={v}" for k, v in sorted(p.items())))
    work["steps"] = work["budget"].map(lambda b: b.get("steps") if isinstance(b, dict) else b)
    work["budget"] = work["budget"].map(_budget_label)
    for col in _NUMERIC:
        work[col] = pd.to_numeric(work[col], errors="coerce") if col in work else np.nan
    work["fit_s"] = work["fit_s"].fillna(work["wall_s"])
    agg = {c: (c, "median") for c in _NUMERIC if c != "wall_s"}
    out = work.groupby(["task", "size", "method", "budget"], sort=False).agg(
        family=("family", "first"), kl_estimator=("kl_estimator", "first"), n_seeds=("status", "size"), **agg
    ).reset_index()
    out["kind"] = out["family"].map(kind_of)
    out["cost_time"] = out["fit_s"]
    out["cost_evals"] = out["n_grad"].fillna(0) + out["n_logp"].fillna(0)
    out = out.sort_values(["task", "dim", "size", "method", "steps"], kind="stable").reset_index(drop=True)
    return out[CELL_COLUMNS]


def _reaches(c: pd.DataFrame, threshold: float) -> pd.Series:
    moments = c["kl_estimator"] == "gaussian-moments"
    moments_ok = (c["mean_err"] <= MOMENT_TOL) & (c["sd_err"] <= MOMENT_TOL)
    kl = c["kl"] - c["kl_floor"].where(moments, 0.0).fillna(0.0)
    return (kl < threshold) & (~moments | moments_ok)


def _cheapest(c: pd.DataFrame, cost: str) -> pd.Series | None:
    c = c[c[cost].notna()]
    return None if c.empty else c.sort_values([cost, "kl", "method", "steps"], kind="stable").iloc[0]


def winners(df: pd.DataFrame, thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """The cheapest cell reaching each threshold, by time and by evaluations.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows as returned by :func:`vibench.load`.
    thresholds : iterable of float
        KL thresholds (nats).

    Returns
    -------
    pandas.DataFrame
        One row per task x size x threshold x cost (``by`` is ``"time"`` or
        ``"evals"``), columns :data:`WINNER_COLUMNS`. ``kind`` and ``method``
        are missing when no cell reached the threshold; ``note`` then names
        the lowest KL any cell got.
    """
    ts = sorted({float(x) for x in thresholds})
    rows = [_winner(group, t, by) for _, group in cells(df).groupby(["task", "size"], sort=False)
            for t in ts for by in COSTS]
    return pd.DataFrame(rows, columns=WINNER_COLUMNS)


def _winner(group: pd.DataFrame, t: float, by: str) -> dict:
    """The winners row for one task x size (a group of :func:`cells`), threshold and cost."""
    cost, first = COSTS[by], group.iloc[0]
    row = dict.fromkeys(WINNER_COLUMNS)
    row.update(task=first["task"], size=first["size"], dim=first["dim"], threshold=t, by=by, note="")
    hit = group[_reaches(group, t)]
    best = _cheapest(hit, cost)
    if best is None:
        low = group.loc[group["kl"].idxmin()] if group["kl"].notna().any() else None
        row["note"] = "nothing reached it" + (
            "" if low is None else f" (lowest: {low['method']} {low['kl']:.3g}, {low['kl_estimator']})")
        return row
    row.update(kind=best["kind"], method=best["method"], family=best["family"], steps=best["steps"],
               cost=best[cost], kl=best["kl"], kl_estimator=best["kl_estimator"])
    rival = _cheapest(hit[hit["kind"].isin(_RIVALS[best["kind"]])], cost)
    if rival is None:
        row.update(factor=math.inf, note="other kind never reached it")
        return row
    row.update(rival_method=rival["method"], rival_family=rival["family"], rival_steps=rival["steps"],
               rival_cost=rival[cost])
    if best[cost] > 0:
        row["factor"] = rival[cost] / best[cost]
    else:
        row["factor"] = 1.0 if rival[cost] == 0 else math.inf
        row["note"] = "winner used no density evaluations" if rival[cost] > 0 else ""
    return row


def crossovers(win: pd.DataFrame) -> pd.DataFrame:
    """Where the winning kind changes as a task grows.

    Parameters
    ----------
    win : pandas.DataFrame
        The table :func:`winners` returns.

    Returns
    -------
    pandas.DataFrame
        One row per change: task, threshold, by, size (the first size with
        the new winning kind), dim, from_size, from_kind, to_kind. Sizes with
        no winner are skipped; a task with one size has no rows.
    """
    rows = []
    has = win[win["kind"].notna()].sort_values(["task", "threshold", "by", "dim", "size"], kind="stable")
    for (task, t, by), g in has.groupby(["task", "threshold", "by"], sort=False):
        for (_, prev), (_, r) in zip(g.iloc[:-1].iterrows(), g.iloc[1:].iterrows()):
            if r["kind"] != prev["kind"]:
                rows.append({"task": task, "threshold": t, "by": by, "size": r["size"], "dim": r["dim"],
                             "from_size": prev["size"], "from_kind": prev["kind"], "to_kind": r["kind"]})
    return pd.DataFrame(rows, columns=["task", "threshold", "by", "size", "dim", "from_size", "from_kind",
                                       "to_kind"])


def floors(df: pd.DataFrame) -> pd.DataFrame:
    """Each method's accuracy floor: its median KL at its largest budget.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows as returned by :func:`vibench.load`.

    Returns
    -------
    pandas.DataFrame
        task, size, dim, method, family, kind, steps (the largest budget that
        ran), kl, kl_estimator, kl_floor, prev_kl (at the budget before, or
        NaN), plateau (bool; ``None`` with a single budget).
    """
    rows = []
    for _, g in cells(df).groupby(["task", "size", "method"], sort=False):
        last = g.iloc[-1]  # cells() sorts by steps within a method
        prev = g.iloc[-2]["kl"] if len(g) > 1 else np.nan
        plateau = None if np.isnan(prev) or np.isnan(last["kl"]) else bool(
            abs(prev - last["kl"]) <= max(0.01, 0.1 * abs(prev)))
        rows.append({**last[["task", "size", "dim", "method", "family", "kind", "steps", "kl", "kl_estimator",
                             "kl_floor"]].to_dict(), "prev_kl": prev, "plateau": plateau})
    return pd.DataFrame(rows, columns=["task", "size", "dim", "method", "family", "kind", "steps", "kl",
                                       "kl_estimator", "kl_floor", "prev_kl", "plateau"])


def thresholds_of(run_dir: str | os.PathLike) -> tuple[float, ...]:
    """The suite's thresholds recorded in ``run.json``, else :data:`DEFAULT_THRESHOLDS`."""
    from .store import read_run_json

    found = (read_run_json(run_dir).get("suite") or {}).get("thresholds")
    return tuple(float(t) for t in found) if found else DEFAULT_THRESHOLDS


def _num(v: float, unit: str = "") -> str:
    if v is None or np.isnan(v):
        return "-"
    if unit:
        return f"{v:.2g}{unit}" if v < 10 else f"{v:.0f}{unit}"
    return f"{v:,.0f}" if v >= 1 else f"{v:.2g}"


def _factor(f: float) -> str:
    return "inf" if math.isinf(f) else (f"{f:.2g}x" if f < 10 else f"{f:,.0f}x")


def _who(method: str, family: str) -> str:
    return family if method == family else f"{family} ({method})"


def _claim(r: pd.Series, unit: str, short: bool = False) -> str:
    cost = _num(r["cost"], unit)
    if pd.isna(r["rival_method"]):
        return cost if short else f"{_who(r['method'], r['family'])} {cost}; " \
                                  f"{' or '.join(_RIVALS[r['kind']])} never reached it"
    vs = f"{_num(r['rival_cost'], unit)} = {_factor(r['factor'])}"
    if short:
        return f"{cost} vs {vs}"
    return f"{_who(r['method'], r['family'])} {cost} vs {_who(r['rival_method'], r['rival_family'])} {vs}"


def _verdict(tr: pd.Series, er: pd.Series | None) -> str:
    """What happened at one threshold (by time, then by evals), without naming it."""
    if pd.isna(tr["kind"]):
        return tr["note"]
    text = f"{tr['kind']} wins: {_claim(tr, ' s')}"
    if er is not None and not pd.isna(er["kind"]):
        same = er["method"] == tr["method"] and str(er["rival_method"]) == str(tr["rival_method"])
        switch = "" if er["kind"] == tr["kind"] else f"{er['kind']} wins: "
        text += f"; by evals: {switch}{_claim(er, '', short=same)}"
    return text


def _lines(group: pd.DataFrame, by_evals: dict) -> list[str]:
    """The lines for one task x size; thresholds with the same verdict share one."""
    verdicts: dict[str, list[float]] = {}
    for _, r in group.sort_values("threshold").iterrows():
        verdicts.setdefault(_verdict(r, by_evals.get((r["task"], r["size"], r["threshold"]))), []).append(
            r["threshold"])
    parts = []
    for verdict, ts in verdicts.items():
        at = "KL" + ", ".join(f"<{t:g}" for t in ts)
        if verdict.startswith("nothing reached it"):
            parts.append(verdict.replace("nothing reached it", f"nothing reached {at}"))
        else:
            kind, rest = verdict.split(" wins: ", 1)
            parts.append(f"{kind} wins at {at}: {rest}")
    first = group.iloc[0]
    return [f"{first['task']} {first['size']}: {parts[0]}"] + [f"    {p}" for p in parts[1:]]


def _crossover_lines(cross: pd.DataFrame) -> list[str]:
    if cross.empty:
        return ["Crossover: none (the winning kind does not change with size)."]
    changes: dict[tuple, list[str]] = {}  # the same change by time and by evals is told once
    for _, r in cross.iterrows():
        changes.setdefault((r["task"], r["threshold"], r["from_kind"], r["to_kind"], r["size"], r["from_size"]),
                           []).append(r["by"])
    return ["Crossover (the winning kind changes):"] + [
        f"  {task} KL<{t:g} by {' and '.join(sorted(bys, reverse=True))}: {a} -> {b} at {size} (after {prev})"
        for (task, t, a, b, size, prev), bys in changes.items()]


def _floor_lines(fl: pd.DataFrame) -> list[str]:
    def label(kl: float, estimator: str | None) -> str:
        mark = "~" if estimator == "gaussian-moments" else ""
        return mark + ("?" if np.isnan(kl) else "0" if abs(kl) < 1e-6 else f"{kl:.3g}")

    fl = fl.assign(KL=[label(k, e) for k, e in zip(fl["kl"], fl["kl_estimator"])])
    pivot = fl.pivot_table(index=["task", "size"], columns="method", values="KL", aggfunc="first", sort=False)
    return ["Accuracy floors: median KL at each method's largest budget (~ = gaussian-moments, which",
            "includes a sampling floor of about d(d+3)/(4 ESS)):",
            pivot.reset_index().to_string(index=False, na_rep="-")]


def answer_text(run: str | os.PathLike | pd.DataFrame, thresholds: Sequence[float] | None = None) -> str:
    """The answer as text: winners per task and size, crossovers, accuracy floors.

    Parameters
    ----------
    run : path or pandas.DataFrame
        A run directory or its loaded rows.
    thresholds : sequence of float, optional
        KL thresholds; default the suite's (from ``run.json``), else
        :data:`DEFAULT_THRESHOLDS`.

    Returns
    -------
    str
        Lines such as ``gaussian dim=100,rho=0.9: optimization wins at KL<0.1:
        fullrank (pymc-fullrank-advi) 0.12 s vs mcmc (pymc-nuts) 8.1 s = 67x;
        by evals: ...`` (thresholds with the same verdict share a line), then
        the crossovers and a table of accuracy floors.
    """
    if isinstance(run, pd.DataFrame):
        df, thresholds = run, thresholds or DEFAULT_THRESHOLDS
    else:
        from .store import load

        df, thresholds = load(run), thresholds or thresholds_of(run)
    win = winners(df, thresholds)
    if win.empty:
        return "Answer: no finished cells to compare."
    out = ["Answer: the cheapest method under each KL threshold (median over seeds; time = fit_s,",
           f"evals = n_grad + n_logp; a gaussian-moments KL also needs mean_err, sd_err <= {MOMENT_TOL:g})"]
    by_evals = {(r["task"], r["size"], r["threshold"]): r for _, r in win[win["by"] == "evals"].iterrows()}
    by_time = win[win["by"] == "time"].sort_values(["task", "dim", "size"], kind="stable")
    for _, group in by_time.groupby(["task", "size"], sort=False):
        out += _lines(group, by_evals)
    out += ["", *_crossover_lines(crossovers(win)), "", *_floor_lines(floors(df))]
    return "\n".join(out)
