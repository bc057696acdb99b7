"""The common yardstick, calibrated: ``dist`` against exact draws, closed forms, autocorrelated and
duplicated draws; the diagnostics gates on oracles and broken samplers."""

from __future__ import annotations

import numpy as np
import pytest

import vibench
from vibench import Budget, DrawsApproximation, GaussianApproximation
from vibench.scoring.distance import N_DRAWS, N_TRUTH, distance, sliced_w1, truth_frame
from vibench.scoring.gates import gate
from vibench.scoring.diagnostics import chain_stats
from vibench.scoring.score import evaluate

from oracles import DisagreeingChains, ExactDraws, ar1_chains, expected_w1

SIZED = ["gaussian", "gaussian_illcond", "linear_regression", "linear_regression_nig", "funnel", "banana", "mixture"]
FIXED = ["brownian_motion", "eight_schools_centered", "eight_schools_noncentered", "hierarchical", "gmrf"]
CASES = [(name, {"dim": d}) for name in SIZED for d in (2, 10, 100)] + [(name, {}) for name in FIXED]


@pytest.mark.parametrize("name, params", CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_exact_draws_score_at_the_floor(name, params):
    task = vibench.get_task(name, **params)
    rng = np.random.default_rng(11)
    x = task.truth.sample(4000, rng).reshape(4, 1000, -1)
    out = distance(DrawsApproximation(x), task.truth, rng)
    assert out["dist_estimator"] == "sliced-w1" and out["dist_n"] > 2500  # iid chains: ESS about n
    assert abs(out["dist"] - out["dist_floor"]) < 3 * out["dist_se"], out


def test_floor_matches_the_quadrature_of_the_asymptotic_law():
    # floor = sqrt(2/pi) int sqrt(F(1-F)) / sqrt(N): for a Gaussian projection, the null value of expected_w1
    task = vibench.get_task("gaussian", dim=10, rho=0.9)
    frame = truth_frame(task.truth)
    for n in (100, 400, 2000):
        assert frame.floor(n) == pytest.approx(expected_w1(0.0, 1.0, n, N_TRUTH), rel=0.03)


@pytest.mark.parametrize("dim", [2, 10, 100])
def test_sd_off_by_20_percent_scores_its_closed_form(dim):
    task = vibench.get_task("gaussian", dim=dim, rho=0.9)
    q = GaussianApproximation(task.truth.mean, 1.44 * task.truth.cov)  # every projection: sd x 1.2
    out = distance(q, task.truth, np.random.default_rng(3))
    expected = expected_w1(0.0, 1.2, N_DRAWS, N_TRUTH)
    assert abs(out["dist"] - expected) < 3 * out["dist_se"], (out, expected)
    assert (out["dist"] - out["dist_floor"]) / out["dist_se"] > 10  # a wrong q is seen, far beyond the floor


@pytest.mark.parametrize("dim", [2, 10, 100])
def test_mean_off_by_half_an_sd_scores_its_closed_form(dim):
    task = vibench.get_task("gaussian", dim=dim, rho=0.9)
    shift = 0.5 * task.truth.sd
    q = GaussianApproximation(task.truth.mean + shift, task.truth.cov)
    out = distance(q, task.truth, np.random.default_rng(4))
    frame = truth_frame(task.truth)
    shifts = np.concatenate([np.full(frame.marginals.size, 0.5), shift @ frame.random])
    expected = np.mean([expected_w1(s, 1.0, N_DRAWS, N_TRUTH) for s in shifts])
    assert abs(out["dist"] - expected) < 3 * out["dist_se"], (out, expected)
    assert (out["dist"] - out["dist_floor"]) / out["dist_se"] > 10


def test_an_autocorrelated_correct_chain_scores_like_its_ess_of_exact_draws():
    task = vibench.get_task("gaussian", dim=5, rho=0.0)
    x = task.truth.mean + task.truth.sd * ar1_chains(np.random.default_rng(5), chains=4, n=20_000, dim=5, phi=0.99)
    out = distance(DrawsApproximation(x), task.truth, np.random.default_rng(6))
    ess = 4 * 20_000 * 0.01 / 1.99  # AR(1): n (1 - phi) / (1 + phi) = 402
    assert 0.5 * ess < out["dist_n"] < 1.5 * ess
    assert abs(out["dist"] - out["dist_floor"]) < 3 * out["dist_se"], out
    # Scored as if its 80,000 draws were independent, the correct chain would look wrong:
    frame = truth_frame(task.truth)
    naive, naive_se = sliced_w1(x.reshape(-1, 5), frame)
    assert naive - frame.floor(80_000) > 5 * naive_se


@pytest.mark.parametrize("order", ["consecutive", "shuffled"])
def test_duplicated_draws_never_lower_a_score(order):
    task = vibench.get_task("gaussian", dim=5, rho=0.5)
    rng = np.random.default_rng(7)
    unique = task.truth.sample(250, rng)
    dup = np.repeat(unique, 4, axis=0) if order == "consecutive" else np.tile(unique, (4, 1))[rng.permutation(1000)]
    independent = distance(DrawsApproximation(task.truth.sample(1000, rng).reshape(2, 500, -1)), task.truth, rng)
    resampled = distance(DrawsApproximation(dup.reshape(2, 500, -1)), task.truth, rng)
    assert resampled["dist_n"] <= 250  # never more effective draws than distinct ones
    assert resampled["dist_floor"] >= truth_frame(task.truth).floor(250) > independent["dist_floor"]
    assert resampled["dist"] > independent["dist"]


def test_moment_ses_come_from_the_ess():
    task = vibench.get_task("gaussian", dim=3, rho=0.0)
    x = task.truth.mean + task.truth.sd * ar1_chains(np.random.default_rng(8), chains=4, n=5000, dim=3, phi=0.9)
    row = evaluate(DrawsApproximation(x), task, np.random.default_rng(0))
    ess = 4 * 5000 * 0.1 / 1.9
    assert row["mean_err_se"] == pytest.approx(1 / np.sqrt(ess), rel=0.25)
    assert row["moment_se_max"] >= max(row["mean_err_se"], row["sd_err_se"])
    iid = evaluate(GaussianApproximation(task.truth.mean, task.truth.cov), task, np.random.default_rng(0))
    assert iid["mean_err_se"] == 0.0 and iid["sd_err_se"] == 0.0  # a Gaussian's moments are exact


# --- gates -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gtask():
    return vibench.get_task("gaussian", dim=4, rho=0.5)


def test_the_exact_draw_oracle_is_reliable(gtask):
    approx = ExactDraws().fit(gtask, Budget(steps=1000), np.random.default_rng(0))
    row = evaluate(approx, gtask, np.random.default_rng(1), family="mcmc")
    assert row["reliable"] is True and row["flags"] == [] and row["rhat_max"] < 1.01 and row["chains"] == 4


@pytest.mark.parametrize("seed", range(5))
def test_chains_that_disagree_are_always_flagged(gtask, seed):
    approx = DisagreeingChains(shift=0.5).fit(gtask, Budget(steps=1000), np.random.default_rng(seed))
    row = evaluate(approx, gtask, np.random.default_rng(seed), family="mcmc")
    assert row["reliable"] is False and any(f.startswith("rhat") for f in row["flags"])


def test_sampler_gates_one_chain_divergences_and_low_ess(gtask):
    x = gtask.truth.sample(2000, np.random.default_rng(2))
    one = DrawsApproximation(x[None], info={})
    assert gate(one, "mcmc", chain_stats(one.samples), None) == (False, ["1 chain", "rhat undefined"])
    four = DrawsApproximation(x.reshape(4, 500, -1), info={"divergences": 3})
    reliable, flags = gate(four, "mcmc", chain_stats(four.samples), None)
    assert not reliable and flags == ["3 divergences"]
    sticky = DrawsApproximation(ar1_chains(np.random.default_rng(3), 4, 500, 4, 0.95), info={})
    reliable, flags = gate(sticky, "mcmc", chain_stats(sticky.samples), None)
    assert not reliable and any(f.startswith("ess_bulk") for f in flags)


def test_optimizer_gates_convergence_and_khat(gtask):
    narrow = GaussianApproximation(gtask.truth.mean, sd=0.3 * gtask.truth.sd, info={"converged": True})
    row = evaluate(narrow, gtask, np.random.default_rng(0), family="meanfield")
    assert row["reliable"] is True and row["flags"] and row["flags"][0].startswith("khat")  # a flag, not a failure
    for info, flag in (({"converged": False}, "not converged"), ({}, "convergence not reported")):
        q = GaussianApproximation(gtask.truth.mean, gtask.truth.cov, info=info)
        assert gate(q, "fullrank", None, 0.1) == (False, [flag])


def test_draws_closer_than_independent_draws_can_be_are_flagged(gtask):
    # the truth's own scoring draws returned as the answer: dist far below the floor
    from vibench.scoring.distance import _truth_draws

    x = _truth_draws(gtask.truth)
    row = evaluate(DrawsApproximation(x.reshape(4, -1, gtask.dim)), gtask, np.random.default_rng(0), family="mcmc")
    assert row["dist"] < row["dist_floor"] - 3 * row["dist_se"]
    assert row["reliable"] is False and "dist 3 SE below its floor" in row["flags"]
