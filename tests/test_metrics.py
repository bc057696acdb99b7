"""Tests of the KL ladder, moment errors, inclusive KL and k-hat (vibench.metrics, vibench.kl)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import vibench
from vibench.approximation import DrawsApproximation, GaussianApproximation
from vibench.metrics import (
    KEYS,
    effective_sample_size,
    elbo,
    evaluate,
    gaussian_kl,
    kl_divergence,
    kl_floor,
    kl_gaussian_moments,
    kl_inclusive,
    kl_knn,
    kl_mc,
    knn_entropy,
    moment_errors,
    psis_khat,
)
from vibench.tasks.gaussian import ar1_meanfield_kl, ar1_precision
from vibench.truth import Truth, gaussian_truth

# Measured bias of the k = 1 Kozachenko-Leonenko KL estimate with 2,000 exact
# Gaussian draws (100 replicates): +0.005 nats at d = 2, +0.053 at d = 5.
KNN_BIAS = 0.06


def dense_kl(m0, s0, m1, s1):
    """KL(N0||N1) by explicit inverses and determinants (independent of gaussian_kl)."""
    inv1 = np.linalg.inv(s1)
    dm = m1 - m0
    return 0.5 * (
        np.trace(inv1 @ s0) + dm @ inv1 @ dm - len(m0) + np.linalg.slogdet(s1)[1] - np.linalg.slogdet(s0)[1]
    )


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
    oracle = 0.5 * (np.sum(np.log(np.diag(prec))) - np.linalg.slogdet(prec)[1])
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


# --- k-nearest-neighbour -------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 5])
def test_knn_close_to_closed_form(d):
    rng = np.random.default_rng(d)
    mq, sq = np.zeros(d), 0.8 * np.eye(d) + 0.2
    mp, sp = np.full(d, 0.3), np.eye(d)
    truth = gaussian_truth(mp, sp)
    draws = GaussianApproximation(mq, sq).draws(2000, rng)
    row = kl_divergence(DrawsApproximation(draws), exact_truth(truth), rng)
    assert row["kl_estimator"] == "knn"
    # The se ignores the dependence between neighbour distances; allow the measured bias on top.
    assert abs(row["kl"] - dense_kl(mq, sq, mp, sp)) < 3 * row["kl_se"] + KNN_BIAS


def test_knn_is_unbiased_on_strongly_correlated_draws():
    # AR(1) rho = 0.9, d = 10: exact draws have KL 0; unwhitened k-NN gave -0.46 nats here.
    task = vibench.get_task("gaussian", dim=10, rho=0.9)
    rng = np.random.default_rng(11)
    kl, se = kl_knn(task.truth.sample(2000, rng), task.truth.logpdf)
    assert abs(kl) < 3 * se + KNN_BIAS


def test_knn_entropy_tolerates_repeated_draws():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((500, 2))
    repeated = np.repeat(x, 3, axis=0)  # a sampler that rejects two of three proposals
    terms = knn_entropy(repeated)
    assert np.all(np.isfinite(terms))
    assert np.mean(terms) == pytest.approx(np.mean(knn_entropy(x)), rel=1e-12)
    kl, se = kl_knn(repeated, gaussian_truth(np.zeros(2), np.eye(2)).logpdf)
    assert np.isfinite(kl) and np.isfinite(se)


# --- Gaussian moments and the floor ----------------------------------------------------


def test_floor_formula_matches_fitted_gaussian_kl():
    d, n, reps = 5, 1000, 300
    rng = np.random.default_rng(4)
    kls = []
    for _ in range(reps):
        x = rng.standard_normal((n, d))
        kls.append(gaussian_kl(x.mean(axis=0), np.cov(x, rowvar=False), np.zeros(d), np.eye(d)))
    se = np.std(kls, ddof=1) / np.sqrt(reps)
    assert abs(np.mean(kls) - kl_floor(d, n)) < 3 * se


def test_gaussian_moments_agrees_with_closed_form_for_many_draws():
    d, n, reps = 3, 20000, 10
    rng = np.random.default_rng(5)
    mq, sq = random_gaussian(rng, d, scale=0.3)
    truth = Truth(kind="reference", mean=np.zeros(d), sd=np.ones(d), cov=np.eye(d))
    exact = dense_kl(mq, sq, np.zeros(d), np.eye(d))
    values, floors = [], []
    for _ in range(reps):
        approx = DrawsApproximation(GaussianApproximation(mq, sq).draws(n, rng).reshape(2, n // 2, d))
        kl, floor = kl_gaussian_moments(approx, truth)
        values.append(kl)
        floors.append(floor)
    se = np.std(values, ddof=1) / np.sqrt(reps)
    # ESS of iid draws is about n, so the floor is about d(d+3)/(4n); it bounds the O(1/n) bias.
    assert np.mean(floors) == pytest.approx(kl_floor(d, n), rel=0.1)
    assert abs(np.mean(values) - exact) < 3 * se + np.mean(floors)


def test_effective_sample_size_of_autocorrelated_chains():
    rng = np.random.default_rng(6)
    phi, chains, n = 0.5, 4, 5000
    x = np.zeros((chains, n, 2))
    x[:, 0] = rng.standard_normal((chains, 2))
    noise = rng.standard_normal((chains, n, 2)) * np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    # AR(1) chains: ESS = N (1 - phi) / (1 + phi); the estimate's relative sd here is about 4%.
    assert effective_sample_size(x) == pytest.approx(chains * n * (1 - phi) / (1 + phi), rel=0.2)
    iid = rng.standard_normal((chains, n, 2))
    assert effective_sample_size(iid) <= chains * n


# --- moment errors, inclusive KL, k-hat ------------------------------------------------


def test_moment_errors_hand_made():
    truth = Truth(kind="reference", mean=np.array([0.0, 1.0]), sd=np.array([1.0, 2.0]))
    q = GaussianApproximation(np.array([0.3, -1.0]), sd=np.array([2.0, 2.0]))
    mean_err, sd_err = moment_errors(q, truth)
    assert mean_err == pytest.approx(1.0)  # max(0.3 / 1, 2 / 2)
    assert sd_err == pytest.approx(np.log(2.0))  # max(|log 2|, 0)


def test_inclusive_kl_closed_form_and_mc_agree():
    task = vibench.get_task("gaussian", dim=5, rho=0.7)
    q = GaussianApproximation(task.truth.mean + 0.1, sd=1.2 * task.truth.sd)
    closed = kl_inclusive(q, task.truth, np.random.default_rng(0))
    assert closed == pytest.approx(dense_kl(task.truth.mean, task.truth.cov, q.mean, q.cov), rel=1e-10)
    mc = kl_inclusive(q, exact_truth(task.truth), np.random.default_rng(7), 4000)
    y = task.truth.sample(4000, np.random.default_rng(7))  # the same draws, for the se
    se = np.std(task.truth.logpdf(y) - q.logpdf(y), ddof=1) / np.sqrt(4000)
    assert abs(mc - closed) < 3 * se


def test_khat_small_for_exact_and_large_for_too_narrow_q():
    task = vibench.get_task("gaussian", dim=10, rho=0.5)
    exact = GaussianApproximation(task.truth.mean, task.truth.cov)
    narrow = GaussianApproximation(task.truth.mean, sd=0.3 * task.truth.sd)
    before = task.log_density.counts()
    assert psis_khat(exact, task.log_density, np.random.default_rng(8)) < 0.5
    assert psis_khat(narrow, task.log_density, np.random.default_rng(8)) > 0.7
    assert task.log_density.counts() == before


# --- evaluate ----------------------------------------------------------------------------


def labels_case(task, approx, seed=0):
    task.log_density.logp(task.truth.mean)  # non-zero counters, to see they are kept
    task.log_density.logp_and_grad(task.truth.mean[None])
    before = task.log_density.counts()
    row = evaluate(approx, task, np.random.default_rng(seed))
    assert task.log_density.counts() == before
    assert tuple(row) == KEYS
    return row


def test_evaluate_picks_estimators():
    small = vibench.get_task("gaussian", dim=5, rho=0.6)
    big = vibench.get_task("gaussian_illcond", dim=20, condition=10.0)
    rng = np.random.default_rng(9)
    q_small = GaussianApproximation(small.truth.mean, sd=small.truth.sd)

    row = labels_case(small, q_small)
    assert row["kl_estimator"] == "closed-form" and row["kl_floor"] is None
    assert row["khat"] is not None and row["kl_inclusive"] is not None

    row = labels_case(dataclasses.replace(small, truth=exact_truth(small.truth)), q_small)
    assert row["kl_estimator"] == "mc" and row["kl_se"] > 0 and row["kl_inclusive"] is not None

    row = labels_case(small, DrawsApproximation(small.truth.sample(1000, rng).reshape(2, 500, 5)))
    assert row["kl_estimator"] == "knn" and row["khat"] is None and row["kl_inclusive"] is None

    row = labels_case(big, DrawsApproximation(big.truth.sample(1000, rng)))
    assert row["kl_estimator"] == "gaussian-moments" and row["kl_se"] is None
    assert row["kl_floor"] == pytest.approx(kl_floor(20, 1000), rel=0.2)

    reference = Truth(kind="reference", mean=big.truth.mean, sd=big.truth.sd)
    q_big = GaussianApproximation(big.truth.mean, sd=big.truth.sd)
    row = labels_case(dataclasses.replace(big, truth=reference), q_big)
    assert row["kl_estimator"] == "gaussian-moments" and row["kl_floor"] == 0.0
    assert row["kl"] == pytest.approx(0.0, abs=1e-10)
    assert row["kl_inclusive"] is None and row["khat"] is not None

    row = labels_case(big, DrawsApproximation(big.truth.sample(10, rng)))
    assert row["kl_estimator"] is None and row["kl"] is None and row["mean_err"] is not None


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
