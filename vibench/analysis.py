"""The answer a run gives: per task and size, does optimization or sampling reach each accuracy level
cheaper, by how much, and how sure is that?

Pure functions of the rows :func:`vibench.load` returns; nothing here prints.
The rules (the same in the tables, the text and the report):

* **Cells.** One cell is a (task, size, method, budget) over its seeds. Only
  ``ok`` rows are measured; ``n_seeds`` counts them, ``n_runs`` counts the
  seeds that ran at all (unsupported rows are not runs).
* **Reliability.** A cell is reliable when every seed ran ok and passed the
  diagnostics gates (``reliable`` in each row: R-hat, ESS and divergences
  for samplers, convergence for optimizers; vibench/scoring/gates.py).
  Unreliable cells stay in every table, marked with their flags, but never
  win, never set a crossover and never set a floor.
* **Kinds.** Families in ``OPTIMIZATION_FAMILIES`` are ``optimization``,
  those in ``SAMPLING_FAMILIES`` are ``sampling``; a plugin's new family is
  ``other``: shown, but on neither side of a verdict.
* **Levels.** ``moments <= t`` (mean_err and sd_err), ``dist <= t`` and
  ``kl <= t`` (vibench/scoring/levels.py). A cell reaches a level, misses it,
  or is unresolved at it, by the upper confidence bound of its mean over
  seeds (vibench/scoring/verdicts.py).
* **Costs.** ``time`` is the median over seeds of ``fit_s``, the method's own
  time (set-up such as compiling is ``setup_s``, apart). ``evals`` is the
  median of ``n_grad + n_logp``: every evaluation of the log density, with or
  without its gradient, counts once, because the numpy densities here compute
  value and gradient in one pass, and with reverse-mode AD a gradient costs a
  small constant (at most about 4) times a value -- the count favours
  gradient methods by at most that constant; ``s_per_eval`` shows what a
  by-time factor owes to implementation. A method that made no evaluations
  (CAVI's closed-form updates) is ``n/a`` by evals.
* **Verdict** per task, size, level and cost, among reliable cells: the
  cheapest cell that reaches the level wins for its kind. If the other kind
  has a reaching cell too, ``factor`` = its cheapest cost / the winner's, with
  its range over seeds (the same seeds paired); a range that straddles 1 is
  a ``tie``. If the other kind reached nothing but has an unresolved cell
  cheaper than the winner, the verdict is ``unresolved`` (it might have won);
  if its unresolved cells all cost more, the winner wins by at least that
  ratio (``bound = ">="``); if it has none, the winner's kind is the only
  one that reached the level (``bound = "only"``). With no reaching cell the
  verdict is ``unresolved`` if any cell was unresolved, else ``none``.
  KL levels compare methods with a density only (samplers have no KL), so
  their verdict never counts as a win over sampling.
* **Crossover.** Per task, level and cost, sizes ordered by ``dim``: a size
  whose winning kind differs from the previous decided size.
* **Floor.** A method's accuracy floor on a task and size is its accuracy at
  its largest budget, if that cell is reliable (an unconverged fit is not a
  floor).
"""

from __future__ import annotations

import math
import os
import re
from typing import Sequence

import numpy as np
import pandas as pd

from .columns import NUMERIC_COLUMNS
from .method import OPTIMIZATION_FAMILIES, SAMPLING_FAMILIES
from .scoring.levels import Level, parse_levels
from .scoring.verdicts import REACHED, UNRESOLVED, combined_se, state

__all__ = ["kind_of", "cells", "budget_label", "merge_flags", "cell_states", "verdicts", "crossovers", "floors", "levels_of", "VERDICT_COLUMNS"]

COSTS = {"time": "cost_time", "evals": "cost_evals"}
_FLAG_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
KINDS = ("optimization", "sampling")
VERDICT_COLUMNS = ["task", "size", "dim", "level", "metric", "threshold", "by", "verdict", "method", "family",
                   "steps", "cost", "value", "rival_method", "rival_steps", "rival_cost", "factor", "factor_lo",
                   "factor_hi", "bound", "note"]


def kind_of(family: str | None) -> str:
    """``"optimization"``, ``"sampling"`` or ``"other"`` for a method family."""
    if family in OPTIMIZATION_FAMILIES:
        return "optimization"
    return "sampling" if family in SAMPLING_FAMILIES else "other"


def _steps(b) -> float:
    return b.get("steps") if isinstance(b, dict) else b


