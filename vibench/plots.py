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

__all__ = ["kl_vs_time", "scaling", "winner_heatmap", "pareto_front", "KIND_COLORS"]

KIND_COLORS = {"optimization": "#9ECAE9", "sampling": "#FFBF79", "other": "#A8DB9C", None: "#EEEEEE"}
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


def kl_vs_time(c: pd.DataFrame, task: str, path: str | os.PathLike, thresholds: Sequence[float] = (),
               clip: float = 1e-4) -> Path:
    """KL against fit time for one task, a panel per size, the Pareto front marked.

    Parameters
    ----------
    c : pandas.DataFrame
        The cells of :func:`vibench.analysis.cells` (all tasks; ``task`` is picked).
    task : str
        The task to draw.
    path : path
        Where to write the PNG.
    thresholds : sequence of float
        KL thresholds, drawn as dotted horizontal lines.
    clip : float
        The smallest KL drawn.

    Returns
    -------
    pathlib.Path
    """
    colors = _method_colors(c["method"])  # from every task, so a method keeps its colour across figures
    c = c[(c["task"] == task) & c["kl"].notna() & c["cost_time"].notna()]
    sizes = list(dict.fromkeys(c.sort_values(["dim", "size"], kind="stable")["size"]))
    fig, axes = _grid(max(len(sizes), 1))
    for ax, size in zip(axes, sizes):
        g = c[c["size"] == size]
        for method, m in g.groupby("method", sort=True):
            line, marker = _STYLE[m["kind"].iloc[0]]
            _clipped(ax, m["cost_time"], m["kl"], clip, linestyle=line, marker=marker, color=colors[method],
                     label=f"{method} ({m['family'].iloc[0]})")
        front = g.iloc[pareto_front(g["cost_time"].to_numpy(), np.maximum(g["kl"].to_numpy(), clip))]
        ax.step(front["cost_time"], np.maximum(front["kl"], clip), where="post", color="black", linewidth=1,
                alpha=0.6, label="Pareto front")
        ax.plot(front["cost_time"], np.maximum(front["kl"], clip), linestyle="none", marker="o", markersize=13,
                markerfacecolor="none", markeredgecolor="black")
        for t in thresholds:
            ax.axhline(t, color="grey", linestyle=":", linewidth=1)
        ax.set(xscale="log", yscale="log", title=f"{task} {size}", xlabel="fit time (s)",
               ylabel=f"KL(q||p) (nats; <= {clip:g} drawn at {clip:g})")
        ax.grid(True, which="major", alpha=0.3)
        _plain_log(ax)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"{task}: accuracy vs cost (each point a budget, median over seeds)", y=1.0)
    fig.tight_layout()
    return _save(fig, path)


def scaling(floors: pd.DataFrame, c: pd.DataFrame, task: str, path: str | os.PathLike,
            clip: float = 1e-4) -> Path:
    """Fit time and KL against dimension per method (log-log), at each method's largest budget.

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
    clip : float
        The smallest KL drawn.

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
        line, marker = _STYLE[m["kind"].iloc[0]]
        style = dict(linestyle=line, marker=marker, color=colors[method],
                     label=method + (f" {rest}" if split and rest else ""))
        ax_t.plot(m["dim"], m["cost_time"], **style)
        _clipped(ax_k, m["dim"], m["kl"], clip, **style)
    ax_t.set(xscale="log", yscale="log", xlabel="dimension", ylabel="fit time (s)", title=f"{task}: cost")
    ax_k.set(xscale="log", yscale="log", xlabel="dimension", ylabel=f"KL(q||p) (<= {clip:g} drawn at {clip:g})",
             title=f"{task}: KL at the largest budget")
    for ax in (ax_t, ax_k):
        ax.grid(True, which="major", alpha=0.3)
        _plain_log(ax)
    ax_k.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def _label(r: pd.Series) -> str:
    if pd.isna(r["kind"]):
        return "none"
    factor = r["factor"]
    ratio = "only" if math.isinf(factor) else (f"{factor:.2g}x" if factor < 10 else f"{factor:,.0f}x")
    return f"{r['method']}\n{ratio}"


def winner_heatmap(win: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Who wins where: a row per task x size, a column per threshold, by time and by evaluations.

    Each cell is coloured by the winning kind and annotated with the winning
    method and how many times cheaper it is than the best of the other kind
    (``only``: the other kind never reached the threshold; ``none``: nothing did).

    Parameters
    ----------
    win : pandas.DataFrame
        The table of :func:`vibench.analysis.winners`.
    path : path
        Where to write the PNG.

    Returns
    -------
    pathlib.Path
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    plt = _pyplot()
    kinds = list(KIND_COLORS)
    ordered = win.sort_values(["task", "dim", "size"], kind="stable")
    keys = list(dict.fromkeys(zip(ordered["task"], ordered["size"])))
    ts = sorted(win["threshold"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(2 * (1.6 + 1.25 * len(ts)) + 3, 0.9 + 0.55 * len(keys)), sharey=True,
                             squeeze=False)
    for ax, by in zip(axes[0], ["time", "evals"]):
        w = win[win["by"] == by].set_index(["task", "size", "threshold"])
        codes = np.zeros((len(keys), len(ts)))
        for i, key in enumerate(keys):
            for j, t in enumerate(ts):
                r = w.loc[(*key, t)]
                codes[i, j] = kinds.index(None if pd.isna(r["kind"]) else r["kind"])
                ax.text(j, i, _label(r), ha="center", va="center", fontsize=7)
        ax.imshow(codes, cmap=ListedColormap([KIND_COLORS[k] for k in kinds]), vmin=-0.5, vmax=len(kinds) - 0.5,
                  aspect="auto")
        ax.set_xticks(np.arange(len(ts) + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(len(keys) + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=2)
        ax.tick_params(which="minor", length=0)
        ax.set_xticks(range(len(ts)), [f"KL<{t:g}" for t in ts])
        ax.set_yticks(range(len(keys)), [f"{task} {size}" for task, size in keys], fontsize=8)
        ax.set_title("by fit time" if by == "time" else "by density evaluations (n_grad + n_logp)", fontsize=9)
    handles = [Patch(color=KIND_COLORS[k], label=k or "nothing reached it (none)") for k in kinds]
    handles.append(Patch(color="white", label="only: the other kind never reached it"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Winner (cheapest method under the threshold) and its factor over the other kind")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path)
