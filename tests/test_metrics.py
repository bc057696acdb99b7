"""Tests of KL where it is one, moment errors, inclusive KL, k-hat and evaluate (vibench.scoring)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import vibench
from vibench.approximation import DrawsApproximation, GaussianApproximation
from vibench.columns import METRIC_KEYS
from vibench.scoring.diagnostics import MIN_DRAWS_PER_CHAIN, chain_stats
from vibench.scoring.kl import gaussian_kl, kl_mc, mean_se
from vibench.scoring.moments import moment_errors
from vibench.scoring.score import elbo, evaluate, kl_inclusive, psis_khat
from vibench.tasks.gaussian import ar1_meanfield_kl, ar1_precision
from vibench.truth import Truth, gaussian_truth

from oracles import ar1_chains, dense_kl, meanfield_kl

def random_gaussian(rng, d, scale=1.0):
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    return rng.standard_normal(d) * scale, a @ a.T + 0.5 * np.eye(d)


def exact_truth(truth: Truth) -> Truth:
    """The same distribution as a non-Gaussian-kind truth: forces the Monte Carlo paths."""
    return Truth(kind="exact", mean=truth.mean, sd=truth.sd, logpdf=truth.logpdf, sample=truth.sample)


@pytest.fixture(scope="module")
def ar1():
    return vibench.get_task("gaussian", dim=100, rho=0.9)


def meanfield_optimum(task):
    prec = np.linalg.inv(task.truth.cov)
    return GaussianApproximation(task.truth.mean, sd=1 / np.sqrt(np.diag(prec)))


# --- closed form -----------------------------------------------------------------


def test_gaussian_kl_one_dimensional_formula():
    m0, s0, m1, s1 = 0.3, 0.7, -1.2, 1.9
    expected = np.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5
    got = gaussian_kl(np.array([m0]), np.array([[s0**2]]), np.array([m1]), np.array([[s1**2]]))
    assert got == pytest.approx(expected, rel=1e-12)


def test_gaussian_kl_dense_and_cholesky_inputs_agree():
    rng = np.random.default_rng(0)
    (m0, s0), (m1, s1) = random_gaussian(rng, 6), random_gaussian(rng, 6)
    expected = dense_kl(m0, s0, m1, s1)
    assert gaussian_kl(m0, s0, m1, s1) == pytest.approx(expected, rel=1e-10)
    chol = dict(chol_q=np.linalg.cholesky(s0), chol_p=np.linalg.cholesky(s1))
    assert gaussian_kl(m0, None, m1, None, **chol) == pytest.approx(expected, rel=1e-10)


def test_gaussian_kl_stable_at_d1000_and_infinite_for_degenerate_q():
    task = vibench.get_task("gaussian", dim=1000, rho=0.9)
    m, cov = task.truth.mean, task.truth.cov
    assert abs(gaussian_kl(m, cov, m, cov)) < 1e-8
    q = meanfield_optimum(task)
    assert gaussian_kl(q.mean, None, m, cov, chol_q=q.chol) == pytest.approx(ar1_meanfield_kl(1000, 0.9), rel=1e-9)
    singular = np.ones((3, 3))
    assert gaussian_kl(np.zeros(3), singular, np.zeros(3), np.eye(3)) == np.inf


def test_meanfield_optimum_on_ar1(ar1):
    prec = ar1_precision(100, 0.9)
    q = GaussianApproximation(ar1.truth.mean, sd=1 / np.sqrt(np.diag(prec)))
    row = evaluate(q, ar1, np.random.default_rng(0))
    oracle = meanfield_kl(prec)
    assert row["kl_estimator"] == "closed-form"
    assert row["kl_se"] == 0.0
    assert row["kl"] == pytest.approx(oracle, rel=1e-9)
    assert row["kl"] == pytest.approx(ar1_meanfield_kl(100, 0.9), rel=1e-9)
    assert round(row["kl"], 2) == 29.90


# --- Monte Carlo and ELBO ------------------------------------------------------------


def test_mc_within_three_se_of_closed_form():
    task = vibench.get_task("gaussian", dim=10, rho=0.8)
    q = GaussianApproximation(task.truth.mean + 0.2, sd=0.8 * task.truth.sd)
    exact = gaussian_kl(q.mean, q.cov, task.truth.mean, task.truth.cov)
    x = q.draws(4000, np.random.default_rng(1))
    kl, se = kl_mc(x, q.logpdf(x), task.truth.logpdf)
    assert se > 0
    assert abs(kl - exact) < 3 * se


def test_log_evidence_minus_elbo_is_kl(ar1):
    q = GaussianApproximation(ar1.truth.mean - 0.1, sd=0.5 * ar1.truth.sd)
    exact = gaussian_kl(q.mean, q.cov, ar1.truth.mean, ar1.truth.cov)
    before = ar1.log_density.counts()
    value, se = elbo(q, ar1.log_density, np.random.default_rng(2), 4000)
    assert ar1.log_density.counts() == before
    assert abs(ar1.truth.log_evidence - value - exact) < 3 * se


def test_gaussian_kl_edge_cases():
    m = np.zeros(2)
    with pytest.raises(ValueError, match="^the reference covariance cov_p is not positive definite$"):
        gaussian_kl(m, np.eye(2), m, np.array([[1.0, 2.0], [2.0, 1.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a degenerate q is inf, with no log(0) on the way
        assert gaussian_kl(m, None, m, np.eye(2), chol_q=np.diag([1.0, 0.0])) == np.inf
        assert gaussian_kl(m, None, m, np.eye(2), chol_q=np.diag([1.0, -1.0])) == 0.0  # a root's sign is free
    # non-finite input gives nan, never an exception: the runner turns a nan KL into an error row
    with_nan = np.eye(2)
    with_nan[0, 0] = np.nan
    assert np.isnan(gaussian_kl(m, with_nan, m, np.eye(2)))
    assert np.isnan(gaussian_kl(m, np.eye(2), m, with_nan))
    assert np.isnan(gaussian_kl(np.array([np.nan, 0.0]), np.eye(2), m, np.eye(2)))


def test_gaussian_kl_of_float32_factors_is_computed_in_float64():
    rng = np.random.default_rng(18)
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    lq = np.linalg.cholesky(a @ a.T + np.eye(3)).astype(np.float32)
    lp = np.linalg.cholesky(b @ b.T + np.eye(3)).astype(np.float32)
    mq, mp = rng.normal(size=3).astype(np.float32), rng.normal(size=3).astype(np.float32)
    exact = gaussian_kl(mq.astype(float), None, mp.astype(float), None, chol_q=lq.astype(float), chol_p=lp.astype(float))
    assert gaussian_kl(mq, None, mp, None, chol_q=lq, chol_p=lp) == pytest.approx(exact, rel=1e-13)


def test_mean_se_by_hand():
    terms = np.array([1.0, 2.0, 4.0])
    mean, se = mean_se(terms)
    assert mean == pytest.approx(7 / 3)
    assert se == pytest.approx(np.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2 / 3))
    assert mean_se(np.array([1.0, 3.0])) == pytest.approx((2.0, 1.0))  # sd sqrt(2), / sqrt(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one term: the se is nan by definition, not by a ddof warning
        mean, se = mean_se(np.array([5.0]))
    assert mean == 5.0 and np.isnan(se)


# --- chain diagnostics ---------------------------------------------------------------


def test_chain_stats_ess_of_autocorrelated_chains():
    rng = np.random.default_rng(6)
    phi, chains, n = 0.5, 4, 5000
    x = ar1_chains(rng, chains, n, 2, phi)
    # AR(1) chains: ESS = N (1 - phi) / (1 + phi) (integrated autocorrelation time (1 + phi) / (1 - phi));
    # the estimate's relative sd here is about 4%.
    expected = chains * n * (1 - phi) / (1 + phi)
    stats = chain_stats(x)
    np.testing.assert_allclose(stats.ess_bulk, expected, rtol=0.2)
    assert stats.ess_min == pytest.approx(expected, rel=0.2)  # the smallest bulk or tail ESS: no cap binds
    # the MCMC standard error of the mean: sd / sqrt(ESS)
    np.testing.assert_allclose(stats.mcse_mean, 1 / np.sqrt(expected), rtol=0.2)
    np.testing.assert_allclose(stats.rhat, 1.0, atol=0.01)
    shifted = x.copy()
    shifted[0] += 1.0  # one chain in the wrong place
    assert chain_stats(shifted).rhat_max > 1.05

def test_chain_stats_with_too_few_draws_per_chain_takes_them_as_independent():
    # below MIN_DRAWS_PER_CHAIN ArviZ cannot run: ESS = n, R-hat undefined, the iid standard errors
    rng = np.random.default_rng(17)
    x = rng.normal(size=(5, MIN_DRAWS_PER_CHAIN - 1, 2)) * np.array([1.0, 3.0])
    stats = chain_stats(x)
    n = 5 * (MIN_DRAWS_PER_CHAIN - 1)
    sd = x.reshape(-1, 2).std(axis=0, ddof=1)
    assert (stats.chains, stats.draws, stats.n) == (5, MIN_DRAWS_PER_CHAIN - 1, n)
    assert np.all(np.isnan(stats.rhat)) and np.isnan(stats.rhat_max)
    np.testing.assert_array_equal(stats.ess_bulk, [n, n])
    np.testing.assert_array_equal(stats.ess_tail, [n, n])
    assert stats.ess_min == n
    np.testing.assert_allclose(stats.mcse_mean, sd / np.sqrt(n), rtol=1e-12)
    np.testing.assert_allclose(stats.mcse_sd, sd / np.sqrt(2 * (n - 1)), rtol=1e-12)
    one = chain_stats(x[:1, :1])  # a single draw: no spread to speak of
    np.testing.assert_array_equal(one.mcse_mean, [0.0, 0.0])
    assert one.ess_min == 1
    two = chain_stats(x[:2, :1])  # two draws: the smallest n with an sd
    sd2 = x[:2, 0].std(axis=0, ddof=1)
    assert np.all(sd2 > 0)
    np.testing.assert_allclose(two.mcse_mean, sd2 / np.sqrt(2), rtol=1e-12)
    np.testing.assert_allclose(two.mcse_sd, sd2 / np.sqrt(2.0), rtol=1e-12)  # sqrt(2 (n - 1)) at n = 2


def test_chain_stats_equal_arviz_on_the_same_draws():
    # chain_stats calls arviz_stats' array functions; they must give az.rhat/az.ess/az.mcse's numbers
    import arviz as az

    rng = np.random.default_rng(16)
    x = ar1_chains(rng, 6, 400, 3, 0.7) + np.array([0.0, 1.0, -2.0])
    stats = chain_stats(x)
    data = az.convert_to_dataset({"x": x})
    for ours, theirs in ((stats.rhat, az.rhat(data)), (stats.ess_bulk, az.ess(data, method="bulk")),
                         (stats.ess_tail, az.ess(data, method="tail")),
                         (stats.mcse_mean, az.mcse(data, method="mean"))):
        np.testing.assert_allclose(ours, theirs["x"].values, rtol=1e-10)




# --- moment errors, inclusive KL, k-hat ------------------------------------------------


def test_moment_errors_hand_made():
    truth = Truth(kind="reference", mean=np.array([0.0, 1.0]), sd=np.array([1.0, 2.0]))
    q = GaussianApproximation(np.array([0.3, -1.0]), sd=np.array([2.0, 2.0]))
    out = moment_errors(q, truth)
    assert out["mean_err"] == pytest.approx(1.0)  # max(0.3 / 1, 2 / 2)
    assert out["sd_err"] == pytest.approx(1.0)  # max(|2 / 1 - 1|, |2 / 2 - 1|)
    assert out["mean_err_se"] == 0.0 and out["sd_err_se"] == 0.0  # a Gaussian's moments are exact
    with_se = dataclasses.replace(truth, mean_se=np.array([0.1, 0.4]), sd_se=np.array([0.05, 0.2]))
    out = moment_errors(q, with_se)
    assert out["mean_err_se"] == pytest.approx(0.2)  # coordinate 1: 0.4 / sd 2
    assert out["sd_err_se"] == pytest.approx(0.05)  # coordinate 0: 0.05 / sd 1


def test_inclusive_kl_closed_form_and_mc_agree():
    task = vibench.get_task("gaussian", dim=5, rho=0.7)
    q = GaussianApproximation(task.truth.mean + 0.1, sd=1.2 * task.truth.sd)
    closed = kl_inclusive(q, task.truth, np.random.default_rng(0))
    assert closed == pytest.approx(dense_kl(task.truth.mean, task.truth.cov, q.mean, q.cov), rel=1e-10)
    mc = kl_inclusive(q, exact_truth(task.truth), np.random.default_rng(7), 4000)
    y = task.truth.sample(4000, np.random.default_rng(7))  # the same draws, for the se
    se = np.std(task.truth.logpdf(y) - q.logpdf(y), ddof=1) / np.sqrt(4000)
    assert abs(mc - closed) < 3 * se


def test_non_finite_draws_are_a_clear_error():
    task = vibench.get_task("gaussian", dim=2, rho=0.5)

    class Broken(GaussianApproximation):
        def draws(self, n, rng):
            x = super().draws(n, rng)
            x[0, 0] = np.nan
            return x

    q = Broken(task.truth.mean, task.truth.cov)
    with pytest.raises(ValueError, match="^non-finite draws from the approximation$"):
        elbo(q, task.log_density, np.random.default_rng(0), 100)


def test_float32_draws_are_scored_in_float64():
    task = vibench.get_task("gaussian", dim=3, rho=0.5)

    class Single(GaussianApproximation):
        def draws(self, n, rng):
            return super().draws(n, rng).astype(np.float32)

    class Double(GaussianApproximation):
        def draws(self, n, rng):
            return super().draws(n, rng).astype(np.float32).astype(float)

    got = elbo(Single(task.truth.mean, sd=task.truth.sd), task.log_density, np.random.default_rng(0), 200)
    want = elbo(Double(task.truth.mean, sd=task.truth.sd), task.log_density, np.random.default_rng(0), 200)
    assert got == pytest.approx(want, rel=1e-14, abs=1e-14)


def test_khat_small_for_exact_and_large_for_too_narrow_q():
    task = vibench.get_task("gaussian", dim=10, rho=0.5)
    exact = GaussianApproximation(task.truth.mean, task.truth.cov)
    narrow = GaussianApproximation(task.truth.mean, sd=0.3 * task.truth.sd)
    before = task.log_density.counts()
    assert psis_khat(exact, task.log_density, np.random.default_rng(8)) < 0.5
    assert psis_khat(narrow, task.log_density, np.random.default_rng(8)) > 0.7
    # a too-wide q has bounded weights: k-hat is small (the log ratios' sign matters: negated, this is > 0.7)
    wide = GaussianApproximation(task.truth.mean, sd=1.5 * task.truth.sd)
    assert psis_khat(wide, task.log_density, np.random.default_rng(8)) < 0.5
    assert task.log_density.counts() == before


# --- evaluate ----------------------------------------------------------------------------


def labels_case(task, approx, seed=0):
    task.log_density.logp(task.truth.mean)  # non-zero counters, to see they are kept
    task.log_density.logp_and_grad(task.truth.mean[None])
    before = task.log_density.counts()
    row = evaluate(approx, task, np.random.default_rng(seed))
    assert task.log_density.counts() == before
    assert tuple(row) == METRIC_KEYS
    return row


def test_evaluate_scores_kl_only_where_it_is_a_kl():
    small = vibench.get_task("gaussian", dim=5, rho=0.6)
    rng = np.random.default_rng(9)
    q_small = GaussianApproximation(small.truth.mean, sd=small.truth.sd)

    row = labels_case(small, q_small)
    assert row["kl_estimator"] == "closed-form" and row["kl_se"] == 0.0
    assert row["khat"] is not None and row["kl_inclusive"] is not None and row["dist"] is not None

    row = labels_case(dataclasses.replace(small, truth=exact_truth(small.truth)), q_small)
    assert row["kl_estimator"] == "mc" and row["kl_se"] > 0 and row["kl_inclusive"] is not None

    draws = DrawsApproximation(small.truth.sample(1000, rng).reshape(2, 500, 5))
    row = labels_case(small, draws)  # draws only: no KL of any kind, the common yardstick instead
    assert row["kl_estimator"] is None and row["kl"] is None and row["khat"] is None
    assert row["dist_estimator"] == "sliced-w1" and row["chains"] == 2 and row["mean_err_se"] > 0

    reference = Truth(kind="reference", mean=small.truth.mean, sd=small.truth.sd,
                      draws=small.truth.sample(3000, rng))
    row = labels_case(dataclasses.replace(small, truth=reference), q_small)
    assert row["kl"] is None and row["kl_inclusive"] is None and row["khat"] is not None
    assert row["dist"] is not None


def test_evaluate_rejects_non_finite_approximations():
    task = vibench.get_task("gaussian", dim=3, rho=0.5)
    mean = task.truth.mean.copy()
    mean[1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        evaluate(GaussianApproximation(mean, sd=np.ones(3)), task, np.random.default_rng(0))
    draws = task.truth.sample(100, np.random.default_rng(0))
    draws[5, 2] = np.inf
    with np.errstate(invalid="ignore"), pytest.raises(ValueError, match="non-finite"):
        evaluate(DrawsApproximation(draws), task, np.random.default_rng(0))
