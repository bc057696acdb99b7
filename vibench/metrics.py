"""The scoring entry points under their historical import path; the code lives in :mod:`vibench.scoring`."""

from __future__ import annotations

from .columns import METRIC_KEYS
from .scoring.score import check_finite, elbo, evaluate, kl_divergence, kl_inclusive, psis_khat
from .scoring.kl import gaussian_kl, kl_mc
from .scoring.moments import moment_errors

__all__ = ["METRIC_KEYS", "check_finite", "elbo", "evaluate", "gaussian_kl", "kl_divergence", "kl_inclusive",
           "kl_mc", "moment_errors", "psis_khat"]
