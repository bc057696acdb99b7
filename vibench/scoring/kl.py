"""KL(q||p) where it is a KL: closed form for two Gaussians, Monte Carlo for a q with a density.

Pure functions of arrays and callables. KL needs q's normalized density, so it
is empty for draws-only methods: they are compared on the common yardstick
(``dist`` and the moment errors), never on a KL surrogate. (k-NN and
Gaussian-moment "KLs" were removed: k-NN scored exact draws at -1 nat on
eight schools, and the moment KL is not a KL.)
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular

__all__ = ["gaussian_kl", "kl_mc", "mean_se"]

LogpdfFn = Callable[[np.ndarray], np.ndarray]


def _chol(cov: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor, or ``None`` when ``cov`` is not positive definite."""
    try:
        return cholesky(np.atleast_2d(cov), lower=True, check_finite=False)
    except LinAlgError:
        return None


def gaussian_kl(
    mean_q: np.ndarray,
    cov_q: np.ndarray | None,
    mean_p: np.ndarray,
    cov_p: np.ndarray | None,
    *,
    chol_q: np.ndarray | None = None,
    chol_p: np.ndarray | None = None,
) -> float:
    """Closed-form KL(N(mean_q, cov_q) || N(mean_p, cov_p)) through Cholesky factors.

    ``0.5 [tr(S_p^-1 S_q) + (m_p - m_q)^T S_p^-1 (m_p - m_q) - d + log det S_p - log det S_q]``,
    with the trace as ``||L_p^-1 L_q||_F^2``: stable and O(d^3) at d = 1000.

    Parameters
    ----------
    mean_q, mean_p : ndarray, shape (d,)
    cov_q, cov_p : ndarray, shape (d, d), optional
        Covariances; either may be omitted when its lower Cholesky factor is given.
    chol_q, chol_p : ndarray, shape (d, d), optional
        Lower Cholesky factors, used instead of factorizing the covariances.

    Returns
    -------
    float
        The KL in nats; ``inf`` when ``cov_q`` is singular (a degenerate q).

    Raises
    ------
    ValueError
        If ``cov_p`` is not positive definite.
    """
    mean_q = np.asarray(mean_q, dtype=float)
    mean_p = np.asarray(mean_p, dtype=float)
    lp = np.asarray(chol_p, dtype=float) if chol_p is not None else _chol(cov_p)
    if lp is None:
        raise ValueError("the reference covariance cov_p is not positive definite")
    lq = np.asarray(chol_q, dtype=float) if chol_q is not None else _chol(cov_q)
    diag_q = np.abs(np.diag(lq)) if lq is not None else np.zeros(1)
    if lq is None or np.any(diag_q <= 0):
        return float("inf")
    d = mean_q.shape[0]
    a = solve_triangular(lp, lq, lower=True, check_finite=False)
    z = solve_triangular(lp, mean_p - mean_q, lower=True, check_finite=False)
    logdet_p = 2.0 * np.sum(np.log(np.abs(np.diag(lp))))
    logdet_q = 2.0 * np.sum(np.log(diag_q))
    return float(0.5 * (np.sum(a**2) + np.sum(z**2) - d + logdet_p - logdet_q))


def kl_mc(x: np.ndarray, logq: np.ndarray, logpdf_p: LogpdfFn) -> tuple[float, float]:
    """Monte Carlo KL(q||p) = E_q[log q - log p] from iid draws of q.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        Independent draws of q.
    logq : ndarray, shape (n,)
        Normalized log q at ``x``.
    logpdf_p : callable
        Normalized (or unnormalized: the result is then shifted by log Z) log p.

    Returns
    -------
    kl, se : float
        The sample mean of ``log q - log p`` and its standard error ``sd / sqrt(n)``.
    """
    terms = np.asarray(logq, dtype=float) - np.asarray(logpdf_p(x), dtype=float)
    return mean_se(terms)


def mean_se(terms: np.ndarray) -> tuple[float, float]:
    """The mean of iid ``terms`` and its standard error ``sd / sqrt(n)`` (``nan`` for n < 2)."""
    n = terms.shape[0]
    se = float(np.std(terms, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return float(np.mean(terms)), se
