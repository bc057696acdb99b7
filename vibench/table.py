"""Plain-text summary tables of a run's rows (for ``vibench run`` and ``vibench show``)."""

from __future__ import annotations

import pandas as pd

__all__ = ["summary"]


def _status(values: pd.Series) -> str:
    counts = values.value_counts()
    if list(counts.index) == ["ok"]:
        return "ok"
    return ",".join(f"{k}:{v}" for k, v in counts.items())


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """One line per task x size x method x budget; medians over seeds.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows as returned by :func:`vibench.load`.

    Returns
    -------
    pandas.DataFrame
        Columns: task, size, method, family, steps, status, kl, estimator,
        mean_err, sd_err, fit_s, n_grad, n_logp, error.
    """
    if df.empty:
        return pd.DataFrame()
    work = df.copy()
    work["steps"] = work["budget"].map(lambda b: b.get("steps") if isinstance(b, dict) else b)
    for col in ("kl", "mean_err", "sd_err", "fit_s", "n_grad", "n_logp"):
        work[col] = pd.to_numeric(work[col], errors="coerce")
    keys = ["task", "size", "method", "steps"]
    out = work.groupby(keys, sort=False, dropna=False).agg(
        family=("family", "first"),
        status=("status", _status),
        kl=("kl", "median"),
        estimator=("kl_estimator", "first"),
        mean_err=("mean_err", "median"),
        sd_err=("sd_err", "median"),
        fit_s=("fit_s", "median"),
        n_grad=("n_grad", "median"),
        n_logp=("n_logp", "median"),
        error=("error", lambda s: next((e for e in s if isinstance(e, str) and e), "")),
    )
    out = out.reset_index()
    out["error"] = out["error"].str.slice(0, 60)
    return out


def format_summary(df: pd.DataFrame) -> str:
    """The summary as aligned text with compact number formats."""
    table = summary(df)
    if table.empty:
        return "(no rows)"
    fmt = {
        "kl": lambda v: f"{v:.3g}", "mean_err": lambda v: f"{v:.2g}", "sd_err": lambda v: f"{v:.2g}",
        "fit_s": lambda v: f"{v:.3g}", "n_grad": lambda v: f"{v:.0f}", "n_logp": lambda v: f"{v:.0f}",
    }
    return table.to_string(index=False, na_rep="-", formatters=fmt)
