"""The structured KL: every pair of forms against dense numpy, and without building a dense factor where a
cheaper path exists (issue 12: no d x d matrix for diagonal or banded Gaussians).

``GaussianForm.dense_root`` is the fallback that builds one; the tests that must not reach it replace it by a
function that fails.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import vibench
from vibench.approximation import GaussianApproximation
from vibench.banded import BandedPrecision
from vibench.scoring.kl import GaussianForm, trace_prec_cov
from vibench.scoring.score import q_form, truth_form

D = 9


def _tridiagonal(rng, d=D, b=1):
    prec = np.diag(rng.uniform(2.0 + b, 4.0 + b, d))
    for k in range(1, b + 1):
        off = rng.uniform(-0.6, 0.6, d - k)
        prec += np.diag(off, -k) + np.diag(off, k)
    return prec


def _forms(rng):
    """name -> (GaussianForm, dense covariance)."""
    a = rng.normal(size=(D, D))
    cov = a @ a.T / D + np.eye(D)
    p1, p2 = _tridiagonal(rng, b=1), _tridiagonal(rng, b=2)
    var = rng.uniform(0.5, 2.0, D)
    lower = np.linalg.cholesky(cov)
    upper = np.linalg.inv(np.linalg.cholesky(np.linalg.inv(cov))).T  # S = R^-T, upper: how a dense precision is held
    return {
        "diag": (GaussianForm(var=var), np.diag(var)),
        "root": (GaussianForm(root=lower, lower=True), cov),
        "upper": (GaussianForm(root=upper, lower=False), upper @ upper.T),
        "banded1": (GaussianForm(banded=BandedPrecision.from_dense(p1)), np.linalg.inv(p1)),
        "banded2": (GaussianForm(banded=BandedPrecision.from_dense(p2)), np.linalg.inv(p2)),
    }


#: (p, q) pairs with a path that builds no dense factor
FAST = [("diag", "diag"), ("diag", "root"), ("diag", "banded1"), ("banded1", "diag"), ("banded1", "root"),
        ("banded1", "banded1"), ("banded1", "banded2"), ("banded2", "banded2"), ("root", "banded1")]


@pytest.mark.parametrize("p_name", ["diag", "root", "upper", "banded1", "banded2"])
@pytest.mark.parametrize("q_name", ["diag", "root", "upper", "banded1", "banded2"])
def test_trace_prec_cov_against_dense(monkeypatch, p_name, q_name):
    forms = _forms(np.random.default_rng(5))
    (p, cov_p), (q, cov_q) = forms[p_name], forms[q_name]
    if (p_name, q_name) in FAST:
        monkeypatch.setattr(GaussianForm, "dense_root", lambda self: pytest.fail("built a dense factor"))
    assert trace_prec_cov(p, q) == pytest.approx(np.trace(np.linalg.solve(cov_p, cov_q)), rel=1e-10)
    assert p.logdet() == pytest.approx(np.linalg.slogdet(cov_p)[1], rel=1e-10)
    np.testing.assert_allclose(p.variances(), np.diag(cov_p), rtol=1e-10)
    delta = np.linspace(-1.0, 1.0, D)
    assert p.prec_quad(delta) == pytest.approx(delta @ np.linalg.solve(cov_p, delta), rel=1e-10)


def test_degenerate_and_non_finite_forms_give_inf_and_nan_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert GaussianForm(root=np.diag([1.0, 0.0])).logdet() == -np.inf
        assert GaussianForm(var=np.array([1.0, 0.0])).logdet() == -np.inf
    assert np.isnan(GaussianForm(root=np.eye(2)).prec_quad(np.array([np.nan, 0.0])))  # nan, not an exception


def test_q_form_and_truth_form_keep_the_form_they_are_held_in():
    rng = np.random.default_rng(6)
    prec = _tridiagonal(rng)
    mean = np.zeros(D)
    banded = GaussianApproximation(mean, precision=BandedPrecision.from_dense(prec))
    assert q_form(banded).kind == "banded" and q_form(banded).banded is banded.precision
    dense_prec = GaussianApproximation(mean, precision=prec)
    form = q_form(dense_prec)
    assert form.kind == "root" and form.lower is False and form.root is dense_prec.scale  # its own root, no chol
    chol = GaussianApproximation(mean, chol=np.linalg.cholesky(np.linalg.inv(prec)))
    assert q_form(chol).root is chol.chol and q_form(chol).lower is True
    diag = GaussianApproximation(mean, sd=np.ones(D))
    assert q_form(diag).kind == "diag"
    truth = vibench.get_task("gaussian", dim=D, rho=0.5).truth
    form = truth_form(truth)
    assert form.kind == "banded" and form.var is not None  # the marginal variances come with it (no Takahashi)
    np.testing.assert_allclose(form.var, truth.sd**2)
    dense = truth_form(vibench.get_task("linear_regression", dim=3, n=20).truth)
    assert dense.kind == "root" and dense.lower is True


def test_kl_of_a_degenerate_q_is_inf():
    from vibench.scoring.kl import gaussian_kl_forms

    p = GaussianForm(var=np.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gaussian_kl_forms(np.zeros(2), GaussianForm(var=np.array([1.0, 0.0])), np.zeros(2), p) == np.inf
        assert gaussian_kl_forms(np.zeros(2), GaussianForm(root=np.diag([1.0, 0.0])), np.zeros(2), p) == np.inf
