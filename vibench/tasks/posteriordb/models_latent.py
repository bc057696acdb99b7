"""Hierarchical, mixture, HMM and Gaussian-process models of posteriordb.

eight_schools (centered, non-centered), low_dim_gauss_mix, hmm_example,
hmm_drive_0 / hmm_drive_1 (basketball drives), gp_pois_regr, gp_regr.

Stan's ``ordered[K]`` is PyMC's ``ordered`` transform; ``positive_ordered[K]``
is ``Chain([log, ordered])`` (ordered logs: the same constrained set, another
bijection onto it); ``simplex[K]`` is a ``Dirichlet`` (``a = 1``: Stan's
implicit uniform prior) with PyMC's simplex transform. Two posteriors store a
transformed parameter instead of the sampled one and their ``free`` inverts it:
the non-centered eight schools stores ``theta`` (``theta_trans = (theta -
mu) / tau``) and gp_pois_regr stores ``f`` (``f_tilde = L^-1 f`` with ``L``
the Cholesky factor of each draw's covariance).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .translation import Translation, pymc

__all__ = ["TRANSLATIONS", "gp_cholesky"]


# -- eight schools ---------------------------------------------------------------------------------
def _eight_schools(centered: bool):
    def build(d: dict[str, Any]):
        """``mu ~ N(0, 5)``, ``tau ~ cauchy(0, 5)`` on ``tau > 0``, ``theta ~ N(mu, tau)``
        (non-centered: ``theta = mu + tau theta_trans``, ``theta_trans ~ N(0, 1)``), ``y ~ N(theta, sigma)``."""
        pm = pymc()
        y, sigma = np.asarray(d["y"], dtype=float), np.asarray(d["sigma"], dtype=float)
        J = y.size
        with pm.Model() as model:
            if centered:  # Stan's parameter order: theta, mu, tau
                theta = pm.Flat("theta", shape=J)  # its normal(mu, tau) prior is added below, after tau exists
                mu = pm.Normal("mu", 0.0, 5.0)
                tau = pm.HalfCauchy("tau", beta=5.0)
                pm.Potential("theta_prior", pm.logp(pm.Normal.dist(mu, tau), theta).sum())
            else:  # theta_trans, mu, tau
                theta_trans = pm.Normal("theta_trans", 0.0, 1.0, shape=J)
                mu = pm.Normal("mu", 0.0, 5.0)
                tau = pm.HalfCauchy("tau", beta=5.0)
                theta = theta_trans * tau + mu
            pm.Normal("y", mu=theta, sigma=sigma, observed=y)
        return model

    return build


def _noncentered_free(draws, data):
    """posteriordb stores ``theta = mu + tau theta_trans``; the sampled parameter is ``theta_trans``."""
    return {"theta_trans": (draws["theta"] - draws["mu"][:, None]) / draws["tau"][:, None],
            "mu": draws["mu"], "tau": draws["tau"]}


# -- two-component normal mixture ---------------------------------------------------------------------
def _low_dim_gauss_mix(d: dict[str, Any]):
    """``ordered[2] mu ~ N(0, 2)``, ``sigma[k] ~ N(0, 2)`` on ``sigma > 0``, ``theta ~ beta(5, 5)``,
    ``y[n] ~ theta N(mu[1], sigma[1]) + (1 - theta) N(mu[2], sigma[2])``."""
    pm = pymc()
    import pytensor.tensor as pt

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 2.0, shape=2, transform=pm.distributions.transforms.ordered,
                       initval=np.array([-1.0, 1.0]))
        sigma = pm.HalfNormal("sigma", 2.0, shape=2)
        theta = pm.Beta("theta", 5.0, 5.0)
        y = np.asarray(d["y"], dtype=float)
        # Stan's log_mix, written out: pm.NormalMixture's gradient is NaN where both components'
        # densities underflow (small sigmas far from the data, e.g. at Stan-like initial points)
        lp1 = pm.logp(pm.Normal.dist(mu[0], sigma[0]), y) + pt.log(theta)
        lp2 = pm.logp(pm.Normal.dist(mu[1], sigma[1]), y) + pt.log1p(-theta)
        pm.Potential("y", pt.sum(pt.maximum(lp1, lp2) + pt.log1p(pt.exp(-pt.abs(lp1 - lp2)))))
    return model


# -- hidden Markov models (forward algorithm) --------------------------------------------------------------
def _log_matmul(a, b):
    """Matrix product in the (logsumexp, +) semiring, batched:
    ``c[..., i, k] = logsumexp_j a[..., i, j] + b[..., j, k]``."""
    from pytensor.tensor.math import logsumexp

    return logsumexp(a[..., :, :, None] + b[..., None, :, :], axis=-2)


def _forward(log_emission, log_transition, n: int):
    """``log p(obs)`` of an HMM by the forward algorithm of the Stan models.

    ``gamma[1, k] = log_emission[1, k]``, ``gamma[t, k] = logsumexp_j(gamma[t-1, j]
    + log_transition[j, k]) + log_emission[t, k]``, result ``logsumexp_k gamma[n, k]``.
    The recursion is a product of the matrices ``M_t[j, k] = log_transition[j, k] +
    log_emission[t, k]`` in the (logsumexp, +) semiring, so it is evaluated by
    pairwise products (``log2 n`` vectorized levels, no ``scan``): the same
    number, associativity aside.
    """
    from pytensor.tensor.math import logsumexp

    steps = log_transition[None, :, :] + log_emission[1:, None, :]  # (n - 1, K, K)
    count = n - 1
    while count > 1:
        half = count // 2
        paired = _log_matmul(steps[0:2 * half:2], steps[1:2 * half:2])
        steps = paired if count % 2 == 0 else pymc().math.concatenate([paired, steps[2 * half:]], axis=0)
        count = half + count % 2
    gamma_n = logsumexp(log_emission[0][:, None] + steps[0], axis=0)
    return logsumexp(gamma_n)


def _positive_ordered():
    transforms = pymc().distributions.transforms
    return transforms.Chain([transforms.log, transforms.ordered])


def _hmm_example(d: dict[str, Any]):
    """``simplex[2] theta1, theta2`` (uniform), ``positive_ordered[2] mu`` with ``mu[1] ~ N(3, 1)``,
    ``mu[2] ~ N(10, 1)``; emissions ``y[t] ~ N(mu[z_t], 1)``, transitions ``theta[j] = theta_j``."""
    pm = pymc()
    import pytensor.tensor as pt

    y = np.asarray(d["y"], dtype=float)
    K = int(d["K"])
    with pm.Model() as model:
        theta1 = pm.Dirichlet("theta1", a=np.ones(K))
        theta2 = pm.Dirichlet("theta2", a=np.ones(K))
        mu = pm.Normal("mu", mu=np.array([3.0, 10.0]), sigma=1.0, shape=K, transform=_positive_ordered(),
                       initval=np.array([3.0, 10.0]))
        emission = pm.logp(pm.Normal.dist(mu[None, :], 1.0), y[:, None])
        pm.Potential("hmm", _forward(emission, pt.log(pt.stack([theta1, theta2])), len(y)))
    return model


def _hmm_drive(normal: bool):
    def build(d: dict[str, Any]):
        """``theta_k ~ dirichlet(alpha[k])``; ``phi``, ``lambda`` (positive-)ordered with
        ``phi[1], lambda[1] ~ N(0, 1)``, ``phi[2], lambda[2] ~ N(3, 1)``; emissions exponential
        (``hmm_drive_0``: rates ``phi``, ``lambda``) or normal (``hmm_drive_1``: sds ``tau``, ``rho``)."""
        pm = pymc()
        import pytensor.tensor as pt

        u, v = np.asarray(d["u"], dtype=float), np.asarray(d["v"], dtype=float)
        alpha = np.asarray(d["alpha"], dtype=float)
        K = int(d["K"])
        transform = pm.distributions.transforms.ordered if normal else _positive_ordered()
        with pm.Model() as model:
            theta1 = pm.Dirichlet("theta1", a=alpha[0])
            theta2 = pm.Dirichlet("theta2", a=alpha[1])
            init = np.array([0.5, 3.0])
            phi = pm.Normal("phi", mu=np.array([0.0, 3.0]), sigma=1.0, shape=K, transform=transform, initval=init)
            lam = pm.Normal("lambda", mu=np.array([0.0, 3.0]), sigma=1.0, shape=K, transform=transform,
                            initval=init)
            if normal:
                emission = (pm.logp(pm.Normal.dist(phi[None, :], float(d["tau"])), u[:, None])
                            + pm.logp(pm.Normal.dist(lam[None, :], float(d["rho"])), v[:, None]))
            else:
                emission = (pm.logp(pm.Exponential.dist(lam=phi[None, :]), u[:, None])
                            + pm.logp(pm.Exponential.dist(lam=lam[None, :]), v[:, None]))
            pm.Potential("hmm", _forward(emission, pt.log(pt.stack([theta1, theta2])), len(u)))
        return model

    return build


# -- Gaussian processes ---------------------------------------------------------------------------------
def _exp_quad(x, alpha, rho, lib):
    """Stan's ``gp_exp_quad_cov``: ``alpha^2 exp(-(x_i - x_j)^2 / (2 rho^2))``."""
    diff = x[:, None] - x[None, :]
    return alpha**2 * lib.exp(-0.5 * diff**2 / rho**2)