def budget_label(b) -> str:
    """``1000`` or ``1000/5s``: a budget as the tables show it."""
    if not isinstance(b, dict):
        return str(b)
    return str(b.get("steps")) + (f"/{b['max_seconds']}s" if b.get("max_seconds") else "")


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    work = df.copy()
    if "size" not in work:
        work["size"] = work["params"].map(lambda p: ",".join(f"{k}={v}" for k, v in sorted(p.items())))
    work["steps"] = work["budget"].map(_steps)
    work["budget"] = work["budget"].map(budget_label)
    for col in NUMERIC_COLUMNS + ["steps"]:
        work[col] = pd.to_numeric(work[col], errors="coerce") if col in work else np.nan
    for col in ("reliable", "flags", "family"):
        if col not in work:
            work[col] = None
    work["fit_s"] = work["fit_s"].fillna(work["wall_s"])
    evals = work["n_grad"].fillna(0) + work["n_logp"].fillna(0)
    work["cost_time"] = work["fit_s"]
    work["cost_evals"] = evals.where(evals > 0)
    larger = work["sd_err"] > work["mean_err"]
    work["moments"] = work[["mean_err", "sd_err"]].max(axis=1, skipna=False)
    work["moments_se"] = work["sd_err_se"].where(larger, work["mean_err_se"])
    return work


def merge_flags(per_seed: Sequence[Sequence[str]]) -> list[str]:
    """One flag per kind over seeds: ``rhat 1.37-1.43 (3 of 3 seeds)``, ``not converged (1 of 3 seeds)``.

    A flag's kind is its text with its first number taken out (``ess_bulk 67<400`` and
    ``ess_bulk 71<400`` are one kind); the numbers of a kind are shown as their range.
    """
    values: dict[str, list[float]] = {}
    seeds: dict[str, int] = {}
    for flags in per_seed:
        for f in flags:
            kind = _FLAG_NUMBER.sub("#", f, count=1)
            m = _FLAG_NUMBER.search(f)
            values.setdefault(kind, []).extend([float(m.group())] if m else [])
        for kind in {_FLAG_NUMBER.sub("#", f, count=1) for f in flags}:
            seeds[kind] = seeds.get(kind, 0) + 1
    out = []
    for kind, numbers in values.items():
        text = kind
        if numbers:
            lo, hi = min(numbers), max(numbers)
            text = kind.replace("#", f"{lo:.3g}" if lo == hi else f"{lo:.3g}-{hi:.3g}", 1)
        out.append(f"{text} ({seeds[kind]} of {len(per_seed)} seeds)" if len(per_seed) > 1 else text)
    return out


