"""Correlated and ill-conditioned Gaussian targets.

``gaussian``: AR(1) correlation ``cov_ij = rho^|i-j|`` with unit variances and
mean ``linspace(-1, 1, dim)``. Its precision is tridiagonal, so log density
and gradient cost O(dim) per point; the best mean-field Gaussian has
KL = 0.5 [(d - 2) log(1 + rho^2) - log(1 - rho^2)] (29.90 nats at d = 100,
rho = 0.9).

The truth is held by its tridiagonal precision (:class:`~vibench.truth.BandedPrecision`):
building the task, its exact draws, density, KL and whitening cost O(dim), so
``dim`` goes to :data:`MAX_DIM` = 1,000,000 with no dim x dim matrix.

``gaussian_illcond``: eigenvalues of the covariance log-spaced from 1 down to
``1 / condition``, in a random rotation drawn from ``seed``.
"""

from __future__ import annotations

import numpy as np

from ..density import LogDensity
from ..task import Task, require
from ..truth import BandedPrecision, banded_gaussian_truth, gaussian_truth
from ._gaussian import dense_gaussian_density, gaussian_log_evidence, uniform_init

__all__ = ["make_gaussian", "make_gaussian_illcond", "ar1_precision", "ar1_band", "ar1_meanfield_kl"]

#: Largest AR(1) dimension (banded: memory and time O(dim)).
MAX_DIM = 1_000_000
#: Largest dimension of the dense ``gaussian_illcond`` (a dense random rotation).
MAX_DENSE_DIM = 5000


def ar1_precision(dim: int, rho: float) -> np.ndarray:
    """Dense tridiagonal precision of the AR(1) correlation matrix."""
    prec = np.zeros((dim, dim))
    idx = np.arange(dim)
    prec[idx, idx] = 1 + rho**2
    prec[0, 0] = prec[-1, -1] = 1.0
    if dim == 1:
        prec[0, 0] = 1 - rho**2
    prec[idx[:-1], idx[1:]] = prec[idx[1:], idx[:-1]] = -rho
    return prec / (1 - rho**2)


def ar1_band(dim: int, rho: float) -> BandedPrecision:
    """The AR(1) precision as a :class:`~vibench.truth.BandedPrecision` (bandwidth 1)."""
    band = np.zeros((2, dim))
    band[0] = 1 + rho**2
    band[0, 0] = band[0, -1] = 1.0
    if dim == 1:
        band[0, 0] = 1 - rho**2
    band[1, :-1] = -rho
    return BandedPrecision(band / (1 - rho**2))


def ar1_meanfield_kl(dim: int, rho: float) -> float:
    """KL(q*||p) of the optimal mean-field Gaussian on the AR(1) target."""
    if dim == 1:
        return 0.0
    return 0.5 * ((dim - 2) * np.log1p(rho**2) - np.log1p(-(rho**2)))


def _check_dim(dim: int, cap: int = MAX_DIM) -> None:
    require(1 <= dim <= cap, f"dim must be between 1 and {cap}, got {dim}")


def make_gaussian(dim: int = 10, rho: float = 0.9) -> Task:
    """AR(1)-correlated Gaussian of dimension ``dim`` with lag-one correlation ``rho``."""
    _check_dim(dim)
    require(-1 < rho < 1, f"rho must be in (-1, 1), got {rho}")
    mean = np.linspace(-1.0, 1.0, dim) if dim > 1 else np.zeros(1)
    prec = ar1_band(dim, rho)
    diag, off = prec.band[0], prec.band[1, :-1]

    def logp_and_grad(x):
        y = x - mean
        ly = y * diag  # y @ P for the tridiagonal P, in place where possible
        if dim > 1:
            tmp = y[:, :-1] * off
            ly[:, 1:] += tmp
            np.multiply(y[:, 1:], off, out=tmp)
            ly[:, :-1] += tmp
        value = -0.5 * np.einsum("nd,nd->n", y, ly)
        return value, np.negative(ly, out=ly)

    def logp(x):
        return logp_and_grad(x)[0]

    logdet_prec = -(dim - 1) * np.log1p(-(rho**2))
    truth = banded_gaussian_truth(mean, prec, gaussian_log_evidence(logdet_prec, dim), sd=np.ones(dim))
    return Task(
        name="gaussian",
        params={"dim": dim, "rho": rho},
        log_density=LogDensity(dim, logp, logp_and_grad),
        truth=truth,
        initial_point=uniform_init(dim),
        tags={"meanfield_kl": ar1_meanfield_kl(dim, rho), "hessian_bandwidth": 1},
    )


def make_gaussian_illcond(dim: int = 10, condition: float = 100.0, seed: int = 0) -> Task:
    """Gaussian with covariance eigenvalues from 1 to ``1/condition`` in a random rotation."""
    from scipy.stats import special_ortho_group

    _check_dim(dim, MAX_DENSE_DIM)
    require(condition >= 1, f"condition must be >= 1, got {condition}")
    rng = np.random.default_rng(seed)
    rot = special_ortho_group.rvs(dim, random_state=rng) if dim > 1 else np.ones((1, 1))
    eig = np.logspace(0, -np.log10(condition), dim)
    cov = (rot * eig) @ rot.T
    cov = 0.5 * (cov + cov.T)
    prec = (rot / eig) @ rot.T
    prec = 0.5 * (prec + prec.T)
    mean = rng.normal(0, 1, dim)
    logdet_prec = -np.sum(np.log(eig))
    truth = gaussian_truth(mean, cov, gaussian_log_evidence(logdet_prec, dim))
    return Task(
        name="gaussian_illcond",
        params={"dim": dim, "condition": condition, "seed": seed},
        log_density=dense_gaussian_density(mean, prec),
        truth=truth,
        initial_point=uniform_init(dim),
    )


TASKS = {"gaussian": make_gaussian, "gaussian_illcond": make_gaussian_illcond}
