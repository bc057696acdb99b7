"""Laplace's documented pieces, where the mutation run found them unchecked: the finite-difference steps,
the choice between a banded and a dense Hessian, the optimizer's settings, its error and its ``info``."""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np
import pytest

import vibench
from vibench.density import LogDensity
from vibench_laplace.laplace import fd_hessian


def _fit(task, steps=1000):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy warns of an option it does not know (a misspelt gtol)
        return vibench.get_method("laplace").fit(task, vibench.Budget(steps), np.random.default_rng(0))


def test_fd_hessian_steps_are_relative_to_max_one_and_abs_x():
    """The ``2 d`` points are ``x +- h e_i`` with ``h_i = 1e-5 max(1, |x_i|)`` (the default ``rel_step``)."""
    seen = []

    def logp_and_grad(points):
        seen.append(points.copy())
        return np.zeros(len(points)), -points  # N(0, I): the Hessian is -I

    x = np.array([0.5, -1.5, 3.0])
    hess = fd_hessian(logp_and_grad, x)
    (points,) = seen
    h = 1e-5 * np.array([1.0, 1.5, 3.0])
    np.testing.assert_array_equal(points, np.concatenate([x + np.diag(h), x - np.diag(h)]))
    np.testing.assert_allclose(hess, -np.eye(3), atol=1e-9)


@pytest.mark.parametrize(("task", "params", "hessian"), [
    ("gaussian", {"dim": 3, "rho": 0.5}, "dense"),   # bandwidth 1: 2 b + 1 = 3 is not below d = 3
    ("gaussian", {"dim": 4, "rho": 0.5}, "banded"),  # below d = 4
    ("gmrf", {"grid": 2}, "dense"),                  # bandwidth 2: 5 is not below d = 4
    ("gmrf", {"grid": 3}, "banded"),                 # bandwidth 3: 7 is below d = 9
])
def test_the_hessian_is_banded_only_when_its_band_is_narrower_than_d(task, params, hessian):
    t = vibench.get_task(task, **params)
    approx = _fit(t)
    assert approx.info["hessian"] == hessian
    np.testing.assert_allclose(approx.mean, t.truth.mean, atol=1e-8)  # exact on a Gaussian either way


def test_the_optimizer_runs_to_its_documented_tolerances():
    """L-BFGS-B with gtol 1e-10 (scipy's default is 1e-5): on a Gaussian, the mode before the final Newton
    step is already exact to far below scipy's default tolerance, so that step is tiny."""
    t = vibench.get_task("gaussian", dim=10, rho=0.9)
    info = _fit(t).info
    assert info["converged"] is True and info["newton_step_norm"] < 1e-7


def test_a_hessian_that_is_not_negative_definite_is_a_clear_error():
    task = vibench.get_task("gaussian", dim=2, rho=0.0)
    # log p = (x0^2 - x1^2) / 2 has a saddle at 0: started there, with a zero gradient, the optimizer
    # stops at once, where the Hessian diag(1, -1) is not negative definite
    ld = LogDensity(2, lambda x: 0.5 * x[:, 0] ** 2 - 0.5 * x[:, 1] ** 2,
                    lambda x: (0.5 * x[:, 0] ** 2 - 0.5 * x[:, 1] ** 2, np.stack([x[:, 0], -x[:, 1]], axis=1)))
    bad = dataclasses.replace(task, log_density=ld, initial_point=lambda rng: np.zeros(2))
    with pytest.raises(RuntimeError, match=r"^Hessian is not negative definite at the optimizer's end point$"):
        _fit(bad)


def test_laplace_reports_its_own_seconds():
    t = vibench.get_task("gaussian", dim=5, rho=0.5)
    start = time.perf_counter()
    info = _fit(t).info
    assert 0.0 <= info["seconds"] <= time.perf_counter() - start