def _cell(g: pd.DataFrame) -> dict:
    ok = g[g["status"] == "ok"]
    runs = g[g["status"] != "unsupported"]
    flags = merge_flags([fl if isinstance(fl, list) else [] for fl in ok["flags"]])
    failed = len(runs) - len(ok)
    if failed:
        errors = [e for e in runs.loc[runs["status"] != "ok", "error"] if isinstance(e, str) and e]
        flags.append(f"{failed} of {len(runs)} seeds failed" + (f": {errors[0][:80]}" if errors else ""))
    out = {
        "n_seeds": len(ok), "n_runs": len(runs),
        "reliable": bool(len(ok) and failed == 0 and ok["reliable"].fillna(False).astype(bool).all()),
        "flags": "; ".join(flags),
        "seed_time": dict(zip(ok["seed"], ok["cost_time"])), "seed_evals": dict(zip(ok["seed"], ok["cost_evals"])),
    }
    for col in ("cost_time", "cost_evals", "s_per_eval", "fit_s", "setup_s", "n_grad", "n_logp"):
        out[col] = float(ok[col].median()) if ok[col].notna().any() else math.nan
    for metric, se_col, unit_col in (("moments", "moments_se", "moment_se_max"), ("dist", "dist_se", "dist_se"),
                                     ("kl", "kl_se", "kl_se"), ("mean_err", "mean_err_se", None),
                                     ("sd_err", "sd_err_se", None)):
        vals = ok[metric].dropna()
        out[metric] = float(vals.mean()) if len(vals) else math.nan
        out[f"{metric}_se"] = combined_se(vals.to_numpy(), ok.loc[vals.index, se_col].to_numpy()) if len(vals) else math.nan
        if unit_col:
            units = ok.loc[vals.index, unit_col].fillna(0.0).to_numpy()
            out[f"{metric}_unit_se"] = float(np.sqrt(np.mean(units**2))) if len(units) else math.nan
    estimators = ok["kl_estimator"].dropna() if "kl_estimator" in ok else ok.iloc[:0]
    out["kl_estimator"] = estimators.iloc[0] if len(estimators) else None
    out["dist_floor"] = float(ok["dist_floor"].mean()) if ok["dist_floor"].notna().any() else math.nan
    for col in ("rhat_max",):
        out[col] = float(ok[col].max()) if ok[col].notna().any() else math.nan
    for col in ("ess_bulk_min", "ess_tail_min"):
        out[col] = float(ok[col].min()) if ok[col].notna().any() else math.nan
    return out


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, size, method, budget), aggregated over seeds.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows as returned by :func:`vibench.load`.

    Returns
    -------
    pandas.DataFrame
        Identity (task, size, dim, method, family, kind, budget, steps),
        ``n_seeds``, ``n_runs``, ``reliable``, ``flags``; for ``moments``,
        ``dist``, ``kl``, ``mean_err`` and ``sd_err`` the mean over seeds and
        its combined SE (``<metric>_se``), the yardstick's resolution
        (``<metric>_unit_se``) and ``dist_floor``; the median costs
        ``cost_time``, ``cost_evals`` (NaN when no evaluations were made),
        ``s_per_eval``, ``fit_s``, ``setup_s``; the per-seed costs
        ``seed_time`` and ``seed_evals`` (dicts); R-hat and ESS extremes.
        Cells with no run (all unsupported) are left out.
    """
    if df.empty or "status" not in df:
        return pd.DataFrame()
    work = _prepare(df[df["status"] != "unsupported"])
    if work.empty:
        return pd.DataFrame()
    keys = ["task", "size", "method", "budget"]
    rows = []
    for key, g in work.groupby(keys, sort=False):
        first = g.iloc[0]
        dim = g["dim"].dropna()
        rows.append({**dict(zip(keys, key)), "dim": float(dim.iloc[0]) if len(dim) else math.nan,
                     "family": first["family"], "kind": kind_of(first["family"]), "steps": first["steps"], **_cell(g)})
    out = pd.DataFrame(rows)
    return out.sort_values(["task", "dim", "size", "method", "steps"], kind="stable").reset_index(drop=True)


def cell_states(c: pd.DataFrame, level: Level) -> pd.Series:
    """Each cell's state at ``level``: ``reached``, ``unresolved`` or ``missed`` (vibench/scoring/verdicts.py)."""
    m = level.metric
    return pd.Series([
        state(m, level.threshold, r[m], r[f"{m}_se"], unit_se=r[f"{m}_unit_se"], floor=r["dist_floor"],
              dim=int(r["dim"]) if np.isfinite(r["dim"]) else 1)
        for _, r in c.iterrows()], index=c.index, dtype=object)


def _cheapest(c: pd.DataFrame, cost: str) -> pd.Series | None:
    c = c[c[cost].notna()]
    return None if c.empty else c.sort_values([cost, "method", "steps"], kind="stable").iloc[0]


def _factor_range(winner: pd.Series, rival: pd.Series, by: str) -> tuple[float, float, float]:
    a, b = winner[f"seed_{by}"], rival[f"seed_{by}"]
    ratios = [b[s] / a[s] for s in a if s in b and a[s] and a[s] > 0 and np.isfinite(b[s])]
    point = rival[COSTS[by]] / winner[COSTS[by]] if winner[COSTS[by]] > 0 else math.inf
    if not ratios:
        return point, point, point
    return point, float(min(ratios)), float(max(ratios))


def _verdict(group: pd.DataFrame, states: pd.Series, level: Level, by: str) -> dict:
    cost = COSTS[by]
    first = group.iloc[0]
    row = dict.fromkeys(VERDICT_COLUMNS)
    row.update(task=first["task"], size=first["size"], dim=first["dim"], level=level.label, metric=level.metric,
               threshold=level.threshold, by=by, note="", bound="")
    if level.metric == "kl" and group["kl"].isna().all():
        row.update(verdict="n/a", note="no KL: no method has a density, or the truth has no normalized one")
        return row
    usable = group[group["reliable"] & group["kind"].isin(KINDS) & group[cost].notna()]
    st = states.loc[usable.index]
    reached, unresolved = usable[st == REACHED], usable[st == UNRESOLVED]
    best = _cheapest(reached, cost)
    if best is None:
        row["verdict"] = "unresolved" if len(unresolved) else "none"
        if by == "evals" and group[cost].isna().all():
            row["note"] = "n/a: no method made density evaluations"
        return row
    row.update(method=best["method"], family=best["family"], steps=best["steps"], cost=best[cost],
               value=best[level.metric], verdict=best["kind"])
    if level.metric == "kl":
        row.update(bound="only", note="methods with a density only")
        return row
    other = "sampling" if best["kind"] == "optimization" else "optimization"
    rival = _cheapest(reached[reached["kind"] == other], cost)
    if rival is not None:
        point, lo, hi = _factor_range(best, rival, by)
        row.update(rival_method=rival["method"], rival_steps=rival["steps"], rival_cost=rival[cost], factor=point,
                   factor_lo=lo, factor_hi=hi)
        if lo <= 1.0 <= hi and lo < hi:
            row["verdict"] = "tie"
        return row
    pending = _cheapest(unresolved[unresolved["kind"] == other], cost)
    if pending is None:
        tried = usable["kind"].eq(other).any()
        row.update(bound="only", note=f"{other} never reached it" if tried else f"no reliable {other} cell")
    elif pending[cost] < best[cost]:
        row.update(verdict="unresolved", rival_method=pending["method"], rival_steps=pending["steps"],
                   rival_cost=pending[cost], note=f"{other} unresolved at lower cost")
    else:
        row.update(bound=">=", rival_method=pending["method"], rival_steps=pending["steps"], rival_cost=pending[cost],
                   factor=pending[cost] / best[cost] if best[cost] > 0 else math.inf,
                   note=f"{other} unresolved, at higher cost")
    return row


