"""When does a cell reach an accuracy level? The rules, as pure functions of aggregated numbers.

A cell here is one (task, size, method, budget) over its seeds. For each
metric its ``value`` is the mean over the seeds that ran, and its SE
combines the estimator's own SE and the spread over seeds::

    se = max( sqrt(mean(se_i^2) / k),  sd(values) / sqrt(k) )     (k seeds; k = 1: se_1)

With ``Z`` = :data:`Z` (one-sided 97.7 %), a cell at level ``metric <= t``:

* **reaches** it when it is resolvable and ``value + Z se <= t``;
* is **unresolved** when the yardstick cannot tell at this cell's draws:
  exact iid draws of the same effective size would not reliably reach
  ``t`` (``dist``: ``floor + 2 Z se_1 > t``; ``moments``: ``(z_d + Z) s > t``,
  with ``s`` the largest per-coordinate moment SE and ``z_d`` the
  Bonferroni 95 % quantile of the max of ``d`` standard normals; ``kl``:
  ``2 Z se_1 > t``), unless the cell is clearly beyond ``t`` anyway
  (``dist - Z se - 1.5 floor > t``, or ``moments - Z se - z_d s > t``);
* **misses** it otherwise.

``dist`` is compared raw (not less its floor): the raw estimate lies above
the true distance, so a cell that reaches ``t`` is within ``t``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

__all__ = ["Z", "REACHED", "UNRESOLVED", "MISSED", "combined_se", "z_max", "state"]

Z = 2.0
REACHED, UNRESOLVED, MISSED = "reached", "unresolved", "missed"


def combined_se(values: np.ndarray, ses: np.ndarray) -> float:
    """The SE of the mean over seeds: the estimators' SEs or the spread over seeds, the larger."""
    values = np.asarray(values, dtype=float)
    ses = np.nan_to_num(np.asarray(ses, dtype=float), nan=0.0)
    k = values.size
    own = math.sqrt(float(np.mean(ses**2)) / k) if k else math.nan
    spread = float(np.std(values, ddof=1)) / math.sqrt(k) if k > 1 else 0.0
    return max(own, spread)


def z_max(dim: int) -> float:
    """Bonferroni 95 % two-sided quantile for the largest of ``dim`` |standard normals|."""
    return float(norm.isf(0.05 / (2 * max(int(dim), 1))))


def state(metric: str, threshold: float, value: float, se: float, *, unit_se: float = 0.0,
          floor: float = 0.0, dim: int = 1) -> str:
    """:data:`REACHED`, :data:`UNRESOLVED` or :data:`MISSED` for one cell and level.

    Parameters
    ----------
    metric : {"moments", "dist", "kl"}
    threshold : float
    value, se : float
        The cell's mean over seeds and its combined SE (:func:`combined_se`).
    unit_se : float
        The yardstick's resolution: one seed's estimator SE (``dist_se``,
        ``kl_se``) or, for moments, the largest per-coordinate SE.
    floor : float
        ``dist_floor`` (``dist`` only).
    dim : int
        The task's dimension (``moments`` only).
    """
    if value is None or not math.isfinite(value):
        return MISSED
    se = 0.0 if se is None or not math.isfinite(se) else se
    unit_se = 0.0 if unit_se is None or not math.isfinite(unit_se) else unit_se
    if metric == "dist":
        floor = 0.0 if floor is None or not math.isfinite(floor) else floor
        resolvable = floor + 2 * Z * unit_se <= threshold
        clearly_beyond = value - Z * se - 1.5 * floor > threshold
    elif metric == "moments":
        zd = z_max(dim)
        resolvable = (zd + Z) * unit_se <= threshold
        clearly_beyond = value - Z * se - zd * unit_se > threshold
    elif metric == "kl":
        resolvable = 2 * Z * unit_se <= threshold
        clearly_beyond = value - Z * se > threshold
    else:
        raise ValueError(f"unknown metric {metric!r}")
    if not resolvable:
        return MISSED if clearly_beyond else UNRESOLVED
    return REACHED if value + Z * se <= threshold else MISSED