def gp_cholesky(x: np.ndarray, alpha: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Cholesky factors of gp_pois_regr's covariance (plus ``1e-10 I``) for each draw.

    Parameters
    ----------
    x : ndarray, shape (N,)
    alpha, rho : ndarray, shape (n,)

    Returns
    -------
    ndarray, shape (n, N, N)
    """
    diff2 = (x[:, None] - x[None, :]) ** 2
    cov = alpha[:, None, None] ** 2 * np.exp(-0.5 * diff2[None] / rho[:, None, None] ** 2)
    return np.linalg.cholesky(cov + 1e-10 * np.eye(x.size))


def _gp_pois_regr(d: dict[str, Any]):
    """``rho ~ gamma(25, 4)``, ``alpha ~ N(0, 2)`` on ``alpha > 0``, ``f_tilde ~ N(0, 1)``,
    ``f = cholesky(K(alpha, rho) + 1e-10 I) f_tilde``, ``k ~ poisson_log(f)``."""
    pm = pymc()
    import pytensor.tensor as pt
    from pytensor.tensor.slinalg import cholesky

    x = np.asarray(d["x"], dtype=float)
    N = x.size
    with pm.Model() as model:
        rho = pm.Gamma("rho", alpha=25.0, beta=4.0)
        alpha = pm.HalfNormal("alpha", 2.0)
        f_tilde = pm.Normal("f_tilde", 0.0, 1.0, shape=N)
        L = cholesky(_exp_quad(x, alpha, rho, pt) + 1e-10 * np.eye(N), lower=True)
        f = pt.dot(L, f_tilde)
        pm.Poisson("k", mu=pt.exp(f), observed=np.asarray(d["k"], dtype=int))
    return model


def _gp_pois_free(draws, data):
    """posteriordb stores ``f = L f_tilde``; the sampled parameter is ``f_tilde = L^-1 f``."""
    L = gp_cholesky(np.asarray(data["x"], dtype=float), draws["alpha"], draws["rho"])
    f_tilde = np.linalg.solve(L, draws["f"][..., None])[..., 0]
    return {"rho": draws["rho"], "alpha": draws["alpha"], "f_tilde": f_tilde}


def _gp_regr(d: dict[str, Any]):
    """``rho ~ gamma(25, 4)``, ``alpha ~ N(0, 2)``, ``sigma ~ N(0, 1)`` (all positive),
    ``y ~ MVN(0, K(alpha, rho) + sigma I)`` (``sigma``, not ``sigma^2``, on the diagonal, as in Stan)."""
    pm = pymc()
    import pytensor.tensor as pt

    x = np.asarray(d["x"], dtype=float)
    N = x.size
    with pm.Model() as model:
        rho = pm.Gamma("rho", alpha=25.0, beta=4.0)
        alpha = pm.HalfNormal("alpha", 2.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        cov = _exp_quad(x, alpha, rho, pt) + sigma * np.eye(N)
        pm.MvNormal("y", mu=np.zeros(N), cov=cov, observed=np.asarray(d["y"], dtype=float))
    return model


TRANSLATIONS = {
    "eight_schools_centered": Translation("eight_schools_centered", _eight_schools(True)),
    "eight_schools_noncentered": Translation(
        "eight_schools_noncentered", _eight_schools(False), _noncentered_free,
        note="posteriordb stores theta; the sampled theta_trans = (theta - mu) / tau"),
    "low_dim_gauss_mix": Translation("low_dim_gauss_mix", _low_dim_gauss_mix),
    "hmm_example": Translation("hmm_example", _hmm_example),
    "hmm_drive_0": Translation("hmm_drive_0", _hmm_drive(False)),
    "hmm_drive_1": Translation("hmm_drive_1", _hmm_drive(True)),
    "gp_pois_regr": Translation("gp_pois_regr", _gp_pois_regr, _gp_pois_free,
                                note="posteriordb stores f; the sampled f_tilde = L^-1 f"),
    "gp_regr": Translation("gp_regr", _gp_regr),
}
