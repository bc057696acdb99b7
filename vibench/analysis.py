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
    for col in ("reliable", "flags", "family", "error"):
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


#: What identifies a cell: one (task, size, method, budget) over its seeds.
KEYS = ["task", "size", "method", "budget"]
#: Costs a cell reports as their median over its ok seeds.
_MEDIANS = ["cost_time", "cost_evals", "s_per_eval", "fit_s", "setup_s", "n_grad", "n_logp"]
#: ``(metric, its per-seed SE, the yardstick's per-seed resolution)``: a cell reports their means over seeds.
_MEANS = (("moments", "moments_se", "moment_se_max"), ("dist", "dist_se", "dist_se"), ("kl", "kl_se", "kl_se"),
          ("mean_err", "mean_err_se", None), ("sd_err", "sd_err_se", None))
_MEAN_COLUMNS = [c for m, _, unit in _MEANS for c in (m, f"{m}_se", f"{m}_unit_se" if unit else None) if c]


def _seed_means(ok: pd.DataFrame, positions: dict) -> dict:
    """Per cell (``positions``: its rows in ``ok``), each metric's mean over seeds with its combined SE and
    resolution, and the mean ``dist_floor``: numpy's sums on each cell's values, as ``Series.mean`` makes them."""
    arrays = {c: ok[c].to_numpy(dtype=float) for c in {c for m in _MEANS for c in m if c} | {"dist_floor"}}
    out = {}
    for key, idx in positions.items():
        row = {}
        for metric, se_col, unit_col in _MEANS:
            values = arrays[metric][idx]
            kept = ~np.isnan(values)
            vals = values[kept]
            row[metric] = float(vals.sum() / vals.size) if vals.size else math.nan
            row[f"{metric}_se"] = combined_se(vals, arrays[se_col][idx][kept]) if vals.size else math.nan
            if unit_col:
                units = arrays[unit_col][idx][kept]
                units = np.where(np.isnan(units), 0.0, units)
                row[f"{metric}_unit_se"] = float(np.sqrt(np.mean(units**2))) if units.size else math.nan
        floor = arrays["dist_floor"][idx]
        missing = np.isnan(floor)  # Series.mean: NaN summed as 0, not counted
        n = int(floor.size - missing.sum())
        row["dist_floor"] = float(np.where(missing, 0.0, floor).sum() / n) if n else math.nan
        out[key] = row
    return out


def _flags(work: pd.DataFrame, ok: pd.DataFrame, index: pd.MultiIndex, failed: pd.Series,
           n_runs: pd.Series) -> list[str]:
    """Each cell's flags: its ok seeds' gate flags merged (:func:`merge_flags`), then its failed seeds."""
    merged = ok.groupby(KEYS, sort=False)["flags"].agg(
        lambda f: merge_flags([fl if isinstance(fl, list) else [] for fl in f])).reindex(index)
    errors = work[work["status"] != "ok"].groupby(KEYS, sort=False)["error"].agg(
        lambda e: next((x for x in e if isinstance(x, str) and x), None)).reindex(index)
    texts = []
    for flags, n_failed, n_run, error in zip(merged, failed, n_runs, errors):
        flags = list(flags) if isinstance(flags, list) else []
        if n_failed:
            flags.append(f"{n_failed} of {n_run} seeds failed" + (f": {error[:80]}" if isinstance(error, str) else ""))
        texts.append("; ".join(flags))
    return texts


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, size, method, budget), aggregated over seeds.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows as returned by :func:`vibench.load`.

    Returns
    -------
    pandas.DataFrame
        Identity (task, size, method, budget, dim, family, kind, steps),
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
    work = work.dropna(subset=KEYS).reset_index(drop=True)  # a row without its cell's identity is in no cell
    if work.empty:
        return pd.DataFrame()
    runs = work.groupby(KEYS, sort=False)  # each aggregate is reindexed like ``index``: cells as they first appear
    out = runs.head(1).set_index(KEYS)[["family", "steps"]]
    index = out.index
    ok = work[work["status"] == "ok"].reset_index(drop=True)
    oks = ok.groupby(KEYS, sort=False)
    n_runs, n_seeds = runs.size().reindex(index), oks.size().reindex(index, fill_value=0)
    out.insert(0, "dim", runs["dim"].first().reindex(index).astype(float))
    out.insert(2, "kind", out["family"].map(kind_of))
    out["n_seeds"], out["n_runs"] = n_seeds.astype(int), n_runs.astype(int)
    # unknown reliability (None, NaN, NA) is not reliable; fillna(False) on an all-NaN float column is deprecated
    reliable = ok["reliable"].astype(object).eq(True).groupby([ok[k] for k in KEYS], sort=False).all()
    out["reliable"] = (n_seeds > 0) & (n_runs == n_seeds) & reliable.reindex(index, fill_value=False).astype(bool)
    out["flags"] = _flags(work, ok, index, n_runs - n_seeds, n_runs)
    seeds = ok["seed"].to_numpy()
    for by, cost in COSTS.items():  # seed_time, seed_evals: {seed: cost}
        values = ok[cost].to_numpy()
        per_cell = {k: dict(zip(seeds[i].tolist(), values[i].tolist())) for k, i in oks.indices.items()}
        out[f"seed_{by}"] = [per_cell.get(k, {}) for k in index]
    medians = oks[_MEDIANS].median().reindex(index)
    for col in _MEDIANS:
        out[col] = medians[col].astype(float)
    blank = dict.fromkeys(_MEAN_COLUMNS + ["dist_floor"], math.nan)
    means = _seed_means(ok, oks.indices)
    means = pd.DataFrame([means.get(k, blank) for k in index], index=index, columns=list(blank)).astype(float)
    for col in _MEAN_COLUMNS:
        out[col] = means[col]
    estimator = oks["kl_estimator"].first().reindex(index) if "kl_estimator" in ok else [None] * len(index)
    out["kl_estimator"] = [e if isinstance(e, str) else None for e in estimator]
    out["dist_floor"] = means["dist_floor"]
    out["rhat_max"] = oks["rhat_max"].max().reindex(index).astype(float)
    for col in ("ess_bulk_min", "ess_tail_min"):
        out[col] = oks[col].min().reindex(index).astype(float)
    out = out.reset_index()
    return out.sort_values(["task", "dim", "size", "method", "steps"], kind="stable").reset_index(drop=True)


