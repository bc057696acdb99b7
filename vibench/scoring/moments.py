"""Standardized moment errors and their standard errors (the DADVI paper's metric).

``mean_err = max_i |m_i - m*_i| / sd*_i`` and ``sd_err = max_i |sd_i / sd*_i - 1|``:
the worst coordinate, in posterior sds. Their SEs combine the Monte Carlo
error of the approximation's moments (ArviZ MCSE from the ESS for draws; 0
where the moments are exact, as for a Gaussian q) with the truth's own (a
reference truth's ``mean_se``/``sd_se``; 0 for exact truths), at the
coordinate that attains the max. ``moment_se_max`` is the largest per-coordinate
SE of either: the resolution of the moment yardstick (vibench/scoring/verdicts.py).
"""

from __future__ import annotations

import numpy as np

from ..approximation import Approximation, DrawsApproximation
from ..truth import Truth
from .diagnostics import ChainStats

__all__ = ["moment_errors"]


def _truth_se(value: np.ndarray | None, dim: int) -> np.ndarray:
    return np.zeros(dim) if value is None else np.asarray(value, dtype=float)


def moment_errors(approx: Approximation, truth: Truth, stats: ChainStats | None = None) -> dict[str, float]:
    """``mean_err``, ``sd_err``, their SEs and ``moment_se_max``.

    Parameters
    ----------
    approx : Approximation
    truth : Truth
    stats : ChainStats, optional
        Diagnostics of ``approx.samples`` (a :class:`DrawsApproximation`):
        their MCSEs give the approximation's share of the SEs.

    Returns
    -------
    dict
        ``mean_err``, ``mean_err_se``, ``sd_err``, ``sd_err_se`` (posterior
        sds) and ``moment_se_max``.
    """
    d = truth.dim
    sd_true = truth.sd
    mean_q = np.asarray(approx.mean, dtype=float)
    sd_q = np.asarray(approx.sd, dtype=float)
    if isinstance(approx, DrawsApproximation) and stats is not None:
        mcse_mean, mcse_sd = stats.mcse_mean, stats.mcse_sd
    else:
        mcse_mean = mcse_sd = np.zeros(d)
    se_mean = np.sqrt(mcse_mean**2 + _truth_se(truth.mean_se, d) ** 2) / sd_true
    se_sd = np.sqrt(mcse_sd**2 + _truth_se(truth.sd_se, d) ** 2) / sd_true
    mean_abs = np.abs(mean_q - truth.mean) / sd_true
    sd_abs = np.abs(sd_q / sd_true - 1.0)
    i, j = int(np.argmax(mean_abs)), int(np.argmax(sd_abs))
    return {
        "mean_err": float(mean_abs[i]),
        "mean_err_se": float(se_mean[i]),
        "sd_err": float(sd_abs[j]),
        "sd_err_se": float(se_sd[j]),
        "moment_se_max": float(max(np.max(se_mean), np.max(se_sd))),
    }
