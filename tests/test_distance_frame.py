"""The distance's exact projected laws against dense numpy: A^T S A for every form q and the truth is held in.

At d >= ANALYTIC_MIN_DIM the distance projects Gaussian truths and Gaussian q
through their exact projected law instead of drawing in d dimensions; these
formulas are checked here at small d, where the dense products are cheap.
"""

from __future__ import annotations

import numpy as np
import pytest

import vibench
from vibench.approximation import GaussianApproximation
from vibench.banded import BandedPrecision
from vibench.scoring.distance import _project_vector, _sqrt_psd, _truth_projected_cov, truth_frame

D = 12


def _truth(kind, d=D):
    if kind == "dense":
        return vibench.get_task("linear_regression", dim=d, n=max(30, 2 * d)).truth  # dense covariance
    return vibench.get_task("gaussian", dim=d, rho=0.7).truth  # tridiagonal precision


def _q(form, truth, rng):
    mean = truth.mean + 0.3 * rng.normal(size=D)
    if form == "diag":
        return GaussianApproximation(mean, sd=rng.uniform(0.5, 2.0, D) * truth.sd)
    a = rng.normal(size=(D, D)) * 0.3
    cov = a @ a.T + np.diag(rng.uniform(0.5, 2.0, D))
    if form == "chol":
        return GaussianApproximation(mean, chol=np.linalg.cholesky(cov))
    off = rng.uniform(-0.5, 0.5, D - 1)  # a tridiagonal precision, diagonally dominant: positive definite
    prec = np.diag(off, -1) + np.diag(off, 1) + np.diag(rng.uniform(1.5, 3.0, D))
    return GaussianApproximation(mean, precision=BandedPrecision.from_dense(prec)), np.linalg.inv(prec)


@pytest.mark.parametrize("kind", ["dense", "banded"])
@pytest.mark.parametrize("form", ["diag", "chol", "banded"])
def test_projected_cov_of_q_is_a_transpose_s_a(kind, form):
    truth = _truth(kind)
    frame = truth_frame(truth)
    made = _q(form, truth, np.random.default_rng(hash((kind, form)) % 2**32))
    q, cov = (made[0], made[1]) if isinstance(made, tuple) else (made, made.cov)
    assert q.form == form
    a = frame.directions()
    np.testing.assert_allclose(frame.projected_cov(q), a.T @ cov @ a, rtol=1e-10, atol=1e-12)
    delta = q.mean - truth.mean
    # entries near zero come from cancellation, so the tolerance is relative to the product's scale |a| |delta|
    scale = np.linalg.norm(a, axis=0) * np.linalg.norm(delta)
    np.testing.assert_array_less(np.abs(_project_vector(frame, delta) - a.T @ delta), 1e-12 * scale)


@pytest.mark.parametrize("d", [D, 150])  # 150 > N_MARGINALS: the marginals are a subset of the coordinates
@pytest.mark.parametrize("kind", ["dense", "banded"])
def test_projected_cov_of_the_truth_is_a_transpose_s_a(kind, d):
    truth = _truth(kind, d)
    frame = truth_frame(truth)
    a = frame.directions()
    u = np.linalg.cholesky(truth.cov).T @ frame.random  # the whitened-space unit directions behind frame.random
    np.testing.assert_allclose(np.sum(u * u, axis=0), 1.0, rtol=1e-10)
    np.testing.assert_allclose(_truth_projected_cov(truth, frame, u), a.T @ truth.cov @ a, rtol=1e-9, atol=1e-12)


def test_sqrt_psd_is_cholesky_or_a_floored_eigen_root():
    rng = np.random.default_rng(3)
    b = rng.normal(size=(4, 4))
    pd = b @ b.T + np.eye(4)
    np.testing.assert_allclose(_sqrt_psd(pd), np.linalg.cholesky(pd), rtol=1e-12)  # Cholesky when it exists
    v = rng.normal(size=(4, 2))
    singular = v @ v.T  # rank 2: Cholesky fails
    root = _sqrt_psd(singular)
    np.testing.assert_allclose(root @ root.T, singular, atol=1e-12)
    slightly = singular - 1e-12 * np.eye(4)  # tiny negative eigenvalues are floored at 0, not rooted
    root = _sqrt_psd(slightly)
    assert np.all(np.isfinite(root))
    np.testing.assert_allclose(root @ root.T, singular, atol=1e-10)


@pytest.mark.parametrize("n, m", [(7, 3), (3, 7), (6, 3), (3, 6), (5, 5), (4, 6), (10, 4)])
def test_w1_sorted_is_scipys_wasserstein_distance_for_any_sizes(n, m):
    """Both of w1_sorted's paths (quantile grid when one size divides the other, merged CDFs otherwise)
    give the exact W1 of the two empirical laws, which scipy computes independently."""
    from scipy.stats import wasserstein_distance

    from vibench.scoring.distance import w1_sorted

    rng = np.random.default_rng(7)
    a = np.sort(rng.normal(size=(3, n)), axis=1)
    b = np.sort(rng.normal(0.5, 2.0, size=(3, m)), axis=1)
    want = [wasserstein_distance(a[i], b[i]) for i in range(3)]
    np.testing.assert_allclose(w1_sorted(a, b), want, rtol=1e-12)


