"""The laplace and emcee plugins against exact truths."""

from __future__ import annotations

import numpy as np
import pytest

import vibench
from vibench.metrics import evaluate

GAUSSIAN_TASKS = [
    ("gaussian", {"dim": 2, "rho": 0.9}),
    ("gaussian", {"dim": 100, "rho": 0.9}),
    ("gaussian_illcond", {"dim": 10, "condition": 1000.0}),
    ("linear_regression", {"n": 50, "dim": 5}),
]


@pytest.mark.parametrize("name, params", GAUSSIAN_TASKS)
def test_laplace_is_exact_on_gaussian_targets(name, params):
    task = vibench.get_task(name, **params)
    approx = vibench.get_method("laplace").fit(task, vibench.Budget(500), np.random.default_rng(1))
    row = evaluate(approx, task, np.random.default_rng(2))
    assert row["kl_estimator"] == "closed-form"
    assert abs(row["kl"]) < 1e-8
    assert approx.info["converged"]


def test_laplace_on_banana_is_wrong_in_the_expected_direction():
    task = vibench.get_task("banana", dim=2, curvature=0.03)
    approx = vibench.get_method("laplace").fit(task, vibench.Budget(500), np.random.default_rng(1))
    # the mode of the banana is at x1 = 0, x2 = -100 b; the Hessian there misses the twist's spread
    assert approx.mean[1] == pytest.approx(-100 * 0.03, abs=1e-6)
    assert approx.sd[1] < 0.5 * task.truth.sd[1]


def test_emcee_moments_agree_within_ess_scaled_tolerance():
    task = vibench.get_task("gaussian", dim=3, rho=0.5)
    approx = vibench.get_method("emcee").fit(task, vibench.Budget(3000), np.random.default_rng(3))
    # walkers of one ensemble are correlated, so use emcee's own autocorrelation for n_eff, not ArviZ's ESS
    # (which takes the walkers for independent chains)
    n_eff = approx.samples.shape[0] * approx.samples.shape[1] / approx.info["autocorr_max"]
    se = task.truth.sd / np.sqrt(n_eff)
    assert np.all(np.abs(approx.mean - task.truth.mean) < 4.5 * se)
    # the sd's Monte Carlo error for near-Gaussian draws: sd / sqrt(2 n_eff)
    assert np.all(np.abs(approx.sd - task.truth.sd) < 4.5 * se / np.sqrt(2))
    assert 0.2 < approx.info["acceptance"] < 0.9
    assert approx.info["walkers"] == 32 and approx.info["burn_in"] == 1500


def test_emcee_counts_density_evaluations_not_gradients():
    task = vibench.get_task("gaussian", dim=2, rho=0.5)
    task.log_density.reset_counts()
    vibench.get_method("emcee").fit(task, vibench.Budget(100), np.random.default_rng(0))
    assert task.log_density.n_grad == 0
    assert task.log_density.n_logp == 32 * 101  # initial state plus one proposal per walker per step


def test_emcee_needs_two_steps():
    task = vibench.get_task("gaussian", dim=2, rho=0.5)
    with pytest.raises(ValueError, match="at least 2 steps"):
        vibench.get_method("emcee").fit(task, vibench.Budget(1), np.random.default_rng(0))


def test_fd_hessian_banded_on_a_non_quadratic_band():
    # f(x) = sum sin(x_i) + 0.5 sum x_i^2 x_{i+1}: H_ii = -sin(x_i) + x_{i+1}, H_{i+1,i} = x_i (bandwidth 1)
    from vibench_laplace.laplace import fd_hessian_banded

    calls = []

    def logp_and_grad(x):
        calls.append(x.shape[0])
        g = np.cos(x)
        g[:, :-1] += x[:, :-1] * x[:, 1:]
        g[:, 1:] += 0.5 * x[:, :-1] ** 2
        return np.zeros(x.shape[0]), g

    x = np.array([0.3, -0.7, 2.5, 4.0, -3.2, 0.9, 1.7])
    band = fd_hessian_banded(logp_and_grad, x, 1)
    assert calls == [2 * (2 * 1 + 1)]  # the documented cost: 2 (2b + 1) gradients, one batched call
    diag = -np.sin(x) + np.append(x[1:], 0.0)
    expected = np.array([diag, np.append(x[:-1], 0.0)])
    assert band.shape == (2, 7)
    np.testing.assert_allclose(band, expected, atol=1e-8)
    calls.clear()
    assert fd_hessian_banded(logp_and_grad, x, 2).shape == (3, 7) and calls == [2 * 5]
