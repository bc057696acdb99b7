"""Time-series models of posteriordb (Stan's stat_comp_benchmarks): arK, arma11, garch11.

The Stan loops are linear recursions with a constant coefficient, so they are
solved in closed form instead of step by step (``pytensor.scan`` compiles
slowly and runs ~20x slower here): ``x[t] = b[t] + c x[t-1]`` gives
``x = P(c) b`` with the lower-triangular Toeplitz matrix ``P[t, s] = c^(t-s)``
(:func:`_power_toeplitz`). ARMA(1, 1)'s errors have ``c = -theta``,
GARCH(1, 1)'s variances ``c = beta1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .translation import Translation, pymc

__all__ = ["TRANSLATIONS"]


def _power_toeplitz(c, T: int):
    """``P[t, s] = c^(t-s)`` for ``t >= s``, else 0 (``T x T``): ``x = P b`` solves ``x[t] = b[t] + c x[t-1]``,
    ``x[1] = b[1]``. Powers from ``c^1`` up (``c^0 = 1`` is the diagonal), so the gradient is finite at ``c = 0``."""
    import pytensor.tensor as pt

    lag = np.subtract.outer(np.arange(T), np.arange(T))
    powers = pt.concatenate([np.ones(1), c ** np.arange(1, T, dtype=float)])
    return powers[np.clip(lag, 0, None)] * (lag >= 0)


def _ark(d: dict[str, Any]):
    """AR(K): ``alpha, beta[k] ~ N(0, 10)``, ``sigma ~ cauchy(0, 2.5)`` on ``sigma > 0``,
    ``y[t] ~ N(alpha + sum_k beta[k] y[t-k], sigma)`` for ``t = K+1..T``."""
    pm = pymc()
    y, K = np.asarray(d["y"], dtype=float), int(d["K"])
    T = y.size
    lags = np.column_stack([y[K - k:T - k] for k in range(1, K + 1)])  # column k-1: y[t-k]
    with pm.Model() as model:
        alpha = pm.Normal("alpha", 0.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0, shape=K)
        sigma = pm.HalfCauchy("sigma", beta=2.5)
        pm.Normal("y", mu=alpha + pm.math.dot(lags, beta), sigma=sigma, observed=y[K:])
    return model


def _arma11(d: dict[str, Any]):
    """ARMA(1, 1): ``mu ~ N(0, 10)``, ``phi, theta ~ N(0, 2)``, ``sigma ~ cauchy(0, 2.5)``;
    ``err[1] = y[1] - (mu + phi mu)``, ``err[t] = y[t] - mu - phi y[t-1] - theta err[t-1]``,
    ``err ~ N(0, sigma)``."""
    pm = pymc()
    import pytensor.tensor as pt

    y = np.asarray(d["y"], dtype=float)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        phi = pm.Normal("phi", 0.0, 2.0)
        theta = pm.Normal("theta", 0.0, 2.0)
        sigma = pm.HalfCauchy("sigma", beta=2.5)
        # err[1] = y[1] - (mu + phi mu); err[t] = (y[t] - mu - phi y[t-1]) - theta err[t-1]
        drive = pt.concatenate([pt.atleast_1d(y[0] - (mu + phi * mu)), y[1:] - mu - phi * y[:-1]])
        err = pt.dot(_power_toeplitz(-theta, y.size), drive)
        pm.Potential("err", pm.logp(pm.Normal.dist(0.0, sigma), err).sum())
    return model


def _garch11(d: dict[str, Any]):
    """GARCH(1, 1) with flat priors: ``mu`` flat, ``alpha0 > 0`` flat, ``alpha1`` flat on (0, 1),
    ``beta1`` flat on ``(0, 1 - alpha1)``; ``sigma[1] = sigma1``,
    ``sigma[t]^2 = alpha0 + alpha1 (y[t-1] - mu)^2 + beta1 sigma[t-1]^2``, ``y ~ N(mu, sigma)``.

    ``pm.Uniform(0, 1 - alpha1)`` has density ``1 / (1 - alpha1)``; Stan's implicit
    prior is flat, so a potential ``log(1 - alpha1)`` cancels it.
    """
    pm = pymc()
    import pytensor.tensor as pt

    y = np.asarray(d["y"], dtype=float)
    with pm.Model() as model:
        mu = pm.Flat("mu")
        alpha0 = pm.HalfFlat("alpha0")
        alpha1 = pm.Uniform("alpha1", 0.0, 1.0)
        beta1 = pm.Uniform("beta1", 0.0, 1.0 - alpha1)
        pm.Potential("beta1_flat", pt.log1p(-alpha1))

        # sigma[1]^2 = sigma1^2; sigma[t]^2 = (alpha0 + alpha1 (y[t-1] - mu)^2) + beta1 sigma[t-1]^2
        var1 = np.asarray([float(d["sigma1"]) ** 2])
        drive = pt.concatenate([var1, alpha0 + alpha1 * (y[:-1] - mu) ** 2])
        sigma = pt.sqrt(pt.dot(_power_toeplitz(beta1, y.size), drive))
        pm.Normal("y", mu=mu, sigma=sigma, observed=y)
    return model


TRANSLATIONS = {
    "arK": Translation("arK", _ark),
    "arma11": Translation("arma11", _arma11),
    "garch11": Translation("garch11", _garch11),
}