def _chains(chains, draws, dim=2, seed=3):
    from vibench.approximation import DrawsApproximation

    return DrawsApproximation(np.random.default_rng(seed).normal(size=(chains, draws, dim)))


def _stats_with_ess(approx, ess):
    from dataclasses import replace

    from vibench.scoring.diagnostics import chain_stats

    stats = chain_stats(approx.samples)
    full = np.full(approx.samples.shape[-1], float(ess))
    return replace(stats, ess_bulk=full, ess_tail=full)


def test_scored_draws_keeps_every_draw_when_the_ess_is_the_sample_size():
    """No thinning at ESS = n: the scored draws are the chains themselves, first and last draw included."""
    from vibench.scoring.distance import scored_draws

    approx = _chains(2, 50)
    x, n_eff = scored_draws(approx, np.random.default_rng(0), _stats_with_ess(approx, 100))
    np.testing.assert_array_equal(x, approx.samples.reshape(-1, 2))
    assert n_eff == 100.0


def test_scored_draws_thins_by_the_stats_it_is_given():
    """Given diagnostics are used, not recomputed: ESS 40 on 4 chains of 100 iid draws keeps 10 evenly
    spaced draws per chain, from the first to the last (iid draws would have ESS near 400)."""
    from vibench.scoring.distance import scored_draws

    approx = _chains(4, 100)
    x, n_eff = scored_draws(approx, np.random.default_rng(0), _stats_with_ess(approx, 40))
    idx = np.linspace(0, 99, 10).round().astype(int)
    np.testing.assert_array_equal(x, approx.samples[:, idx].reshape(-1, 2))
    assert n_eff == 40.0


def test_scored_draws_keeps_one_draw_per_chain_when_walkers_outnumber_the_target():
    """64 walkers and a target of MIN_SCORED (20) draws: one draw per walker, the first, not two."""
    from vibench.scoring.distance import MIN_SCORED, scored_draws

    approx = _chains(64, 30)
    x, _ = scored_draws(approx, np.random.default_rng(0), _stats_with_ess(approx, MIN_SCORED))
    np.testing.assert_array_equal(x, approx.samples[:, [0]].reshape(-1, 2))


def test_scored_draws_names_non_finite_draws():
    from vibench.scoring.distance import scored_draws

    approx = GaussianApproximation(np.array([0.0, np.nan]), sd=np.ones(2))
    with pytest.raises(ValueError, match="^non-finite draws from the approximation$"):
        scored_draws(approx, np.random.default_rng(0))


def test_truth_frame_is_built_once_per_truth_and_the_same_for_every_build_of_the_task():
    """One frame per truth object (its factorization and projections are the expensive part); two builds of
    the same task get the same projected truth draws, so every method is scored against the same sample."""
    from vibench.scoring.distance import ANALYTIC_MIN_DIM

    for d in (D, ANALYTIC_MIN_DIM):  # explicit draws, then the exact projected law
        one, two = (vibench.get_task("gaussian", dim=d, rho=0.7).truth for _ in range(2))
        frame = truth_frame(one)
        assert truth_frame(one) is frame and frame.analytic is (d >= ANALYTIC_MIN_DIM)
        np.testing.assert_array_equal(truth_frame(two).sorted_truth, frame.sorted_truth)


@pytest.mark.parametrize("kind", ["dense", "banded"])
def test_the_frames_directions_are_contiguous_and_whiten_the_truth(kind):
    """Every cell multiplies by the directions; a reversed view (the banded whitening's) makes each product copy
    them (BLAS takes no negative strides), so the frame holds them contiguous, with the same numbers."""
    truth = _truth(kind)
    frame = truth_frame(truth)
    assert frame.random.flags.c_contiguous
    u = np.random.default_rng([7, D]).standard_normal((D, frame.random.shape[1]))
    u /= np.linalg.norm(u, axis=0)
    np.testing.assert_allclose(frame.random, truth.whiten_directions(u), rtol=1e-12, atol=0)
    cov = truth.cov if kind == "dense" else np.linalg.inv(truth.precision.dense())
    np.testing.assert_allclose(frame.random.T @ cov @ frame.random, u.T @ u, atol=1e-10)  # unit sd projections


def test_the_exact_projected_law_starts_at_analytic_min_dim():
    from vibench.scoring.distance import ANALYTIC_MIN_DIM

    assert truth_frame(vibench.get_task("gaussian", dim=ANALYTIC_MIN_DIM, rho=0.7).truth).analytic
    assert not truth_frame(vibench.get_task("gaussian", dim=ANALYTIC_MIN_DIM - 1, rho=0.7).truth).analytic


