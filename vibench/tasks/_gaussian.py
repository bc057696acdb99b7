"""Shared machinery for tasks whose posterior is exactly Gaussian."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..density import LogDensity
from ..truth import Truth, cov_chol_from_precision, gaussian_truth

__all__ = ["dense_gaussian_density", "gaussian_log_evidence", "uniform_init", "cov_chol_from_precision",
           "gaussian_truth_from_precision"]


def dense_gaussian_density(mean: np.ndarray, precision: np.ndarray, const: float = 0.0) -> LogDensity:
    """``logp(x) = const - 0.5 (x - mean)^T precision (x - mean)``, batched, with gradient.

    Parameters
    ----------
    mean : ndarray, shape (dim,)
    precision : ndarray, shape (dim, dim)
        Symmetric positive definite.
    const : float
        Additive constant (so the density can equal, e.g., likelihood times prior).

    Returns
    -------
    LogDensity
    """
    mean = np.asarray(mean, dtype=float)
    precision = np.asarray(precision, dtype=float)

    def logp_and_grad(x):
        y = x - mean
        ly = y @ precision
        return const - 0.5 * np.einsum("nd,nd->n", y, ly), -ly

    def logp(x):
        return logp_and_grad(x)[0]

    return LogDensity(mean.shape[0], logp, logp_and_grad)


def gaussian_log_evidence(precision_logdet: float, dim: int, const: float = 0.0) -> float:
    """log Z of ``const - 0.5 y^T L y``: ``const + dim/2 log(2 pi) - 0.5 log det L``."""
    return const + 0.5 * dim * np.log(2 * np.pi) - 0.5 * precision_logdet


def uniform_init(dim: int, radius: float = 2.0) -> Callable[[np.random.Generator], np.ndarray]:
    """Stan's default initialization: uniform on ``(-radius, radius)`` per coordinate."""

    def init(rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-radius, radius, dim)

    return init


def gaussian_truth_from_precision(mean, precision, const: float = 0.0) -> Truth:
    """Gaussian :class:`Truth` for ``const - 0.5 (x-m)^T L (x-m)`` with its log Z (one factorization of L)."""
    precision = np.asarray(precision, dtype=float)
    chol = cov_chol_from_precision(precision)
    cov = chol @ chol.T
    logdet = -2.0 * float(np.sum(np.log(np.diag(chol))))
    truth = gaussian_truth(mean, 0.5 * (cov + cov.T), gaussian_log_evidence(logdet, precision.shape[0], const),
                           chol=chol)
    return truth
