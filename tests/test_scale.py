"""Structured Gaussians: banded truths, diagonal and banded approximations, equal to the dense paths.

Every structured path is checked against the dense computation it replaces
(numerically identical, 1e-8 relative, at d = 50), and the large-d scoring
(projections drawn from their exact law) against the closed forms the dense
yardstick is calibrated on. Timings live in ``suites/bench_scale.py``, never here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import vibench
from vibench import GaussianApproximation
from vibench.scoring.distance import ANALYTIC_MIN_DIM, N_DRAWS, N_TRUTH, distance, sliced_w1, truth_frame
from vibench.scoring.kl import GaussianForm, gaussian_kl_forms
from vibench.scoring.score import evaluate
from vibench.tasks.gaussian import ar1_band, ar1_meanfield_kl, ar1_precision
from vibench.tasks.gmrf import lattice_band
from vibench.testing import check_task
from vibench.truth import BandedPrecision, cov_chol_from_precision, gaussian_truth

from oracles import dense_kl, expected_w1, meanfield_kl

RTOL = 1e-8


def _random_band(d: int, b: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.zeros((d, d))
    for k in range(b + 1):
        v = 0.3 * rng.normal(size=d - k)
        a += np.diag(v, -k) + (np.diag(v, k) if k else 0)
    return a + (3.0 + b) * np.eye(d)


@pytest.mark.parametrize("d, b", [(1, 0), (2, 1), (30, 1), (40, 3), (130, 64), (200, 70)])
def test_banded_precision_agrees_with_dense_linear_algebra(d, b):
    b = min(b, d - 1)
    dense = _random_band(d, b)
    prec = BandedPrecision.from_dense(dense)
    cov = np.linalg.inv(dense)
    chol = np.linalg.cholesky(cov)
    rng = np.random.default_rng(1)
    u, y = rng.normal(size=(d, 5)), rng.normal(size=(4, d))
    np.testing.assert_allclose(prec.dense(), dense, atol=0)
    np.testing.assert_allclose(prec.logdet(), np.linalg.slogdet(dense)[1], rtol=1e-12)
    np.testing.assert_allclose(prec.whiten_directions(u), np.linalg.solve(chol.T, u), atol=1e-12)
    np.testing.assert_allclose(prec.color(u), chol @ u, atol=1e-12)
    np.testing.assert_allclose(prec.rt_matmat(u), np.linalg.solve(chol, u), atol=1e-12)  # R^T = C^-1
    np.testing.assert_allclose(prec.solve(u), cov @ u, atol=1e-12)
    np.testing.assert_allclose(prec.matvec_rows(y), y @ dense, atol=1e-12)
    band = prec.inverse_band()
    for k in range(b + 1):
        np.testing.assert_allclose(band[k, : d - k], np.diagonal(cov, -k), atol=1e-14)
    np.testing.assert_allclose(cov_chol_from_precision(dense), chol, atol=1e-12)
    # exact draws are the dense path's numbers: mean + z @ chol.T with the same z
    mean = rng.normal(size=d)
    np.testing.assert_allclose(prec.sample(6, np.random.default_rng(2), mean),
                               mean + np.random.default_rng(2).standard_normal((6, d)) @ chol.T, atol=1e-12)


def _dense_copy(task):
    """The same task with its truth held densely (the pre-structure code path)."""
    t = task.truth
    return dataclasses.replace(task, truth=gaussian_truth(t.mean, t.precision.covariance(), t.log_evidence))


def _approximations(task, seed: int = 0) -> list[GaussianApproximation]:
    d, rng = task.dim, np.random.default_rng(seed)
    sd = 0.5 + rng.random(d)
    mean = task.truth.mean + 0.1 * rng.normal(size=d)
    a = 0.1 * rng.normal(size=(d, d))
    cov = a @ a.T + np.diag(sd**2)
    near = task.truth.precision.dense() + np.diag(rng.random(d))  # a banded q, as Laplace returns
    return [GaussianApproximation(mean, sd=sd), GaussianApproximation(mean, cov),
            GaussianApproximation(mean, precision=np.linalg.inv(cov)),
            GaussianApproximation(mean, precision=BandedPrecision.from_dense(near, task.truth.precision.bandwidth))]


@pytest.mark.parametrize("name, params", [("gaussian", {"dim": 50, "rho": 0.9}), ("gmrf", {"grid": 7})])
def test_structured_scoring_is_the_dense_scoring_at_d50(name, params):
    task = vibench.get_task(name, **params)
    assert task.truth.gaussian_form == "banded"
    dense = _dense_copy(task)
    for q in _approximations(task):
        a = evaluate(q, task, np.random.default_rng(1))
        b = evaluate(q, dense, np.random.default_rng(1))
        assert a["kl_estimator"] == b["kl_estimator"] == "closed-form"
        for key, value in a.items():
            if isinstance(value, float) and np.isfinite(value):
                assert value == pytest.approx(b[key], rel=RTOL, abs=1e-12), (q.form, key)


def test_structured_kl_forms_match_the_dense_kl():
    task = vibench.get_task("gmrf", grid=6)
    p_dense = task.truth.precision.covariance()
    forms = {"banded": GaussianForm(banded=task.truth.precision, var=task.truth.sd**2),
             "root": GaussianForm(root=np.linalg.cholesky(p_dense))}
    for q in _approximations(task, seed=3):
        for name, p in forms.items():
            exact = dense_kl(q.mean, q.cov, task.truth.mean, p_dense)
            assert gaussian_kl_forms(q.mean, _form(q), task.truth.mean, p) == pytest.approx(exact, rel=RTOL), name
            inclusive = dense_kl(task.truth.mean, p_dense, q.mean, q.cov)
            assert gaussian_kl_forms(task.truth.mean, p, q.mean, _form(q)) == pytest.approx(inclusive, rel=RTOL)


def _form(q: GaussianApproximation) -> GaussianForm:
    from vibench.scoring.score import q_form

    return q_form(q)


def test_approximation_forms_agree_on_moments_density_and_entropy():
    rng = np.random.default_rng(4)
    d = 12
    dense = _random_band(d, 2, seed=5)
    cov, mean, x = np.linalg.inv(dense), rng.normal(size=d), rng.normal(size=(3, d))
    ref = GaussianApproximation(mean, cov)
    for q in (GaussianApproximation(mean, chol=np.linalg.cholesky(cov)), GaussianApproximation(mean, precision=dense),
              GaussianApproximation(mean, precision=BandedPrecision.from_dense(dense))):
        np.testing.assert_allclose(q.logpdf(x), ref.logpdf(x), rtol=1e-12)
        np.testing.assert_allclose(q.sd, ref.sd, rtol=1e-12)
        np.testing.assert_allclose(q.cov, cov, atol=1e-12)
        np.testing.assert_allclose(q.chol, ref.chol, atol=1e-12)
        assert q.entropy() == pytest.approx(0.5 * np.linalg.slogdet(2 * np.pi * np.e * cov)[1], rel=1e-12)
        x2, logq = q.draws_and_logpdf(5, np.random.default_rng(6))
        np.testing.assert_allclose(x2, q.draws(5, np.random.default_rng(6)), atol=1e-12)
        np.testing.assert_allclose(logq, q.logpdf(x2), rtol=1e-10)
    sd = rng.random(d) + 0.5
    diag = GaussianApproximation(mean, sd=sd)
    np.testing.assert_array_equal(diag.draws(4, np.random.default_rng(0)),
                                  GaussianApproximation(mean, chol=np.diag(sd)).draws(4, np.random.default_rng(0)))
    np.testing.assert_allclose(diag.logpdf(x), GaussianApproximation(mean, np.diag(sd**2)).logpdf(x), rtol=1e-12)


def test_a_diagonal_q_on_a_banded_truth_is_scored_without_any_dense_matrix():
    d = 20_000
    task = vibench.get_task("gaussian", dim=d, rho=0.9)
    sd = 1 / np.sqrt(task.truth.precision.diagonal())  # the optimal mean-field sds
    q = GaussianApproximation(task.truth.mean, sd=sd, info={"converged": True})
    row = evaluate(q, task, np.random.default_rng(0), family="meanfield")
    assert row["kl"] == pytest.approx(ar1_meanfield_kl(d, 0.9), rel=1e-10)  # the mean-field optimum
    assert q._cov is None and q._chol is None
    assert not task.truth.has_dense_cov
    assert row["dist_n"] == N_DRAWS and row["khat"] is not None
    assert vibench.get_task("gaussian", dim=200_000).truth.cov is None  # beyond DENSE_COV_MAX_DIM


@pytest.mark.parametrize("name, params", [("gaussian", {"dim": 2000, "rho": 0.9}), ("gmrf", {"grid": 40})])
def test_analytic_projections_are_calibrated(name, params):
    task = vibench.get_task(name, **params)
    assert task.dim >= ANALYTIC_MIN_DIM and truth_frame(task.truth).analytic
    exact = GaussianApproximation(task.truth.mean, precision=task.truth.precision)
    out = distance(exact, task.truth, np.random.default_rng(0))
    assert abs(out["dist"] - out["dist_floor"]) < 3 * out["dist_se"], out
    wide = GaussianApproximation(task.truth.mean, precision=BandedPrecision(task.truth.precision.band / 1.44))
    # every projection: sd x 1.2. The 4,000 truth draws are one fixed realization shared by every q, so
    # z-scores over q's seeds are correlated (mean -1 on gmrf, on the explicit path at grid = 9 too): 4 SE
    out = distance(wide, task.truth, np.random.default_rng(1))
    assert abs(out["dist"] - expected_w1(0.0, 1.2, N_DRAWS, N_TRUTH)) < 4 * out["dist_se"], out
    # explicit exact draws (as a draws-only method's are projected) against the analytic truth frame: at the floor
    frame = truth_frame(task.truth)
    dist, se = sliced_w1(task.truth.sample(2000, np.random.default_rng(2)), frame)
    assert abs(dist - frame.floor(2000)) < 3 * se, (dist, frame.floor(2000), se)


def test_gmrf_truth_matches_its_dense_precision():
    task = vibench.get_task("gmrf", grid=6, kappa=0.7, tau=1.5)
    check_task(task)
    q = task.truth.precision.dense()
    n = 6
    i, j = 2 * n + 3, 2 * n + 4  # right neighbours; (i, i + n) below
    assert q[i, j] == q[i, i + n] == -1.5 and q[i, i] == pytest.approx(1.5 * (0.49 + 4))
    assert q[n - 1, n] == 0.0  # the end of a row is not the start of the next
    cov = np.linalg.inv(q)
    np.testing.assert_allclose(task.truth.sd, np.sqrt(np.diag(cov)), rtol=1e-12)
    assert task.tags["meanfield_kl"] == pytest.approx(meanfield_kl(q), rel=1e-12)
    assert task.tags["hessian_bandwidth"] == n and lattice_band(n, 0.7, 1.5).bandwidth == n


def test_ar1_truth_is_tridiagonal_and_matches_the_dense_one():
    task = vibench.get_task("gaussian", dim=30, rho=0.8)
    np.testing.assert_allclose(task.truth.precision.dense(), ar1_precision(30, 0.8), rtol=1e-14)
    idx = np.arange(30)
    np.testing.assert_allclose(task.truth.cov, 0.8 ** np.abs(idx[:, None] - idx[None, :]), atol=1e-12)
    np.testing.assert_allclose(ar1_band(30, 0.8).variances(), 1.0, rtol=1e-12)


@pytest.mark.parametrize("name, params", [("gaussian", {"dim": 3000, "rho": 0.9}), ("gmrf", {"grid": 15})])
def test_laplace_uses_the_banded_hessian_and_is_exact(name, params):
    task = vibench.get_task(name, **params)
    task.log_density.reset_counts()
    approx = vibench.get_method("laplace").fit(task, vibench.Budget(2000), np.random.default_rng(0))
    b = task.tags["hessian_bandwidth"]
    assert approx.info["hessian"] == "banded" and approx.form == "banded"
    assert task.log_density.n_grad <= approx.info["iterations"] + 50 + 2 * (2 * b + 1)  # not 2 d
    row = evaluate(approx, task, np.random.default_rng(1))
    assert abs(row["kl"]) < 1e-8 and row["mean_err"] < 1e-6


def test_meanfield_reaches_the_gmrf_optimum():
    task = vibench.get_task("gmrf", grid=6)
    approx = vibench.get_method("meanfield").fit(task, vibench.Budget(1000), np.random.default_rng(0))
    assert approx.form == "diag"
    np.testing.assert_allclose(approx.sd**2, 1 / task.truth.precision.diagonal(), rtol=1e-5)
    row = evaluate(approx, task, np.random.default_rng(1))
    assert task.tags["meanfield_kl"] <= row["kl"] <= 1.01 * task.tags["meanfield_kl"]


def test_fullrank_factor_is_the_cholesky_of_the_covariance():
    from vibench_vi.fullrank import _PrecFactor

    prec = _random_band(40, 5) @ _random_band(40, 5).T
    factor = _PrecFactor(prec)
    cov = np.linalg.inv(prec)
    np.testing.assert_allclose(factor.chol, np.linalg.cholesky(cov), atol=1e-12)
    np.testing.assert_allclose(factor.inv_chol @ factor.chol, np.eye(40), atol=1e-10)
    g = np.arange(40.0)
    np.testing.assert_allclose(factor.solve(g), cov @ g, rtol=1e-9)


@pytest.mark.parametrize("d, b, k", [(700, 0, 20), (700, 1, 20), (1000, 3, 20), (1290, 30, 20), (1000, 40, 120)])
def test_blocked_banded_solves_match_lapack(d, b, k):
    import vibench.banded as truth_module

    prec = BandedPrecision.from_dense(_random_band(d, b, seed=d), bandwidth=b)
    rhs = np.random.default_rng(b).normal(size=(d, k))  # enough right-hand sides for the blocked path
    for trans in "NT":
        blocked = prec._tri_solve(rhs, trans)
        old, truth_module.SOLVE_BLOCK = truth_module.SOLVE_BLOCK, 10**9  # force LAPACK's dtbtrs
        try:
            reference = prec._tri_solve(rhs, trans)
        finally:
            truth_module.SOLVE_BLOCK = old
        np.testing.assert_allclose(blocked, reference, rtol=1e-10, atol=1e-12)
