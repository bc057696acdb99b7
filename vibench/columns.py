"""The row contract: every column a result row has, listed once (no heavy imports here)."""

from __future__ import annotations

__all__ = ["CELL_COLUMNS", "METRIC_KEYS", "ROW_COLUMNS", "NUMERIC_COLUMNS"]

#: Columns that identify a cell and describe its run.
CELL_COLUMNS = [
    "task", "params", "dim", "method", "family", "budget", "seed", "status", "error",
    "wall_s", "fit_s", "setup_s", "total_s", "score_s", "n_logp", "n_grad", "s_per_eval",
]  # fmt: skip

#: Every column :func:`vibench.scoring.evaluate` adds to a row.
METRIC_KEYS = (
    "mean_err", "mean_err_se", "sd_err", "sd_err_se", "moment_se_max",
    "dist", "dist_se", "dist_floor", "dist_n", "dist_estimator",
    "kl", "kl_estimator", "kl_se", "kl_inclusive", "khat",
    "chains", "rhat_max", "ess_bulk_min", "ess_tail_min", "reliable", "flags",
)  # fmt: skip

#: The row contract other tools rely on (``key``, ``size`` and ``info`` follow).
ROW_COLUMNS = CELL_COLUMNS + list(METRIC_KEYS)

#: The numeric columns, as the analysis and tables read them.
NUMERIC_COLUMNS = [
    "dim", "wall_s", "fit_s", "setup_s", "total_s", "score_s", "n_logp", "n_grad", "s_per_eval",
    "mean_err", "mean_err_se", "sd_err", "sd_err_se", "moment_se_max",
    "dist", "dist_se", "dist_floor", "dist_n", "kl", "kl_se", "kl_inclusive", "khat",
    "chains", "rhat_max", "ess_bulk_min", "ess_tail_min",
]  # fmt: skip
