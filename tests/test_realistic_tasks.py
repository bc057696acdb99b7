"""Eight schools, hierarchical, Brownian motion and logistic regression: every truth against an independent computation.

- Quadrature truths (eight schools, hierarchical) against scipy's adaptive
  quadrature over ``tau`` of generic joint-Gaussian conditioning on the raw
  data (no shared algebra), to 1e-6; their gridded sampler's CDF against the
  exact one; and against a NUTS reference within its MCSE.
- Every task's log density against its PyMC model's ``model.logp()`` and gradient.
- The Brownian motion's exact Gaussian through the PyMC model and exact draws.
- Logistic regression: the 1-D quadrature truth against a NUTS reference, and
  the shipped reference against importance sampling from a Laplace fit.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize, stats

import vibench
from vibench import reference
from vibench.reference import ReferenceSettings
from vibench.tasks import eight_schools
from vibench.tasks._quadrature import GridDensity
from vibench.testing import _z, check_task

#: Small reference runs: seconds, not minutes.
SMALL = ReferenceSettings(chains=2, draws=1000, tune=500, keep=1000, min_ess_bulk=300, min_ess_tail=300)


@pytest.fixture(autouse=True, scope="module")
def isolated_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(reference.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
        yield


CASES = [
    ("eight_schools_centered", {}),
    ("eight_schools_noncentered", {}),
    ("hierarchical", {}),
    ("hierarchical", {"groups": 1, "n_per_group": 3, "centered": False}),
    ("hierarchical", {"groups": 50, "centered": False, "seed": 2}),
    ("brownian_motion", {}),
    ("logistic_regression", {"dim": 1, "n": 30}),
    ("logistic_regression", {}),
]


@pytest.mark.parametrize("name, params", CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_tasks_conform(name, params):
    report = check_task(vibench.get_task(name, **params))
    assert "batched logp, gradient vs finite differences" in report["checked"]


# -- the quadrature truths against scipy.integrate over tau of generic Gaussian conditioning ------


def _moments_given_tau(tau, y, H, noise_var, mu_var, centered):
    """Mean and covariance of (mu, theta) or (mu, eta) given tau and y, and log p(y | tau).

    Generic linear-Gaussian conditioning: ``y = A u + noise`` with ``u = (mu, theta)``,
    ``cov(theta) = tau^2 I + mu_var`` (centered) or ``u = (mu, eta)`` independent, ``A = [H 1, tau H]``.
    """
    groups = H.shape[1]
    if centered:
        cov_u = np.full((groups + 1, groups + 1), mu_var) + np.diag(np.r_[0.0, np.full(groups, tau**2)])
        A = np.hstack([np.zeros((len(y), 1)), H])
    else:
        cov_u = np.diag(np.r_[mu_var, np.ones(groups)])
        A = np.hstack([H.sum(axis=1, keepdims=True), tau * H])
    cov_y = A @ cov_u @ A.T + np.diag(noise_var)
    gain = np.linalg.solve(cov_y, A @ cov_u).T
    return gain @ y, cov_u - gain @ A @ cov_u, stats.multivariate_normal(np.zeros(len(y)), cov_y).logpdf(y)


def _quad_truth(y, H, noise_var, mu_var, tau_pdf, centered):
    """Posterior mean, covariance and log Z on (mu, log tau, theta | eta) by scipy's quad_vec over tau."""
    k = H.shape[1] + 2

    def integrand(tau, shift):
        mean, cov, loglik = _moments_given_tau(tau, y, H, noise_var, mu_var, centered)
        mz = np.insert(mean, 1, np.log(tau))
        cz = np.insert(np.insert(cov, 1, 0.0, axis=0), 1, 0.0, axis=1)
        return tau_pdf(tau) * np.exp(loglik - shift) * np.concatenate([[1.0], mz, (cz + np.outer(mz, mz)).ravel()])

    shift = _moments_given_tau(1.0, y, H, noise_var, mu_var, centered)[2]
    out, _ = integrate.quad_vec(lambda t: integrand(t, shift), 0, np.inf, epsabs=0, epsrel=1e-11, limit=500)
    log_z, out = np.log(out[0]) + shift, out / out[0]
    mean = out[1:k + 1]
    return mean, out[k + 1:].reshape(k, k) - np.outer(mean, mean), log_z


def _eight_schools_quad(centered):
    return _quad_truth(eight_schools.Y, np.eye(8), eight_schools.SIGMA**2, 25.0,
                       lambda t: stats.halfcauchy.pdf(t, scale=5.0), centered)