def cell_states(c: pd.DataFrame, level: Level) -> pd.Series:
    """Each cell's state at ``level``: ``reached``, ``unresolved`` or ``missed`` (vibench/scoring/verdicts.py)."""
    m = level.metric
    columns = (c[m], c[f"{m}_se"], c[f"{m}_unit_se"], c["dist_floor"], c["dim"])
    return pd.Series([
        state(m, level.threshold, value, se, unit_se=unit, floor=floor, dim=int(dim) if np.isfinite(dim) else 1)
        for value, se, unit, floor, dim in zip(*(col.to_numpy() for col in columns))],
        index=c.index, dtype=object)


def _factor_range(winner: pd.Series, rival: pd.Series, by: str) -> tuple[float, float, float]:
    a, b = winner[f"seed_{by}"], rival[f"seed_{by}"]
    ratios = [b[s] / a[s] for s in a if s in b and a[s] and a[s] > 0 and np.isfinite(b[s])]
    point = rival[COSTS[by]] / winner[COSTS[by]] if winner[COSTS[by]] > 0 else math.inf
    if not ratios:
        return point, point, point
    return point, float(min(ratios)), float(max(ratios))


def _firsts(frame: pd.DataFrame, keys: list[str]) -> dict:
    """The index label of the first row of each group of ``frame`` by ``keys``."""
    heads = frame.groupby(keys, sort=False).head(1)
    return dict(zip(zip(*(heads[k] for k in keys)), heads.index))


class _Ranking:
    """For one cost: the usable cells (reliable, of a kind, with that cost) cheapest first (ties: by method,
    then steps), and per task and size at each level, the first that reached it, the first of each kind that
    reached it or is unresolved at it."""

    def __init__(self, c: pd.DataFrame, cost: str, states: dict):
        usable = c[c["reliable"] & c["kind"].isin(KINDS) & c[cost].notna()]
        self.order = usable.sort_values([cost, "method", "steps"], kind="stable")
        self.tried = set(zip(usable["task"], usable["size"], usable["kind"]))
        self.leaders = {}
        for level, st in states.items():
            st = st.loc[self.order.index]
            reached, unresolved = self.order[st == REACHED], self.order[st == UNRESOLVED]
            self.leaders[level] = (_firsts(reached, ["task", "size"]), _firsts(reached, ["task", "size", "kind"]),
                                   _firsts(unresolved, ["task", "size", "kind"]),
                                   set(zip(unresolved["task"], unresolved["size"])))


