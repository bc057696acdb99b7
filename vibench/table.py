"""Plain-text summary tables of a run's rows (for ``vibench run`` and ``vibench show``), built on
:func:`vibench.analysis.cells` so the table and the answer read the same numbers."""

from __future__ import annotations

import pandas as pd

__all__ = ["summary", "format_summary", "format_table"]

_SHOWN = ["task", "size", "method", "family", "steps", "status", "reliable", "mean_err", "sd_err", "dist",
          "dist_floor", "kl", "kl_estimator", "fit_s", "setup_s", "n_grad", "n_logp", "flags", "error"]


def _status(values: pd.Series) -> str:
    counts = values.value_counts()
    if list(counts.index) == ["ok"]:
        return "ok"
    return ",".join(f"{k}:{v}" for k, v in counts.items())


def summary(df: pd.DataFrame, c: pd.DataFrame | None = None) -> pd.DataFrame:
    """One line per task x size x method x budget that ran: means (accuracy) and medians (cost) over seeds.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows as returned by :func:`vibench.load`.
    c : pandas.DataFrame, optional
        ``analysis.cells(df)``, if already computed.

    Returns
    -------
    pandas.DataFrame
        Columns: task, size, method, family, steps, status, reliable, mean_err,
        sd_err, dist, dist_floor, kl, kl_estimator, fit_s, setup_s, n_grad, n_logp, flags, error.
    """
    from .analysis import budget_label, cells

    c = cells(df) if c is None else c
    if c.empty:
        return pd.DataFrame(columns=_SHOWN)
    ran = df[df["status"] != "unsupported"].copy()
    ran["budget"] = ran["budget"].map(budget_label)
    keys = ["task", "size", "method", "budget"]
    extra = ran.groupby(keys, sort=False).agg(
        status=("status", _status),
        error=("error", lambda s: next((e for e in s if isinstance(e, str) and e), "")),
    ).reset_index()
    out = c.merge(extra, on=keys, how="left")
    out["error"] = out["error"].fillna("").str.slice(0, 60)
    out["reliable"] = out["reliable"].map({True: "yes", False: "NO"})
    return out[_SHOWN]


def format_summary(df: pd.DataFrame, c: pd.DataFrame | None = None) -> str:
    """The summary as aligned text with compact number formats (``c``: as for :func:`summary`)."""
    return format_table(summary(df, c))


def format_table(table: pd.DataFrame) -> str:
    """A :func:`summary` table as aligned text with compact number formats."""
    if table.empty:
        return "(no rows)"

    def g3(v):
        return f"{v:.3g}"

    def kl(v):  # a Monte Carlo KL of an exact q may fall below 0 by its SE: a KL is never negative
        return f"{v:.3g}" if v >= 0 else "~0"

    fmt = {"mean_err": g3, "sd_err": g3, "dist": g3, "dist_floor": g3, "kl": kl, "fit_s": g3, "setup_s": g3,
           "n_grad": lambda v: f"{v:.0f}", "n_logp": lambda v: f"{v:.0f}", "steps": lambda v: f"{v:.0f}"}
    return table.to_string(index=False, na_rep="-", formatters=fmt)