@pytest.mark.parametrize("centered", [True, False])
def test_eight_schools_truth_matches_adaptive_quadrature_of_the_joint_gaussian(centered):
    task = vibench.get_task(f"eight_schools_{'centered' if centered else 'noncentered'}")
    mean, cov, log_z = _eight_schools_quad(centered)
    np.testing.assert_allclose(task.truth.mean, mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(task.truth.cov, cov, rtol=1e-6, atol=1e-8)
    assert task.truth.log_evidence == pytest.approx(log_z, abs=1e-7)


@pytest.mark.parametrize("centered", [True, False])
def test_hierarchical_truth_matches_adaptive_quadrature_on_the_raw_data(centered):
    task = vibench.get_task("hierarchical", groups=3, n_per_group=4, centered=centered, seed=5)
    group = task.data["group"]
    H = np.eye(3)[group]
    mean, cov, log_z = _quad_truth(task.data["y"], H, np.ones(len(group)), 25.0,
                                   lambda t: stats.halfnorm.pdf(t, scale=5.0), centered)
    np.testing.assert_allclose(task.truth.mean, mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(task.truth.cov, cov, rtol=1e-6, atol=1e-8)
    assert task.truth.log_evidence == pytest.approx(log_z, abs=1e-7)


def test_gridded_inverse_cdf_of_log_tau_is_within_1e5_of_the_exact_cdf():
    task = vibench.get_task("eight_schools_noncentered")
    draws = task.truth.sample(20_000, np.random.default_rng(0))[:, 1]
    points = np.quantile(draws, np.linspace(0.01, 0.99, 25))
    model = eight_schools._model()
    grid = GridDensity.fit(model.log_marginal, -100.0, 100.0)  # the sampler's grid

    def density(tau):
        return np.exp(model.log_marginal(np.array([np.log(tau)]))[0] - grid.log_norm) / tau

    exact = np.array([integrate.quad(density, 0, np.exp(p), epsabs=1e-13, limit=200)[0] for p in points])
    assert np.max(np.abs(grid.cdf_at(points) - exact)) < 1e-5


def test_eight_schools_quadrature_agrees_with_a_nuts_reference_within_mcse():
    task = vibench.get_task("eight_schools_noncentered")
    ref = reference.task_reference(task, SMALL)
    z = reference.compare(task.truth, ref)
    bound = _z(2 * task.dim)
    assert np.max(np.abs(z["z_mean"])) < bound and np.max(np.abs(z["z_sd"])) < bound, z


# -- the same posteriors in PyMC ------------------------------------------------------------------


MODEL_CASES = [
    ("eight_schools_centered", {}, ["mu", "tau_log__", "theta"]),
    ("eight_schools_noncentered", {}, ["mu", "tau_log__", "eta"]),
    ("hierarchical", {"groups": 4, "n_per_group": 3}, ["mu", "tau_log__", "theta"]),
    ("hierarchical", {"groups": 4, "n_per_group": 3, "centered": False}, ["mu", "tau_log__", "eta"]),
    ("brownian_motion", {}, ["x"]),
    ("logistic_regression", {"dim": 1, "n": 40}, ["beta"]),
]


@pytest.mark.parametrize("name, params, names", MODEL_CASES, ids=[f"{n}-{p}" for n, p, _ in MODEL_CASES])
def test_logp_and_gradient_equal_the_pymc_models(name, params, names):
    from vibench.pymc_bridge import log_density_from_model

    task = vibench.get_task(name, **params)
    model = task.pymc_model()
    assert [v.name for v in model.value_vars] == names
    theirs = log_density_from_model(model)
    x = task.truth.sample(5, np.random.default_rng(1))
    x[-1] += 0.3  # and a point off the bulk
    ours_lp, ours_grad = task.log_density.logp_and_grad(x)
    lp, grad = theirs.logp_and_grad(x)
    # Equal up to PyMC's HalfCauchy/HalfNormal normalizing constants, which it rounds to float32 (3e-8).
    assert np.ptp(ours_lp - lp) < 1e-9 and np.max(np.abs(ours_lp - lp)) < 1e-6
    np.testing.assert_allclose(ours_grad, grad, rtol=1e-8, atol=1e-8)


def test_brownian_motion_data_and_exact_gaussian():
    task = vibench.get_task("brownian_motion")
    observed = task.data["observed"]
    assert observed.shape == (30,) and np.flatnonzero(np.isnan(observed)).tolist() == list(range(10, 20))
    assert task.truth.kind == "gaussian"
    draws = task.truth.sample(200_000, np.random.default_rng(3))
    se = task.truth.sd / np.sqrt(len(draws))
    assert np.max(np.abs(draws.mean(axis=0) - task.truth.mean) / se) < _z(30)
    # The missing middle is a bridge: widest in the middle, pinned by both ends.
    assert np.argmax(task.truth.sd) in (14, 15) and task.truth.sd[15] > 1.5 * task.truth.sd[5]


# -- logistic regression: quadrature at dim 1, references beyond ----------------------------------


def test_logistic_quadrature_truth_agrees_with_a_nuts_reference_within_mcse():
    task = vibench.get_task("logistic_regression", dim=1, n=30)
    assert task.truth.kind == "exact"
    ref = reference.task_reference(task, SMALL)
    z = reference.compare(task.truth, ref)
    assert abs(z["z_mean"][0]) < _z(2) and abs(z["z_sd"][0]) < _z(2), z


def test_shipped_logistic_reference_agrees_with_importance_sampling():
    task = vibench.get_task("logistic_regression")
    truth = task.truth
    assert truth.kind == "reference" and truth.provenance["path"].startswith(str(reference.SHIPPED_DIR))
    assert truth.provenance["divergences"] == 0 and truth.provenance["rhat_max"] < 1.01
    X, scale = task.data["X"], task.data["prior_scale"]
    fit = optimize.minimize(lambda b: -task.log_density.logp(b), np.zeros(task.dim),
                            jac=lambda b: -task.log_density.logp_and_grad(b)[1], method="BFGS")
    p = 1 / (1 + np.exp(-X @ fit.x))
    hessian = X.T @ (X * (p * (1 - p))[:, None]) + np.eye(task.dim) / scale**2
    proposal = stats.multivariate_t(fit.x, 1.2 * np.linalg.inv(hessian), df=7, seed=np.random.default_rng(4))
    x = proposal.rvs(200_000)
    log_w = task.log_density.logp(x) - proposal.logpdf(x)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    mean = w @ x
    var = w @ (x - mean) ** 2
    mean_se = np.sqrt(w**2 @ (x - mean) ** 2)
    sd_se = np.sqrt(w**2 @ ((x - mean) ** 2 - var) ** 2) / (2 * np.sqrt(var))
    bound = _z(2 * task.dim)
    assert np.max(np.abs(truth.mean - mean) / np.hypot(truth.mean_se, mean_se)) < bound
    assert np.max(np.abs(truth.sd - np.sqrt(var)) / np.hypot(truth.sd_se, sd_se)) < bound
