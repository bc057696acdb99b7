"""The report's figures (matplotlib, Agg backend, imported only when a plot is drawn).

Every function takes the tables of :mod:`vibench.analysis` and writes one PNG.
Colours are per method and the same in every figure of a report; optimization methods are
drawn with solid lines and circles, sampling methods with dashed lines and
squares. KL is drawn on a log axis, so values at or below ``clip`` (exact
methods reach 1e-16, or a noisy estimator dips below zero) are drawn at
``clip`` with a downward triangle.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["accuracy_vs_time", "scaling", "winner_heatmap", "pareto_front", "KIND_COLORS"]

KIND_COLORS = {"optimization": "#9ECAE9", "sampling": "#FFBF79", "tie": "#D4B9DA", "unresolved": "#CCCCCC",
               "none": "#F5F5F5"}
_STYLE = {"optimization": ("-", "o"), "sampling": ("--", "s"), "other": (":", "D")}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _method_colors(methods: Sequence[str]) -> dict[str, tuple]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(sorted(set(methods)))}


def pareto_front(cost: np.ndarray, kl: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points (no other point is cheaper and more accurate), by cost."""
    order = np.lexsort((kl, cost))
    front, best = [], math.inf
    for i in order:
        if kl[i] < best:
            front.append(i)
            best = kl[i]
    return np.asarray(front, dtype=int)