@pytest.mark.parametrize("d", [7, 60, 250])
def test_marginal_directions_are_every_coordinate_or_n_marginals_evenly_spread(d):
    """Up to N_MARGINALS coordinates, all of them; beyond, N_MARGINALS from the first to the last, in gaps
    that differ by at most one."""
    from vibench.scoring.distance import N_MARGINALS

    marginals = truth_frame(vibench.get_task("gaussian", dim=d, rho=0.7).truth).marginals
    if d <= N_MARGINALS:
        np.testing.assert_array_equal(marginals, np.arange(d))
    else:
        gaps = np.diff(marginals)
        assert marginals.size == N_MARGINALS and marginals[0] == 0 and marginals[-1] == d - 1
        assert gaps.max() - gaps.min() <= 1


def test_dist_se_is_the_batch_means_sd_by_scipy():
    """``dist_se`` = sd (ddof 1) of the N_BATCHES interleaved batch distances / sqrt(N_BATCHES), each batch
    distance the mean over directions of scipy's W1 between the batch and the truth's batch."""
    from scipy.stats import wasserstein_distance

    from vibench.scoring.distance import N_BATCHES, sliced_w1

    truth = _truth("banded")
    frame = truth_frame(truth)
    x = truth.mean + 1.3 * truth.sd * np.random.default_rng(4).standard_normal((500, D))  # q too wide
    raw = frame.project(x)
    batch = [np.mean([wasserstein_distance(raw[j, b::N_BATCHES], frame.batches[b][j]) for j in range(frame.k)])
             for b in range(N_BATCHES)]
    dist, se = sliced_w1(x, frame)
    full = np.mean([wasserstein_distance(raw[j], frame.sorted_truth[j]) for j in range(frame.k)])
    assert dist == pytest.approx(full, rel=1e-10)
    assert se == pytest.approx(np.std(batch, ddof=1) / np.sqrt(N_BATCHES), rel=1e-10)


def test_distance_without_truth_draws_has_the_same_keys_all_none():
    from vibench.scoring.distance import distance
    from vibench.truth import Truth

    truth = _truth("banded")
    q = GaussianApproximation(truth.mean, sd=truth.sd)
    scored = distance(q, truth, np.random.default_rng(0))
    bare = distance(q, Truth(kind="reference", mean=truth.mean, sd=truth.sd), np.random.default_rng(0))
    assert set(bare) == set(scored) == {"dist", "dist_se", "dist_floor", "dist_n", "dist_estimator"}
    assert all(v is None for v in bare.values()) and scored["dist_estimator"] == "sliced-w1"


def test_chains_are_scored_by_their_draws_even_where_gaussians_use_the_exact_law():
    """At d >= ANALYTIC_MIN_DIM a Gaussian q goes through its projected law (N_DRAWS draws' worth), but
    chains are still thinned to their ESS and projected draw by draw."""
    from vibench.approximation import DrawsApproximation
    from vibench.scoring.distance import ANALYTIC_MIN_DIM, N_DRAWS, distance, scored_draws

    truth = vibench.get_task("gaussian", dim=ANALYTIC_MIN_DIM, rho=0.7).truth
    q = GaussianApproximation(truth.mean, sd=truth.sd)
    assert distance(q, truth, np.random.default_rng(0))["dist_n"] == float(N_DRAWS)
    chains = DrawsApproximation(q.draws(400, np.random.default_rng(1)).reshape(2, 200, -1))
    stats = _stats_with_ess(chains, 60)
    out = distance(chains, truth, np.random.default_rng(0), stats)
    x, n_eff = scored_draws(chains, np.random.default_rng(0), stats)
    assert out["dist_n"] == n_eff == 60.0 and out["dist"] == pytest.approx(_sliced_w1_of(x, truth), rel=1e-12)


def _sliced_w1_of(x, truth):
    from vibench.scoring.distance import sliced_w1

    return sliced_w1(x, truth_frame(truth))[0]


def test_distinct_rows_counts_what_np_unique_counts():
    from vibench.scoring.distance import distinct_rows

    rng = np.random.default_rng(12)
    x = rng.normal(size=(300, 7))
    dup = x[rng.integers(0, 300, size=500)]  # resampled: duplicates far apart, not only consecutive
    dup[::3, 4] = np.round(dup[::3, 4], 1)  # rows that differ in one coordinate only
    assert distinct_rows(dup) == np.unique(dup, axis=0).shape[0] < 500
    assert distinct_rows(x) == 300 and distinct_rows(x[:, :1]) == 300
    stuck = np.repeat(x[:5], 40, axis=0)  # a sampler that rejects 39 moves in 40
    assert distinct_rows(stuck) == 5
