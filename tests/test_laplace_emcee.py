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
