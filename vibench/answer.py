"""The answer as text: a verdict line per task and size, a summary, the unreliable cells, floors.

Built on :mod:`vibench.analysis` (which states the rules); only formatting here.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import analysis
from .scoring.levels import Level

__all__ = ["answer_text", "summary_line"]


def _num(v: float, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if unit == " s":
        return f"{v:.2g} s" if v < 10 else f"{v:,.0f} s"
    return f"{v:,.0f}" if v >= 1 else f"{v:.2g}"


def _x(f: float) -> str:
    if f is None or not np.isfinite(f):
        return "inf"
    return f"{f:.2g}x" if f < 10 else f"{f:,.0f}x"


def _range(r: Mapping[str, Any]) -> str:
    lo, hi = r["factor_lo"], r["factor_hi"]
    if lo is None or hi is None or not np.isfinite(lo) or not np.isfinite(hi) or lo == hi:
        return ""
    return f" [{_x(lo)}-{_x(hi)}]"


def _claim(r: Mapping[str, Any]) -> str:
    """One cost's claim: who, what it cost, against whom, by what factor."""
    unit = " s" if r["by"] == "time" else ""
    if pd.isna(r["method"]):
        return r["note"] or r["verdict"]
    who = f"{r['method']} {_num(r['cost'], unit)}"
    if r["verdict"] == "unresolved":
        return f"{who}, but {r['rival_method']} ({_num(r['rival_cost'], unit)}) is unresolved"
    if r["bound"] == "only":
        return who if r["metric"] == "kl" else f"{who}, {r['note']}"
    if r["bound"] == ">=":
        return f"{who}, >= {_x(r['factor'])} ({r['note']})"
    return f"{who} vs {r['rival_method']} {_num(r['rival_cost'], unit)} = {_x(r['factor'])}{_range(r)}"


def _level_text(t: Mapping[str, Any], e: Mapping[str, Any] | None) -> str:
    """A level's verdict by time, and by evals where that says something else."""
    if pd.isna(t["method"]):
        return t["verdict"]
    text = f"{t['verdict']}: {_claim(t)}"
    if e is None:
        return text
    if e["verdict"] == t["verdict"] and e["method"] == t["method"] and str(e["rival_method"]) == str(t["rival_method"]):
        return text + f"; by evals {e['cost']:,.0f}" + (
            f" vs {e['rival_cost']:,.0f} = {_x(e['factor'])}{_range(e)}" if pd.notna(e["factor"]) else "")
    if pd.isna(e["method"]):
        return text + f"; by evals {e['note'] or e['verdict']}"
    return text + f"; by evals {e['verdict']}: {_claim(e)}"


def _task_lines(group: list[dict]) -> list[str]:
    """The lines of one task x size (its verdict rows): levels with the same verdict share one; KL levels
    share the last."""
    by_time = [r for r in group if r["by"] == "time"]
    evals = {r["level"]: r for r in group if r["by"] == "evals"}
    shared: dict[str, list[str]] = {}
    kl = []
    for r in by_time:
        if r["metric"] == "kl":
            kl.append(f"<={r['threshold']:g} " + (r["verdict"] if pd.isna(r["method"]) else _claim(r)))
        else:
            shared.setdefault(_level_text(r, evals.get(r["level"])), []).append(r["level"])
    parts = [f"{', '.join(levels)}: {text}" for text, levels in shared.items()]
    kl_rows = [r for r in by_time if r["metric"] == "kl"]
    if kl_rows and all(r["verdict"] == "n/a" for r in kl_rows):
        parts.append("KL: n/a (no method with a density, or no normalized truth)")
    elif kl:
        parts.append("KL (methods with a density): " + "; ".join(kl))
    first = group[0]
    head = f"{first['task']} {first['size']}".rstrip()
    return [f"{head}: {parts[0]}"] + [f"    {p}" for p in parts[1:]]


def _by_task_size(v: pd.DataFrame) -> list[list[dict]]:
    """The verdict rows as records, one list per task and size, tasks in order and sizes by ``dim``."""
    groups: dict[tuple, list[dict]] = {}
    for r in v.sort_values(["task", "dim", "size"], kind="stable").to_dict("records"):
        groups.setdefault((r["task"], r["size"]), []).append(r)
    return list(groups.values())


