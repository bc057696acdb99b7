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


def _truth(kind):
    if kind == "dense":
        return vibench.get_task("linear_regression", dim=D, n=30).truth  # dense covariance
    return vibench.get_task("gaussian", dim=D, rho=0.7).truth  # tridiagonal precision


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
    np.testing.assert_allclose(_project_vector(frame, q.mean - truth.mean), a.T @ (q.mean - truth.mean), rtol=1e-12)


@pytest.mark.parametrize("kind", ["dense", "banded"])
def test_projected_cov_of_the_truth_is_a_transpose_s_a(kind):
    truth = _truth(kind)
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
