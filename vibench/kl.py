"""KL(q||p) estimators: closed form, Monte Carlo, k-nearest-neighbour, Gaussian moments.

Pure functions of arrays and callables; :mod:`vibench.metrics` picks among them.
Every random estimator returns its standard error beside the estimate.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln

__all__ = [
    "gaussian_kl",
    "kl_mc",
    "knn_entropy",
    "kl_knn",
    "kl_floor",
    "effective_sample_size",
]

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
    return _mean_se(terms)


def _mean_se(terms: np.ndarray) -> tuple[float, float]:
    n = terms.shape[0]
    se = float(np.std(terms, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return float(np.mean(terms)), se


def knn_entropy(x: np.ndarray, k: int = 1) -> np.ndarray:
    """Per-point terms of the Kozachenko-Leonenko entropy estimate; their mean is H(q).

    ``H = psi(n) - psi(k) + log V_d + (d/n) sum_i log eps_i``, with ``eps_i`` the
    Euclidean distance from ``x_i`` to its ``k``-th nearest neighbour and ``V_d``
    the volume of the unit d-ball.  Repeated points (rejections of a Metropolis
    or ensemble sampler) would give ``eps = 0``: distances are therefore taken
    among the distinct points (``n`` = their number), each copy inheriting the
    distance of its point.

    Parameters
    ----------
    x : ndarray, shape (n, d)
    k : int
        Neighbour order.  ``k = 1`` had the smallest bias at d <= 10 with 2,000
        Gaussian draws (about +0.005, +0.05, -0.01 nats at d = 2, 5, 10;
        ``k = 3`` or 5 lower the variance but raise the bias to 0.06-0.11 nats).

    Returns
    -------
    ndarray, shape (n,)
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    d = x.shape[1]
    uniq, inverse = np.unique(x, axis=0, return_inverse=True)
    m = uniq.shape[0]
    if m <= k:
        raise ValueError(f"knn entropy needs more than k={k} distinct draws, got {m}")
    dist, _ = cKDTree(uniq).query(uniq, k=k + 1)
    eps = dist[:, k][np.ravel(inverse)]
    log_unit_ball = 0.5 * d * np.log(np.pi) - gammaln(0.5 * d + 1)
    return digamma(m) - digamma(k) + log_unit_ball + d * np.log(eps)


def kl_knn(x: np.ndarray, logpdf_p: LogpdfFn, k: int = 1) -> tuple[float, float]:
    """KL(q||p) = -H(q) - E_q[log p] from draws of q, with a k-NN entropy estimate.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        Draws of q (thin MCMC output first).
    logpdf_p : callable
        Normalized log p.
    k : int
        Neighbour order of :func:`knn_entropy`.

    Returns
    -------
    kl, se : float
        ``se`` is the sd of the per-point terms ``-h_i - log p(x_i)`` over
        ``sqrt(n)``: it ignores the dependence between neighbour distances and
        the autocorrelation of MCMC draws, so it is a rough guide, and the
        estimator has a small bias (see :func:`knn_entropy`).  Useful at d <= 10.

    Notes
    -----
    The entropy is estimated on whitened draws ``z = C^-1 (x - mean)`` (``C``
    the Cholesky factor of the draws' covariance) and mapped back with
    ``H(x) = H(z) + log |det C|``. Entropy is affine-equivariant, so this
    changes nothing in expectation, but the k-NN estimate is badly biased on
    strongly correlated draws: on AR(1) rho = 0.9, d = 10, exact iid draws gave
    -0.46 nats (n = 2,000) unwhitened, and about 0 whitened.
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    log_p = np.asarray(logpdf_p(x), dtype=float)
    centred = x - x.mean(axis=0)
    try:
        chol = np.linalg.cholesky(np.atleast_2d(np.cov(x, rowvar=False)))
    except np.linalg.LinAlgError:
        raise ValueError("knn: the draws' covariance is singular (a stuck or collapsed sampler)") from None
    z = solve_triangular(chol, centred.T, lower=True).T
    terms = -(knn_entropy(z, k) + np.sum(np.log(np.diag(chol)))) - log_p
    return _mean_se(terms)


def kl_floor(dim: int, n_eff: float) -> float:
    """Expected KL of the Gaussian fitted to ``n_eff`` exact iid draws: d(d+3)/(4 n_eff).

    ``d/(2n)`` from the estimated mean plus ``d(d+1)/(4n)`` from the estimated
    covariance, to first order in 1/n.

    Parameters
    ----------
    dim : int
    n_eff : float
        Effective number of draws.

    Returns
    -------
    float
    """
    return float(dim * (dim + 3) / (4.0 * n_eff))


def effective_sample_size(samples: np.ndarray) -> float:
    """Harmonic mean over coordinates of ArviZ's bulk ESS, capped at the number of draws.

    The floor d(d+3)/(4n) is a sum of per-parameter variance terms, each ~ 1/ESS,
    so the reduction over coordinates that matches it is the harmonic mean
    (between the min and the mean).  ESS above n (antithetic NUTS chains)
    improves means but not variances, which dominate the floor: hence the cap.

    Parameters
    ----------
    samples : ndarray, shape (chains, draws, dim)

    Returns
    -------
    float
        Falls back to ``chains * draws`` when ArviZ cannot estimate the ESS
        (fewer than 4 draws per chain, constant coordinates).
    """
    samples = np.asarray(samples, dtype=float)
    n = samples.shape[0] * samples.shape[1]
    if samples.shape[1] < 4:
        return float(n)
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess = np.asarray(az.ess(az.convert_to_dataset({"x": samples}), method="bulk")["x"], dtype=float)
    ess = ess[np.isfinite(ess) & (ess > 0)]
    if ess.size == 0:
        return float(n)
    return float(min(n, ess.size / np.sum(1.0 / ess)))
