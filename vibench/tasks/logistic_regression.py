"""Bayesian logistic regression on synthetic data: ``logistic_regression``.

::

    beta ~ N(0, prior_scale^2 I)
    y_i ~ Bernoulli(sigmoid(x_i . beta)),  i = 1..n

with ``X``, the true ``beta`` (both standard normal) and ``y`` simulated from
``seed``, no intercept. The unconstrained vector is ``beta`` (dimension
``dim``); the log density is the full log likelihood plus the normalized log
prior, equal to ``task.pymc_model()``'s ``model.logp()``.

No closed form exists. At ``dim = 1`` the truth is exact by quadrature (kind
``exact``: trapezoid moments and log Z, gridded inverse-CDF draws); at
``dim >= 2`` it is a reference from long, checked PyMC NUTS runs (kind
``reference``, see :mod:`vibench.reference`), computed once per size and
stored; the reference for the default size ships with vibench.
"""

from __future__ import annotations

import numpy as np

from ..density import LogDensity
from ..reference import reference_truth
from ..task import Task, require
from ..truth import Truth
from ._gaussian import uniform_init
from ._quadrature import GridDensity

__all__ = ["make_logistic_regression", "simulate_logistic"]

MAX_DIM = 1000
MAX_N = 100_000


def simulate_logistic(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate ``X ~ N(0, 1)^(n, dim)``, ``beta ~ N(0, I)``, ``y ~ Bernoulli(sigmoid(X beta))``.

    Draws are made from ``np.random.default_rng(seed)`` in the order ``X``,
    ``beta``, then ``n`` uniforms for ``y``.

    Returns
    -------
    X : ndarray, shape (n, dim)
    y : ndarray of float (0 or 1), shape (n,)
    beta : ndarray, shape (dim,)
    """
    from scipy.special import expit  # here, not at import: registering the tasks stays cheap

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim))
    beta = rng.standard_normal(dim)
    y = (rng.uniform(size=n) < expit(X @ beta)).astype(float)
    return X, y, beta


def _quadrature_truth(logp, lo: float, hi: float) -> Truth:
    """Exact truth of a 1-D posterior by quadrature: moments, log Z, gridded inverse-CDF draws."""
    grid = GridDensity.fit(lambda b: logp(b[:, None]), lo, hi)
    mean = grid.expect(grid.nodes)
    var = grid.expect((grid.nodes - mean) ** 2)

    def logpdf(x):
        return logp(np.atleast_2d(x)) - grid.log_norm

    def sample(size: int, rng: np.random.Generator) -> np.ndarray:
        return grid.sample(size, rng)[:, None]

    provenance = {"method": "1-D trapezoid quadrature; draws: gridded inverse CDF", "coordinates": ["beta"],
                  "grid": {"points": int(grid.nodes.size), "lo": float(grid.nodes[0]), "hi": float(grid.nodes[-1])}}
    return Truth(kind="exact", mean=[mean], sd=[np.sqrt(var)], cov=[[var]], logpdf=logpdf,
                 log_evidence=grid.log_norm, sample=sample, provenance=provenance)


def make_logistic_regression(n: int = 100, dim: int = 5, prior_scale: float = 1.0, seed: int = 0) -> Task:
    """Bayesian logistic regression with a Gaussian prior, on simulated data.

    Parameters
    ----------
    n : int
        Number of observations.
    dim : int
        Number of coefficients (the posterior's dimension).
    prior_scale : float
        Standard deviation of the ``N(0, prior_scale^2 I)`` prior.
    seed : int
        Seed of the simulated data.

    Returns
    -------
    Task
        Truth of kind ``exact`` (``dim = 1``) or ``reference`` (computed on first use and stored).
    """
    require(1 <= dim <= MAX_DIM, f"dim must be between 1 and {MAX_DIM}, got {dim}")
    require(1 <= n <= MAX_N, f"n must be between 1 and {MAX_N}, got {n}")
    require(prior_scale > 0, f"prior_scale must be > 0, got {prior_scale}")
    from scipy.special import expit

    X, y, beta_true = simulate_logistic(n, dim, seed)
    prior_var = prior_scale**2
    const = -0.5 * dim * np.log(2 * np.pi * prior_var)

    def logp_and_grad(b):
        eta = b @ X.T
        value = np.sum(y * eta - np.logaddexp(0.0, eta), axis=1) - 0.5 * np.sum(b**2, axis=1) / prior_var + const
        return value, (y - expit(eta)) @ X - b / prior_var

    def logp(b):
        eta = b @ X.T
        return np.sum(y * eta - np.logaddexp(0.0, eta), axis=1) - 0.5 * np.sum(b**2, axis=1) / prior_var + const

    def pymc_model():
        from ..pymc_bridge import import_pymc

        pm = import_pymc()
        with pm.Model() as model:
            beta = pm.Normal("beta", 0.0, prior_scale, shape=dim)
            pm.Bernoulli("y", logit_p=pm.math.dot(X, beta), observed=y.astype(int))
        return model

    params = {"n": n, "dim": dim, "prior_scale": prior_scale, "seed": seed}
    density = LogDensity(dim, logp, logp_and_grad)
    if dim == 1:
        truth = _quadrature_truth(logp, -50.0 * prior_scale, 50.0 * prior_scale)
    else:
        truth = reference_truth("logistic_regression", params, density, pymc_model)
    return Task(
        name="logistic_regression",
        params=params,
        log_density=density,
        truth=truth,
        initial_point=uniform_init(dim),
        pymc_model=pymc_model,
        data={"X": X, "y": y, "beta_true": beta_true, "prior_scale": prior_scale},
    )


TASKS = {"logistic_regression": make_logistic_regression}