def verdicts(df: pd.DataFrame, levels: Sequence[Level] | None = None, c: pd.DataFrame | None = None) -> pd.DataFrame:
    """One verdict per task x size x level x cost (``by`` = ``time`` or ``evals``).

    Parameters
    ----------
    df : pandas.DataFrame
        Rows as returned by :func:`vibench.load`.
    levels : sequence of Level, optional
        Default :func:`vibench.scoring.levels.parse_levels` ().
    c : pandas.DataFrame, optional
        ``cells(df)``, when the caller has it already.

    Returns
    -------
    pandas.DataFrame
        :data:`VERDICT_COLUMNS`; ``verdict`` is optimization, sampling, tie,
        unresolved or none.
    """
    levels = list(levels or parse_levels())
    c = cells(df) if c is None else c
    if c.empty:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    states = {level: cell_states(c, level) for level in levels}
    rows = [_verdict(group, states[level], level, by) for _, group in c.groupby(["task", "size"], sort=False)
            for level in levels for by in COSTS]
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def crossovers(v: pd.DataFrame) -> pd.DataFrame:
    """Where the winning kind changes as a task grows (decided verdicts only, KL levels excluded)."""
    cols = ["task", "level", "by", "size", "dim", "from_size", "from_kind", "to_kind"]
    has = v[v["verdict"].isin(KINDS) & (v["metric"] != "kl")].sort_values(["task", "level", "by", "dim", "size"],
                                                                           kind="stable")
    rows = []
    for (task, level, by), g in has.groupby(["task", "level", "by"], sort=False):
        for (_, prev), (_, r) in zip(g.iloc[:-1].iterrows(), g.iloc[1:].iterrows()):
            if r["verdict"] != prev["verdict"]:
                rows.append({"task": task, "level": level, "by": by, "size": r["size"], "dim": r["dim"],
                             "from_size": prev["size"], "from_kind": prev["verdict"], "to_kind": r["verdict"]})
    return pd.DataFrame(rows, columns=cols)


def floors(df: pd.DataFrame, c: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each method's accuracy at its largest budget per task and size; a floor only where reliable.

    Returns
    -------
    pandas.DataFrame
        task, size, dim, method, family, kind, steps, reliable, flags,
        moments, dist, dist_floor, kl, prev_dist (at the budget before),
        plateau (dist moved less than 2 SE from the budget before; ``None``
        with one budget).
    """
    c = cells(df) if c is None else c
    cols = ["task", "size", "dim", "method", "family", "kind", "steps", "reliable", "flags", "moments", "dist",
            "dist_floor", "kl", "prev_dist", "plateau"]
    if c.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for _, g in c.groupby(["task", "size", "method"], sort=False):
        last = g.iloc[-1]
        prev = g.iloc[-2] if len(g) > 1 else None
        plateau = None
        if prev is not None and np.isfinite(prev["dist"]) and np.isfinite(last["dist"]):
            plateau = bool(abs(prev["dist"] - last["dist"]) <= 2 * math.hypot(prev["dist_se"], last["dist_se"]))
        rows.append({**{k: last[k] for k in cols if k in last}, "prev_dist": prev["dist"] if prev is not None else
                     math.nan, "plateau": plateau})
    return pd.DataFrame(rows, columns=cols)


def levels_of(run_dir: str | os.PathLike) -> list[Level]:
    """The suite's levels recorded in ``run.json``, else the defaults."""
    from .store import read_run_json

    return parse_levels((read_run_json(run_dir).get("suite") or {}).get("thresholds"))
