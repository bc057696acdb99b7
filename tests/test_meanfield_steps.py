"""meanfield's two building blocks on objectives whose answers are known: the Stein scale step and one
L-BFGS stage under its iteration cap."""

from __future__ import annotations

import numpy as np

from vibench_vi.meanfield import run_lbfgs, stein_scale_update
from vibench_vi.objective import Stopper


class _Objective:
    """``evaluate(theta) -> (value, gradient, curvature)`` with prescribed values, recording each call."""

    def __init__(self, dim, value, curv):
        self.dim, self.value, self.curv, self.seen = dim, value, np.asarray(curv, dtype=float), []

    def evaluate(self, theta):
        self.seen.append(theta.copy())
        return self.value(theta), None, self.curv


def test_stein_step_sets_sd_from_each_positive_curvature_only():
    """sd_i = h_i^(-1/2) where h_i > 0; a zero, negative or NaN curvature leaves log sd_i alone."""
    theta = np.array([0.1, 0.2, 0.3, 0.4, 0.0, 0.5, -0.5, 1.0])
    obj = _Objective(4, lambda t: float(t[4]), [4.0, 0.0, -1.0, np.nan])  # lower log sd_0: better
    out = stein_scale_update(obj, theta)
    np.testing.assert_array_equal(out[:4], theta[:4])
    assert out[4] == -0.5 * np.log(4.0) and np.array_equal(out[5:], theta[5:])


def test_stein_step_is_kept_only_if_it_strictly_lowers_the_objective():
    theta = np.array([0.0, 0.0, 1.0, 1.0])
    flat = _Objective(2, lambda t: 3.0, [2.0, 2.0])  # the candidate ties: theta stays
    assert stein_scale_update(flat, theta) is theta and len(flat.seen) == 2
    worse = _Objective(2, lambda t: float(-np.sum(t[2:])), [2.0, 2.0])  # log sd falls: the value rises
    assert stein_scale_update(worse, theta) is theta


def test_stein_step_needs_a_finite_value():
    theta = np.array([0.0, 0.0, 1.0, 1.0])
    obj = _Objective(2, lambda t: np.inf, [2.0, 2.0])
    assert stein_scale_update(obj, theta) is theta and len(obj.seen) == 1  # no candidate is even tried


def test_a_stage_stops_at_its_own_iteration_cap_and_says_so():
    """A long valley (never stalls at tol 1e-12): the stage runs exactly maxiter iterations, not converged."""
    scale = np.array([1.0, 1e-4])

    def obj(x):
        return float(np.sum(scale * x**2)), 2 * scale * x

    stopper = Stopper(max_iter=1000, max_seconds=None)
    x, value, converged = run_lbfgs(obj, np.array([3.0, 300.0]), stopper, tol=1e-12, maxiter=3)
    assert stopper.stage_iterations == 3 and stopper.iterations == 3 and not converged
    assert value == obj(x)[0] and value < obj(np.array([3.0, 300.0]))[0]
