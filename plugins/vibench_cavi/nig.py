"""Mean-field family ``q(beta) q(sigma2)`` for the normal-inverse-gamma regression.

The model (task ``linear_regression_nig``)::

    sigma2 ~ InvGamma(a0, b0)
    beta | sigma2 ~ N(0, sigma2 tau^2 I)           (tau = prior_scale)
    y | beta, sigma2 ~ N(X beta, sigma2 I)

and the family ``q(beta) = N(mu, Sigma)``, ``q(sigma2) = InvGamma(a, b)``.
With ``Lambda = X^T X + I / tau^2`` the coordinate-ascent updates are

    q(beta):   Sigma = (b / a) Lambda^-1,  mu = Lambda^-1 X^T y
    q(sigma2): a = a0 + (n + dim) / 2,
               b = b0 + (|y - X mu|^2 + mu^T mu / tau^2 + tr(Lambda Sigma)) / 2

(Bishop 2006, sec. 10.1; Blei, Kucukelbir and McAuliffe 2017). Their fixed
point is known in closed form: ``mu = m_n``, ``Sigma = (b_n / a_n) V_n``,
``a = a_n + dim / 2`` and ``b = b_n (a_n + dim / 2) / a_n``, where ``m_n,
V_n, a_n, b_n`` are the exact posterior's; ``b`` approaches it linearly with
rate ``dim / (2 a)``.

On the task's unconstrained space ``z = (beta, s)``, ``s = log sigma2``,
``q(s)`` is a log-inverse-gamma: ``log q(s) = a log b - lgamma(a) - a s -
b exp(-s)``, with mean ``log b - digamma(a)`` and variance ``trigamma(a)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vibench import Approximation
from vibench.truth import gaussian_logpdf

__all__ = ["NIGData", "NIGFactors", "NIGApproximation", "elbo", "fixed_point"]

LOG_2PI = np.log(2 * np.pi)


@dataclass(frozen=True)
class NIGData:
    """Sufficient statistics of the regression data and the prior constants."""

    n: int
    dim: int
    a0: float
    b0: float
    tau2: float
    lam: np.ndarray  # X^T X + I / tau^2
    xty: np.ndarray  # X^T y
    yty: float

    @classmethod
    def from_task_data(cls, data: dict[str, Any]) -> "NIGData":
        """Build from ``Task.data`` (keys ``X``, ``y``, ``a0``, ``b0``, ``prior_scale``)."""
        X, y = np.asarray(data["X"], dtype=float), np.asarray(data["y"], dtype=float)
        tau2 = float(data["prior_scale"]) ** 2
        n, dim = X.shape
        lam = X.T @ X + np.eye(dim) / tau2
        return cls(n, dim, float(data["a0"]), float(data["b0"]), tau2, 0.5 * (lam + lam.T), X.T @ y, float(y @ y))


@dataclass
class NIGFactors:
    """Parameters of ``q(beta) = N(mu, Sigma)`` and ``q(sigma2) = InvGamma(a, b)``."""

    mu: np.ndarray
    sigma: np.ndarray
    a: float
    b: float

    def update_beta(self, data: NIGData) -> None:
        """Coordinate-ascent update of ``q(beta)`` given ``q(sigma2)``."""
        inv_lam = np.linalg.inv(data.lam)
        self.mu = inv_lam @ data.xty
        self.sigma = (self.b / self.a) * 0.5 * (inv_lam + inv_lam.T)

    def update_sigma2(self, data: NIGData) -> None:
        """Coordinate-ascent update of ``q(sigma2)`` given ``q(beta)``."""
        self.a = data.a0 + 0.5 * (data.n + data.dim)
        self.b = data.b0 + 0.5 * _expected_quadratic(data, self.mu, self.sigma)


def _expected_quadratic(data: NIGData, mu: np.ndarray, sigma: np.ndarray) -> float:
    """``E_q[|y - X beta|^2 + beta^T beta / tau^2]``."""
    return float(data.yty - 2 * mu @ data.xty + mu @ data.lam @ mu + np.sum(data.lam * sigma))


def elbo(data: NIGData, q: NIGFactors) -> float:
    """The exact ELBO ``E_q[log p(y, beta, sigma2)] + H(q)``, in closed form.

    It equals ``log p(y) - KL(q || posterior)`` and is the same on the
    ``(beta, log sigma2)`` space, since the task's log density carries the
    Jacobian.
    """
    from scipy.special import digamma, gammaln  # here, not at import: registering the plugin stays cheap

    e_log_s2 = np.log(q.b) - digamma(q.a)
    e_inv_s2 = q.a / q.b
    const = data.a0 * np.log(data.b0) - gammaln(data.a0) - 0.5 * data.dim * np.log(2 * np.pi * data.tau2)
    const -= 0.5 * data.n * LOG_2PI
    e_logp = (
        const
        - (data.a0 + 1 + 0.5 * (data.dim + data.n)) * e_log_s2
        - e_inv_s2 * (data.b0 + 0.5 * _expected_quadratic(data, q.mu, q.sigma))
    )
    h_beta = 0.5 * np.linalg.slogdet(q.sigma)[1] + 0.5 * data.dim * (1 + LOG_2PI)
    h_s2 = q.a + np.log(q.b) + gammaln(q.a) - (1 + q.a) * digamma(q.a)
    return float(e_logp + h_beta + h_s2)


def fixed_point(data: NIGData) -> NIGFactors:
    """The CAVI fixed point in closed form (the exact mean-field optimum)."""
    chol = np.linalg.cholesky(data.lam)
    m_n = np.linalg.solve(chol.T, np.linalg.solve(chol, data.xty))
    v_n = np.linalg.inv(data.lam)
    a_n = data.a0 + 0.5 * data.n
    b_n = data.b0 + 0.5 * (data.yty - m_n @ data.xty)
    a = a_n + 0.5 * data.dim
    return NIGFactors(mu=m_n, sigma=(b_n / a_n) * 0.5 * (v_n + v_n.T), a=a, b=b_n * a / a_n)


class NIGApproximation(Approximation):
    """``q(beta) q(s)`` on ``z = (beta, s = log sigma2)``: Gaussian times log-inverse-gamma.

    Parameters
    ----------
    q : NIGFactors
    info : dict, optional
    """

    def __init__(self, q: NIGFactors, info: dict[str, Any] | None = None):
        from scipy.special import digamma, polygamma

        self.q = q
        dim = q.mu.shape[0]
        self._chol = np.linalg.cholesky(q.sigma)
        self.mean = np.append(q.mu, np.log(q.b) - digamma(q.a))
        self.cov = np.zeros((dim + 1, dim + 1))
        self.cov[:dim, :dim] = q.sigma
        self.cov[dim, dim] = polygamma(1, q.a)
        self.info = dict(info or {})

    @property
    def has_density(self) -> bool:
        return True

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        dim = self.q.mu.shape[0]
        out = np.empty((n, dim + 1))
        out[:, :dim] = self.q.mu + rng.standard_normal((n, dim)) @ self._chol.T
        out[:, dim] = np.log(self.q.b) - np.log(rng.gamma(self.q.a, 1.0, n))  # 1/sigma2 ~ Gamma(a, rate b)
        return out

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        from scipy.special import gammaln

        x = np.atleast_2d(np.asarray(x, dtype=float))
        dim = self.q.mu.shape[0]
        s = x[:, dim]
        a, b = self.q.a, self.q.b
        log_qs = a * np.log(b) - gammaln(a) - a * s - b * np.exp(-s)
        return gaussian_logpdf(x[:, :dim], self.q.mu, self._chol) + log_qs