def _plain_log(ax) -> None:
    """Label log axes with plain numbers (0.06, 0.1, 10) instead of 6x10^-2."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):
        def _num_to_string(self, x, vmin, vmax):
            return f"{x:g}"

    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "log":
            axis.set_major_formatter(Plain())
            axis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(1.2, 0.5)))


def _save(fig, path: str | os.PathLike) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return Path(path)


def _grid(n: int, width: float = 4.6, height: float = 3.6):
    plt = _pyplot()
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _clipped(ax, x, kl, clip: float, **style) -> None:
    """Plot ``kl`` against ``x``, drawing values at or below ``clip`` at ``clip`` as triangles."""
    kl = np.asarray(kl, dtype=float)
    y = np.maximum(kl, clip)
    ax.plot(x, y, **style)
    low = kl <= clip
    if low.any():
        ax.plot(np.asarray(x)[low], y[low], linestyle="none", marker="v", markersize=8, color=style.get("color"))


def accuracy_vs_time(c: pd.DataFrame, task: str, path: str | os.PathLike, thresholds: Sequence[float] = ()) -> Path:
    """``dist`` (with 2-SE bars) against fit time for one task, a panel per size, the Pareto front marked.

    Unreliable cells are drawn hollow and never join the Pareto front.

    Parameters
    ----------
    c : pandas.DataFrame
        The cells of :func:`vibench.analysis.cells` (all tasks; ``task`` is picked).
    task : str
        The task to draw.
    path : path
        Where to write the PNG.
    thresholds : sequence of float
        ``dist`` levels, drawn as dotted horizontal lines.

    Returns
    -------
    pathlib.Path
    """
    colors = _method_colors(c["method"])  # from every task, so a method keeps its colour across figures
    c = c[(c["task"] == task) & c["dist"].notna() & c["cost_time"].notna() & (c["cost_time"] > 0)]
    sizes = list(dict.fromkeys(c.sort_values(["dim", "size"], kind="stable")["size"]))
    fig, axes = _grid(max(len(sizes), 1))
    for ax, size in zip(axes, sizes):
        g = c[c["size"] == size]
        for method, m in g.groupby("method", sort=True):
            line, marker = _STYLE.get(m["kind"].iloc[0], _STYLE["other"])
            ax.plot(m["cost_time"], m["dist"], linestyle=line, color=colors[method], label=f"{method} ({m['family'].iloc[0]})")
            for reliable, part in m.groupby("reliable"):
                ax.errorbar(part["cost_time"], part["dist"], yerr=2 * part["dist_se"].fillna(0), fmt=marker,
                            color=colors[method], markerfacecolor=colors[method] if reliable else "white")
            ax.plot(m["cost_time"], m["dist_floor"], linestyle="none", marker="_", color=colors[method], alpha=0.6)
        ok = g[g["reliable"]]
        if not ok.empty:
            front = ok.iloc[pareto_front(ok["cost_time"].to_numpy(), ok["dist"].to_numpy())]
            ax.step(front["cost_time"], front["dist"], where="post", color="black", linewidth=1, alpha=0.6,
                    label="Pareto front (reliable cells)")
        for t in thresholds:
            ax.axhline(t, color="grey", linestyle=":", linewidth=1)
        ax.set(xscale="log", yscale="log", title=f"{task} {size}", xlabel="fit time (s)",
               ylabel="dist: sliced W1 to the truth (posterior sds)")
        ax.grid(True, which="major", alpha=0.3)
        _plain_log(ax)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"{task}: accuracy vs cost (mean over seeds, 2 SE bars, '_' = floor; hollow = unreliable)", y=1.0)
    fig.tight_layout()
    return _save(fig, path)


def scaling(floors: pd.DataFrame, c: pd.DataFrame, task: str, path: str | os.PathLike) -> Path:
    """Fit time and ``dist`` against dimension per method (log-log), at each method's largest budget.

    Parameters
    ----------
    floors : pandas.DataFrame
        The table of :func:`vibench.analysis.floors` (which cell is each method's largest budget).
    c : pandas.DataFrame
        The cells of :func:`vibench.analysis.cells` (for the fit time of those cells).
    task : str
        The task to draw.
    path : path
        Where to write the PNG.

    Returns
    -------
    pathlib.Path
    """
    colors = _method_colors(floors["method"])
    f = floors[floors["task"] == task].merge(c[["task", "size", "method", "steps", "cost_time"]],
                                             on=["task", "size", "method", "steps"], how="left")
    # sizes may vary in more than dim (e.g. rho): then each other setting gets its own line
    f["rest"] = f["size"].map(lambda s: ",".join(p for p in s.split(",") if not p.startswith("dim=")))
    split = f["rest"].nunique() > 1
    plt = _pyplot()
    fig, (ax_t, ax_k) = plt.subplots(1, 2, figsize=(10, 3.8))
    for (method, rest), m in f.sort_values("dim").groupby(["method", "rest"], sort=True):
        line, marker = _STYLE.get(m["kind"].iloc[0], _STYLE["other"])
        style = dict(linestyle=line, marker=marker, color=colors[method],
                     label=method + (f" {rest}" if split and rest else ""))
        ax_t.plot(m["dim"], m["cost_time"], **style)
        ax_k.plot(m["dim"], m["dist"], **style)
    ax_t.set(xscale="log", yscale="log", xlabel="dimension", ylabel="fit time (s)", title=f"{task}: cost")
    ax_k.set(xscale="log", yscale="log", xlabel="dimension", ylabel="dist (posterior sds)",
             title=f"{task}: dist at the largest budget")
    for ax in (ax_t, ax_k):
        ax.grid(True, which="major", alpha=0.3)
        _plain_log(ax)
    ax_k.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def _label(r: pd.Series) -> str:
    if r["verdict"] in ("none", "unresolved") and pd.isna(r["method"]):
        return r["verdict"]
    factor = r["factor"]
    if r["bound"] == "only" or factor is None or pd.isna(factor):
        ratio = "only"
    else:
        ratio = ("inf" if math.isinf(factor) else f"{factor:.2g}x" if factor < 10 else f"{factor:,.0f}x")
        ratio = (">=" if r["bound"] == ">=" else "") + ratio
    return f"{r['method']}\n{ratio}"


def winner_heatmap(v: pd.DataFrame, path: str | os.PathLike) -> Path:
    """The verdicts: a row per task x size, a column per level (KL levels left out), by time and by evaluations.

    Each cell is coloured by the verdict and annotated with the winning method
    and its factor over the best reliable cell of the other kind.

    Parameters
    ----------
    v : pandas.DataFrame
        The table of :func:`vibench.analysis.verdicts`.
    path : path
        Where to write the PNG.

    Returns
    -------
    pathlib.Path
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    plt = _pyplot()
    v = v[v["metric"] != "kl"]
    kinds = list(KIND_COLORS)
    ordered = v.sort_values(["task", "dim", "size"], kind="stable")
    keys = list(dict.fromkeys(zip(ordered["task"], ordered["size"])))
    levels = list(dict.fromkeys(v["level"]))
    fig, axes = plt.subplots(1, 2, figsize=(2 * (1.6 + 1.4 * len(levels)) + 3, 0.9 + 0.55 * len(keys)),
                             sharey=True, squeeze=False)
    for ax, by in zip(axes[0], ["time", "evals"]):
        w = v[v["by"] == by].set_index(["task", "size", "level"])
        codes = np.zeros((len(keys), len(levels)))
        for i, key in enumerate(keys):
            for j, level in enumerate(levels):
                r = w.loc[(*key, level)]
                codes[i, j] = kinds.index(r["verdict"])
                ax.text(j, i, _label(r), ha="center", va="center", fontsize=7)
        ax.imshow(codes, cmap=ListedColormap([KIND_COLORS[k] for k in kinds]), vmin=-0.5, vmax=len(kinds) - 0.5,
                  aspect="auto")
        ax.set_xticks(np.arange(len(levels) + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(len(keys) + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=2)
        ax.tick_params(which="minor", length=0)
        ax.set_xticks(range(len(levels)), levels)
        ax.set_yticks(range(len(keys)), [f"{task} {size}" for task, size in keys], fontsize=8)
        ax.set_title("by fit time" if by == "time" else "by density evaluations (n_grad + n_logp)", fontsize=9)
    handles = [Patch(color=KIND_COLORS[k], label=k) for k in kinds]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Verdict (cheapest reliable method reaching the level) and its factor over the other kind")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path)
