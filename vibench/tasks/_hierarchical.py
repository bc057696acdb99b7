"""The normal hierarchical model, centered or non-centered, with its truth by quadrature over log tau.

The model (groups ``j = 1..J``; observation ``i`` in group ``g(i)`` has a
known noise scale ``sigma_i``, equal within a group)::

    mu ~ N(0, mu_scale^2)
    tau ~ HalfCauchy(tau_scale) or HalfNormal(tau_scale)
    theta_j ~ N(mu, tau^2)           non-centered: theta_j = mu + tau eta_j, eta_j ~ N(0, 1)
    y_i ~ N(theta_g(i), sigma_i^2)

on the unconstrained vector ``z = (mu, s, theta_1..J)`` (centered) or
``z = (mu, s, eta_1..J)`` (non-centered) with ``s = log tau``; the log density
carries the log-Jacobian ``+ s`` and every normalizing constant, so it equals
the PyMC model's ``model.logp()`` and ``log_evidence`` is ``log p(y)``.

The truth is exact up to 1-D quadrature. Given ``tau``, ``(mu, theta)`` is
Gaussian (conjugacy): ``theta`` integrates out to ``ybar_j ~ N(mu, se_j^2 +
tau^2)``, then ``mu | tau, y ~ N(m, V)`` and ``theta_j | mu, tau, y ~
N(a_j mu + (1 - a_j) ybar_j, c_j)`` with ``a_j = se_j^2 / (se_j^2 + tau^2)``
and ``c_j = 1 / (1/tau^2 + 1/se_j^2)``; ``eta_j = (theta_j - mu) / tau`` is a
linear function of them. So ``p(s | y)`` is known in closed form up to its
normalizer, and every moment (including those of ``s`` and ``eta``), the full
covariance (law of total covariance) and ``log Z`` are 1-D integrals over
``s``, done by :class:`~vibench.tasks._quadrature.GridDensity`. Exact draws:
``s`` by gridded inverse CDF, then the conditional Gaussian exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..density import LogDensity
from ..task import Task, require
from ..truth import Truth
from ._gaussian import uniform_init
from ._quadrature import GridDensity

__all__ = ["NormalHierarchy", "hierarchy_task"]

LOG_2PI = np.log(2 * np.pi)
TAU_PRIORS = ("halfcauchy", "halfnormal")
#: Range of log tau searched for the posterior's mass.
S_RANGE = (-100.0, 100.0)
#: Moments use every 8th node of the sampler's grid (1,001 nodes): the trapezoid rule is already exact there.
MOMENT_STEP = 8


@dataclass
class NormalHierarchy:
    """Data and priors of a normal hierarchical model, reduced to per-group sufficient statistics.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Observations.
    group : ndarray of int, shape (n,)
        Group of each observation, ``0 .. groups - 1``; every group observed.
    noise : ndarray, shape (n,)
        Known noise standard deviation of each observation, equal within a group.
    groups : int
    mu_scale : float
        ``mu ~ N(0, mu_scale^2)``.
    tau_prior : {"halfcauchy", "halfnormal"}
    tau_scale : float
    """

    y: np.ndarray
    group: np.ndarray
    noise: np.ndarray
    groups: int
    mu_scale: float = 5.0
    tau_prior: str = "halfcauchy"
    tau_scale: float = 5.0
    ybar: np.ndarray = field(init=False)
    se: np.ndarray = field(init=False)
    const: float = field(init=False)

    def __post_init__(self):
        self.y, self.noise = np.asarray(self.y, float), np.broadcast_to(np.asarray(self.noise, float), np.shape(self.y))
        self.group = np.asarray(self.group, int)
        require(self.tau_prior in TAU_PRIORS, f"tau_prior must be one of {TAU_PRIORS}, got {self.tau_prior!r}")
        count = np.bincount(self.group, minlength=self.groups)
        require(np.all(count > 0), "every group needs at least one observation")
        self.ybar = np.bincount(self.group, weights=self.y, minlength=self.groups) / count
        noise = np.bincount(self.group, weights=self.noise, minlength=self.groups) / count
        require(np.allclose(noise[self.group], self.noise), "the noise scale must be equal within a group")
        self.se = noise / np.sqrt(count)
        # prod_i N(y_i; theta, sigma) = N(ybar; theta, sigma / sqrt(n)) * exp(const): the rest of the likelihood.
        resid = (self.y - self.ybar[self.group]) / self.noise
        self.const = float(np.sum(-0.5 * resid**2 - np.log(self.noise)) - 0.5 * len(self.y) * LOG_2PI
                           + np.sum(np.log(self.se)) + 0.5 * self.groups * LOG_2PI)

    def log_tau_prior(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log prior density of ``tau = exp(s)`` (no Jacobian) and its derivative in ``s``."""
        t2 = np.exp(2 * s) / self.tau_scale**2
        if self.tau_prior == "halfcauchy":
            return np.log(2 / (np.pi * self.tau_scale)) - np.log1p(t2), -2 * t2 / (1 + t2)
        return 0.5 * np.log(2 / np.pi) - np.log(self.tau_scale) - 0.5 * t2, -t2

    # -- the log density ------------------------------------------------------------------------
    def log_density(self, centered: bool) -> LogDensity:
        """The unnormalized (in fact joint) log density on ``(mu, s, theta)`` or ``(mu, s, eta)``."""
        ybar, se2, J, mu_var = self.ybar, self.se**2, self.groups, self.mu_scale**2
        base = self.const - 0.5 * np.log(2 * np.pi * mu_var) - np.sum(np.log(self.se)) - J * LOG_2PI

        def logp_and_grad(z):
            mu, s, u = z[:, 0], z[:, 1], z[:, 2:]
            tau = np.exp(s)
            prior_s, dprior_s = self.log_tau_prior(s)
            value = base - 0.5 * mu**2 / mu_var + prior_s + s
            grad = np.empty_like(z)
            grad[:, 0] = -mu / mu_var
            grad[:, 1] = dprior_s + 1
            if centered:
                r = (u - mu[:, None]) / tau[:, None]
                e = (ybar - u) / se2
                value += -0.5 * np.sum(r**2, axis=1) - J * s - 0.5 * np.sum((ybar - u) * e, axis=1)
                grad[:, 2:] = e - r / tau[:, None]
                grad[:, 0] += np.sum(r, axis=1) / tau
                grad[:, 1] += np.sum(r**2, axis=1) - J
            else:
                e = (ybar - mu[:, None] - tau[:, None] * u) / se2
                value += -0.5 * np.sum(u**2, axis=1) - 0.5 * np.sum(e**2 * se2, axis=1)
                grad[:, 2:] = tau[:, None] * e - u
                grad[:, 0] += np.sum(e, axis=1)
                grad[:, 1] += tau * np.sum(e * u, axis=1)
            return value, grad

        return LogDensity(J + 2, lambda z: logp_and_grad(z)[0], logp_and_grad)

    # -- the truth by quadrature ----------------------------------------------------------------
    def log_marginal(self, s: np.ndarray) -> np.ndarray:
        """``log p(s, y)``: the joint log density with ``mu`` and ``theta`` integrated out."""
        t2 = np.exp(2 * s)[:, None]
        v = self.se**2 + t2
        prec = 1 / self.mu_scale**2 + np.sum(1 / v, axis=1)
        m = np.sum(self.ybar / v, axis=1) / prec
        lik = np.sum(-0.5 * (self.ybar - m[:, None]) ** 2 / v - 0.5 * np.log(2 * np.pi * v), axis=1)
        prior_mu = -0.5 * m**2 / self.mu_scale**2 - 0.5 * np.log(2 * np.pi * self.mu_scale**2)
        return self.log_tau_prior(s)[0] + s + lik + prior_mu + 0.5 * np.log(2 * np.pi / prec) + self.const

    def conditional(self, s: np.ndarray, centered: bool):
        """Given ``s`` (shape ``(k,)``): ``mu ~ N(m, V)`` and ``u = alpha + beta mu + gamma xi``, ``xi ~ N(0, I)``."""
        t2 = np.exp(2 * s)[:, None]
        se2 = self.se**2
        v = se2 + t2
        prec = 1 / self.mu_scale**2 + np.sum(1 / v, axis=1)
        m = np.sum(self.ybar / v, axis=1) / prec
        a, one_minus_a = se2 / v, t2 / v
        c = t2 * se2 / v
        if centered:
            return m, 1 / prec, one_minus_a * self.ybar, a, np.sqrt(c)
        t = np.sqrt(t2)
        return m, 1 / prec, one_minus_a * self.ybar / t, -one_minus_a / t, np.sqrt(c) / t

    def truth(self, centered: bool, density: LogDensity) -> Truth:
        """The exact :class:`Truth`: moments, covariance and ``log Z`` by quadrature, exact draws."""
        grid = GridDensity.fit(self.log_marginal, *S_RANGE)
        coarse = grid.thinned(MOMENT_STEP)
        s, w = coarse.nodes, coarse.weights
        m, V, alpha, beta, gamma = self.conditional(s, centered)
        means = np.column_stack([m, s, alpha + beta * m[:, None]])
        mean = w @ means
        dev = (means - mean) * np.sqrt(w)[:, None]
        load = np.column_stack([np.ones_like(s), np.zeros_like(s), beta]) * np.sqrt(w * V)[:, None]
        cov = dev.T @ dev + load.T @ load
        cov[2:, 2:] += np.diag(w @ gamma**2)
        cov = 0.5 * (cov + cov.T)
        log_z = grid.log_norm

        def logpdf(z):
            with density.uncounted():  # scoring's evaluations, not a method's
                return density.logp(np.atleast_2d(z)) - log_z

        def sample(n: int, rng: np.random.Generator) -> np.ndarray:
            s_draw = grid.sample(n, rng)
            m_, V_, alpha_, beta_, gamma_ = self.conditional(s_draw, centered)
            mu = m_ + np.sqrt(V_) * rng.standard_normal(n)
            u = alpha_ + beta_ * mu[:, None] + gamma_ * rng.standard_normal((n, self.groups))
            return np.column_stack([mu, s_draw, u])

        rest = "theta" if centered else "eta"
        provenance = {
            "method": "1-D trapezoid quadrature over log tau (mu and theta | tau Gaussian by conjugacy); draws: "
                      "gridded inverse CDF of log tau, then the exact conditional Gaussian",
            "grid": {"points": int(grid.nodes.size), "lo": float(grid.nodes[0]), "hi": float(grid.nodes[-1])},
            "coordinates": ["mu", "log_tau"] + [f"{rest}[{j}]" for j in range(self.groups)],
        }
        return Truth(kind="exact", mean=mean, sd=np.sqrt(np.diag(cov)), cov=cov, logpdf=logpdf,
                     log_evidence=log_z, sample=sample, provenance=provenance)

    # -- the same model in PyMC -----------------------------------------------------------------
    def pymc_model(self, centered: bool):
        """``pymc.Model`` with value variables ``mu``, ``tau_log__``, ``theta`` (or ``eta``): the task's order."""
        from ..pymc_bridge import import_pymc

        pm = import_pymc()
        with pm.Model() as model:
            mu = pm.Normal("mu", 0.0, self.mu_scale)
            if self.tau_prior == "halfcauchy":
                tau = pm.HalfCauchy("tau", beta=self.tau_scale)
            else:
                tau = pm.HalfNormal("tau", sigma=self.tau_scale)
            if centered:
                theta = pm.Normal("theta", mu, tau, shape=self.groups)
            else:
                theta = mu + tau * pm.Normal("eta", 0.0, 1.0, shape=self.groups)
            pm.Normal("y", theta[self.group], self.noise, observed=self.y)
        return model


def hierarchy_task(name: str, params: dict[str, Any], model: NormalHierarchy, centered: bool,
                   data: dict[str, Any] | None = None) -> Task:
    """A :class:`Task` for ``model`` in the centered or non-centered parameterization."""
    density = model.log_density(centered)
    return Task(
        name=name,
        params=params,
        log_density=density,
        truth=model.truth(centered, density),
        initial_point=uniform_init(model.groups + 2),
        pymc_model=lambda: model.pymc_model(centered),
        tags={"centered": centered},
        data={**(data or {}), "ybar": model.ybar, "se": model.se, "mu_scale": model.mu_scale,
              "tau_prior": model.tau_prior, "tau_scale": model.tau_scale},
    )