def summary_line(v: pd.DataFrame, level: Level | None = None) -> str:
    """``at moments<=0.1 (by time): optimization wins 11 of 18 task-sizes, sampling 3, tie 2, ...``."""
    if v.empty:
        return "no verdicts"
    label = level.label if level else v["level"].iloc[0]
    sel = v[(v["level"] == label) & (v["by"] == "time")]
    counts = Counter(sel["verdict"])
    rest = ", ".join(f"{k} {counts.get(k, 0)}" for k in ("sampling", "tie", "unresolved", "none"))
    return f"At {label} (by time): optimization wins {counts.get('optimization', 0)} of {len(sel)} task-sizes, {rest}."


def _unreliable_lines(c: pd.DataFrame) -> list[str]:
    bad = c[~c["reliable"]]
    if bad.empty:
        return ["Unreliable cells: none."]
    out = [f"Unreliable cells ({len(bad)}; shown in the tables, never a winner or a floor):"]
    for _, r in bad.iterrows():
        out.append(f"  {r['method']}[{r['budget']}] on {r['task']} {r['size']}".rstrip() + f": {r['flags'] or 'failed'}")
    return out


def _unsupported_line(df: pd.DataFrame) -> str:
    un = df[df["status"] == "unsupported"] if "status" in df else df.iloc[:0]
    if un.empty:
        return "Unsupported cells: none."
    per = Counter(un["method"])
    return f"Unsupported cells: {len(un)} ({', '.join(f'{m} {n}' for m, n in per.most_common())})."


def _floor_lines(fl: pd.DataFrame, width: int | None = None) -> list[str]:
    if fl.empty:
        return []

    def label(r) -> str:
        if not np.isfinite(r["dist"]):
            return "-"
        return f"{r['dist']:.2f}" + ("" if r["reliable"] else "*")

    fl = fl.assign(D=[label(r) for _, r in fl.iterrows()])
    pivot = fl.pivot_table(index=["task", "size"], columns="method", values="D", aggfunc="first", sort=False)
    return ["Accuracy at each method's largest budget: dist in posterior sds (* = unreliable: not a floor):",
            pivot.reset_index().to_string(index=False, na_rep="-", line_width=width)]


def _crossover_lines(cross: pd.DataFrame) -> list[str]:
    if cross.empty:
        return ["Crossover: none (the winning kind does not change with size)."]
    return ["Crossover (the winning kind changes):"] + [
        f"  {r['task']} {r['level']} by {r['by']}: {r['from_kind']} -> {r['to_kind']} at {r['size']} "
        f"(after {r['from_size']})" for _, r in cross.iterrows()]


def answer_text(run: str | os.PathLike | pd.DataFrame, levels: Sequence[Level] | None = None,
                full: bool = True, width: int | None = None, cells: pd.DataFrame | None = None) -> str:
    """The answer: a verdict line per task and size, a summary, then unreliable cells, crossovers, floors.

    Parameters
    ----------
    run : path or pandas.DataFrame
        A run directory or its loaded rows.
    levels : sequence of Level, optional
        Default: the suite's (``run.json``), else the defaults.
    full : bool
        Include the unreliable cells, crossovers and floors.
    width : int, optional
        Fit the accuracy table to this many characters (pandas wraps its columns
        into blocks); default: one block however wide.
    cells : pandas.DataFrame, optional
        ``analysis.cells`` of the rows, if already computed.

    Returns
    -------
    str
    """
    if isinstance(run, pd.DataFrame):
        df = run
    else:
        from .store import load

        df, levels = load(run), levels or analysis.levels_of(run)
    c = analysis.cells(df) if cells is None else cells  # once: the verdicts, unreliable cells and floors read it
    v = analysis.verdicts(df, levels, c)
    if v.empty:
        return "Answer: no finished cells to compare."
    n_seeds = int(df["seed"].nunique()) if "seed" in df else 1
    out = [f"Answer: per task and size, the cheapest reliable method at each accuracy level ({n_seeds} seeds;",
           "factor = rival cost / winner cost [range over seeds]; time = fit_s, evals = n_grad + n_logp)"]
    for group in _by_task_size(v):
        out += _task_lines(group)
    out += ["", summary_line(v)]
    if full:
        out += ["", *_unreliable_lines(c), _unsupported_line(df), "", *_crossover_lines(analysis.crossovers(v)),
                "", *_floor_lines(analysis.floors(df, c), width)]
    return "\n".join(out)