def _verdict(c: pd.DataFrame, ts: tuple, head, ranking: _Ranking, level: Level, by: str,
             no_kl: bool, no_cost: bool) -> dict:
    """The verdict of one task and size (``ts``; ``head``: its first cell) at ``level`` by cost ``by``."""
    cost = COSTS[by]
    row = dict.fromkeys(VERDICT_COLUMNS)
    row.update(task=head["task"], size=head["size"], dim=head["dim"], level=level.label, metric=level.metric,
               threshold=level.threshold, by=by, note="", bound="")
    if level.metric == "kl" and no_kl:
        row.update(verdict="n/a", note="no KL: no method has a density, or the truth has no normalized one")
        return row
    best_of, best_of_kind, pending_of_kind, has_unresolved = ranking.leaders[level]
    if ts not in best_of:
        row["verdict"] = "unresolved" if ts in has_unresolved else "none"
        if by == "evals" and no_cost:
            row["note"] = "n/a: no method made density evaluations"
        return row
    best = c.loc[best_of[ts]]
    row.update(method=best["method"], family=best["family"], steps=best["steps"], cost=best[cost],
               value=best[level.metric], verdict=best["kind"])
    if level.metric == "kl":
        row.update(bound="only", note="methods with a density only")
        return row
    other = "sampling" if best["kind"] == "optimization" else "optimization"
    if (*ts, other) in best_of_kind:
        rival = c.loc[best_of_kind[(*ts, other)]]
        point, lo, hi = _factor_range(best, rival, by)
        row.update(rival_method=rival["method"], rival_steps=rival["steps"], rival_cost=rival[cost], factor=point,
                   factor_lo=lo, factor_hi=hi)
        if lo <= 1.0 <= hi and lo < hi:
            row["verdict"] = "tie"
        return row
    if (*ts, other) not in pending_of_kind:
        tried = (*ts, other) in ranking.tried
        row.update(bound="only", note=f"{other} never reached it" if tried else f"no reliable {other} cell")
        return row
    pending = c.loc[pending_of_kind[(*ts, other)]]
    if pending[cost] <= best[cost]:  # a rival as cheap may reach it too: a factor of >= 1 decides nothing
        row.update(verdict="unresolved", rival_method=pending["method"], rival_steps=pending["steps"],
                   rival_cost=pending[cost], note=f"{other} unresolved at no higher cost")
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
    rankings = {by: _Ranking(c, cost, states) for by, cost in COSTS.items()}
    sizes = c.groupby(["task", "size"], sort=False)
    heads = sizes.head(1)
    no_kl = c["kl"].isna().groupby([c["task"], c["size"]], sort=False).all()
    no_cost = {by: c[cost].isna().groupby([c["task"], c["size"]], sort=False).all() for by, cost in COSTS.items()}
    rows = [_verdict(c, ts, c.loc[label], rankings[by], level, by, bool(no_kl[ts]), bool(no_cost[by][ts]))
            for label, ts in zip(heads.index, zip(heads["task"], heads["size"]))
            for level in levels for by in COSTS]
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def crossovers(v: pd.DataFrame) -> pd.DataFrame:
    """Where the winning kind changes as a task grows (decided verdicts only, KL levels excluded)."""
    cols = ["task", "level", "by", "size", "dim", "from_size", "from_kind", "to_kind"]
    has = v[v["verdict"].isin(KINDS) & (v["metric"] != "kl")].sort_values(["task", "level", "by", "dim", "size"],
                                                                           kind="stable")
    previous = has.groupby(["task", "level", "by"], sort=False)[["size", "verdict"]].shift()
    changed = previous["verdict"].notna() & (has["verdict"] != previous["verdict"])
    out = has.loc[changed, ["task", "level", "by", "size", "dim"]].assign(
        from_size=previous.loc[changed, "size"], from_kind=previous.loc[changed, "verdict"],
        to_kind=has.loc[changed, "verdict"])
    return pd.DataFrame(out.to_dict("records"), columns=cols)


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
    grouped = c.groupby(["task", "size", "method"], sort=False)
    from_end, group = grouped.cumcount(ascending=False), grouped.ngroup()
    last = c[from_end == 0].assign(_group=group).sort_values("_group", kind="stable")
    prev = c.loc[from_end == 1, ["dist", "dist_se"]].set_axis(group[from_end == 1].to_numpy())
    prev_dist = prev["dist"].reindex(last["_group"].to_numpy())
    prev_se = prev["dist_se"].reindex(last["_group"].to_numpy())
    plateau = [bool(abs(p - d) <= 2 * math.hypot(p_se, d_se)) if np.isfinite(p) and np.isfinite(d) else None
               for p, d, p_se, d_se in zip(prev_dist, last["dist"], prev_se, last["dist_se"])]
    records = last[[k for k in cols if k in last]].to_dict("records")
    for record, p, flat in zip(records, prev_dist, plateau):
        record.update(prev_dist=p, plateau=flat)
    return pd.DataFrame(records, columns=cols)


def levels_of(run_dir: str | os.PathLike) -> list[Level]:
    """The suite's levels recorded in ``run.json``, else the defaults."""
    from .store import read_run_json

    return parse_levels((read_run_json(run_dir).get("suite") or {}).get("thresholds"))
