"""Bayesian linear regression with unknown noise: the normal-inverse-gamma model.

``linear_regression_nig``::

    sigma2 ~ InvGamma(a0, b0)
    beta | sigma2 ~ N(0, sigma2 prior_scale^2 I)
    y | beta, sigma2 ~ N(X beta, sigma2 I)

with data simulated as for ``linear_regression`` (same ``seed``, true
``sigma = 1``). The unconstrained vector is ``z = (beta_1, ..., beta_dim, s)``
with ``s = log sigma2``, so the task's dimension is ``dim + 1`` and the log
density carries the log-Jacobian ``+ s``. This is the model whose CAVI
updates are the classic variational inference example.

The posterior is normal-inverse-gamma: with ``Lambda = X^T X + I /
prior_scale^2``, ``V_n = Lambda^{-1}``, ``m_n = V_n X^T y``, ``a_n = a0 +
n/2`` and ``b_n = b0 + (y^T y - m_n^T Lambda m_n) / 2``,
``sigma2 | y ~ InvGamma(a_n, b_n)`` and ``beta | sigma2, y ~ N(m_n, sigma2
V_n)``. Hence ``E[beta] = m_n``, ``cov(beta) = b_n / (a_n - 1) V_n``,
``E[s] = log b_n - digamma(a_n)``, ``var(s) = trigamma(a_n)`` and
``cov(beta, s) = 0``; ``log_evidence`` is the log marginal likelihood (a
multivariate Student-t with ``2 a0`` degrees of freedom).
"""

from __future__ import annotations

import numpy as np

from ..density import LogDensity
from ..task import Task, require
from ..truth import Truth
from ._gaussian import uniform_init
from .linear_regression import check_regression_sizes, simulate_regression

__all__ = ["make_linear_regression_nig"]

LOG_2PI = np.log(2 * np.pi)


def make_linear_regression_nig(
    n: int = 100, dim: int = 5, a0: float = 2.0, b0: float = 2.0, prior_scale: float = 1.0, seed: int = 0
) -> Task:
    """Conjugate linear regression with unknown noise variance, on ``(beta, log sigma2)``.

    Parameters
    ----------
    n : int
        Number of observations.
    dim : int
        Number of coefficients; the task's dimension is ``dim + 1``.
    a0, b0 : float
        Shape and scale of the inverse-gamma prior on ``sigma2``.
    prior_scale : float
        ``beta | sigma2 ~ N(0, sigma2 prior_scale^2 I)``.
    seed : int
        Seed of the simulated data (true noise standard deviation 1).

    Returns
    -------
    Task
    """
    from scipy.special import digamma, gammaln, polygamma  # here, not at import: registering stays cheap

    check_regression_sizes(n, dim, prior_scale)
    require(a0 > 0 and b0 > 0, f"a0 and b0 must be > 0, got a0={a0}, b0={b0}")
    a_n = a0 + 0.5 * n
    require(a_n > 1, f"a0 + n/2 must exceed 1 for the posterior variance to exist, got {a_n}")
    X, y, _ = simulate_regression(n, dim, 1.0, seed)
    prior2 = prior_scale**2
    lam = X.T @ X + np.eye(dim) / prior2
    lam = 0.5 * (lam + lam.T)
    chol_lam = np.linalg.cholesky(lam)
    xty = X.T @ y
    m_n = np.linalg.solve(chol_lam.T, np.linalg.solve(chol_lam, xty))
    V_n = np.linalg.inv(lam)
    V_n = 0.5 * (V_n + V_n.T)
    b_n = b0 + 0.5 * (y @ y - m_n @ xty)
    logdet_lam = 2 * np.sum(np.log(np.diag(chol_lam)))
    # log p(y, beta, s) = c - (a_n + dim/2) s - (b_n + (beta-m)^T Lam (beta-m) / 2) e^{-s}
    c = a0 * np.log(b0) - gammaln(a0) - 0.5 * dim * np.log(2 * np.pi * prior2) - 0.5 * n * LOG_2PI
    shape = a_n + 0.5 * dim

    def logp_and_grad(z):
        beta, s = z[:, :dim], z[:, dim]
        r = beta - m_n
        lr = r @ lam
        rate = b_n + 0.5 * np.einsum("nd,nd->n", r, lr)
        inv = np.exp(-s)
        grad = np.empty_like(z)
        grad[:, :dim] = -lr * inv[:, None]
        grad[:, dim] = -shape + rate * inv
        return c - shape * s - rate * inv, grad

    def logp(z):
        return logp_and_grad(z)[0]

    log_evidence = c - (a_n * np.log(b_n) - gammaln(a_n) - 0.5 * dim * LOG_2PI + 0.5 * logdet_lam)

    def logpdf(z):
        return logp(np.atleast_2d(z)) - log_evidence

    chol_v = np.linalg.cholesky(V_n)

    def sample(size: int, rng: np.random.Generator) -> np.ndarray:
        precision = rng.gamma(a_n, 1.0 / b_n, size)  # 1 / sigma2 ~ Gamma(a_n, rate b_n)
        out = np.empty((size, dim + 1))
        out[:, :dim] = m_n + (rng.standard_normal((size, dim)) @ chol_v.T) / np.sqrt(precision)[:, None]
        out[:, dim] = -np.log(precision)
        return out

    cov = np.zeros((dim + 1, dim + 1))
    cov[:dim, :dim] = b_n / (a_n - 1) * V_n
    cov[dim, dim] = polygamma(1, a_n)
    mean = np.append(m_n, np.log(b_n) - digamma(a_n))
    truth = Truth(
        kind="exact",
        mean=mean,
        sd=np.sqrt(np.diag(cov)),
        cov=cov,
        logpdf=logpdf,
        log_evidence=float(log_evidence),
        sample=sample,
    )
    return Task(
        name="linear_regression_nig",
        params={"n": n, "dim": dim, "a0": a0, "b0": b0, "prior_scale": prior_scale, "seed": seed},
        log_density=LogDensity(dim + 1, logp, logp_and_grad),
        truth=truth,
        initial_point=uniform_init(dim + 1),
        data={
            "X": X,
            "y": y,
            "a0": a0,
            "b0": b0,
            "prior_scale": prior_scale,
            "m_n": m_n,
            "V_n": V_n,
            "a_n": a_n,
            "b_n": float(b_n),
        },
    )


TASKS = {"linear_regression_nig": make_linear_regression_nig}
