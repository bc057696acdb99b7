"""Conjugate Bayesian linear regression with known noise: a Gaussian posterior.

``linear_regression``: ``y = X beta + noise * eps`` with ``X``, the true
``beta`` and ``eps`` all standard normal, simulated from ``seed``. The prior
is ``beta ~ N(0, prior_scale^2 I)`` and ``noise`` is known, so the posterior
is Gaussian with precision ``L = X^T X / noise^2 + I / prior_scale^2`` and
mean ``L^{-1} X^T y / noise^2``. The log density is the full normalized log
likelihood plus the log prior, so ``truth.log_evidence`` is the log marginal
likelihood ``log N(y; 0, noise^2 I + prior_scale^2 X X^T)``.

Log density and gradient cost O(dim^2) per point whatever ``n`` is: the
likelihood is expanded once into its sufficient statistics.
"""

from __future__ import annotations

import numpy as np

from ..density import LogDensity
from ..task import Task, require
from ._gaussian import gaussian_truth_from_precision, uniform_init

__all__ = ["make_linear_regression", "simulate_regression"]

MAX_DIM = 5000
MAX_N = 1_000_000


def simulate_regression(n: int, dim: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate ``X ~ N(0, 1)^(n, dim)``, ``beta ~ N(0, I)``, ``y = X beta + noise * eps``.

    Parameters
    ----------
    n, dim : int
        Number of observations and of coefficients.
    noise : float
        Standard deviation of the observation noise.
    seed : int
        Seed of ``np.random.default_rng``; draws are made in the order
        ``X``, ``beta``, ``eps``.

    Returns
    -------
    X : ndarray, shape (n, dim)
    y : ndarray, shape (n,)
    beta : ndarray, shape (dim,)
        The coefficients the data were simulated from.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim))
    beta = rng.standard_normal(dim)
    y = X @ beta + noise * rng.standard_normal(n)
    return X, y, beta


def check_regression_sizes(n: int, dim: int, prior_scale: float) -> None:
    """Reject impossible regression sizes with a one-line :class:`VibenchError`."""
    require(1 <= dim <= MAX_DIM, f"dim must be between 1 and {MAX_DIM}, got {dim}")
    require(1 <= n <= MAX_N, f"n must be between 1 and {MAX_N}, got {n}")
    require(prior_scale > 0, f"prior_scale must be > 0, got {prior_scale}")


def make_linear_regression(
    n: int = 100, dim: int = 5, noise: float = 1.0, prior_scale: float = 1.0, seed: int = 0
) -> Task:
    """Bayesian linear regression with known noise and a Gaussian prior.

    Parameters
    ----------
    n : int
        Number of observations.
    dim : int
        Number of coefficients (the posterior's dimension).
    noise : float
        Known standard deviation of the observation noise.
    prior_scale : float
        Standard deviation of the ``N(0, prior_scale^2 I)`` prior on ``beta``.
    seed : int
        Seed of the simulated data.

    Returns
    -------
    Task
    """
    check_regression_sizes(n, dim, prior_scale)
    require(noise > 0, f"noise must be > 0, got {noise}")
    X, y, _ = simulate_regression(n, dim, noise, seed)
    noise2, prior2 = noise**2, prior_scale**2
    # logp(b) = c0 + b.h - 0.5 b^T L b: the log likelihood plus log prior, expanded.
    h = X.T @ y / noise2
    precision = X.T @ X / noise2 + np.eye(dim) / prior2
    precision = 0.5 * (precision + precision.T)
    c0 = -0.5 * n * np.log(2 * np.pi * noise2) - 0.5 * (y @ y) / noise2 - 0.5 * dim * np.log(2 * np.pi * prior2)

    def logp_and_grad(x):
        lx = x @ precision
        return c0 + x @ h - 0.5 * np.einsum("nd,nd->n", x, lx), h - lx

    def logp(x):
        return logp_and_grad(x)[0]

    chol = np.linalg.cholesky(precision)
    mean = np.linalg.solve(chol.T, np.linalg.solve(chol, h))
    # Completing the square: logp(b) = c0 + 0.5 h.m - 0.5 (b - m)^T L (b - m).
    truth = gaussian_truth_from_precision(mean, precision, const=c0 + 0.5 * (h @ mean))
    return Task(
        name="linear_regression",
        params={"n": n, "dim": dim, "noise": noise, "prior_scale": prior_scale, "seed": seed},
        log_density=LogDensity(dim, logp, logp_and_grad),
        truth=truth,
        initial_point=uniform_init(dim),
        data={"X": X, "y": y, "noise": noise, "prior_scale": prior_scale},
    )


TASKS = {"linear_regression": make_linear_regression}
