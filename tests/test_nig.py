"""``linear_regression_nig``'s defaults and the bounds of its parameters, at the bounds.

Its truth (moments, draws, evidence, log density) is checked against
independent computations in ``tests/test_tasks.py``; here are the limits: the
inverse-gamma prior needs ``a0, b0 > 0`` and the posterior variance of beta
needs ``a_n = a0 + n/2 > 1``.
"""

from __future__ import annotations

import numpy as np
import pytest

import vibench
from vibench import VibenchError
from vibench.tasks.linear_regression_nig import make_linear_regression_nig


def test_nig_defaults():
    task = vibench.get_task("linear_regression_nig")
    assert task.params == {"n": 100, "dim": 5, "a0": 2.0, "b0": 2.0, "prior_scale": 1.0, "seed": 0}
    assert task.dim == 6 and task.data["a_n"] == 52.0


@pytest.mark.parametrize("a0, b0", [(0.0, 2.0), (2.0, 0.0), (-1.0, 1.0)])
def test_nig_refuses_a_prior_that_is_not_inverse_gamma(a0, b0):
    with pytest.raises(VibenchError, match=rf"^a0 and b0 must be > 0, got a0={a0}, b0={b0}$"):
        make_linear_regression_nig(a0=a0, b0=b0)


def test_nig_accepts_a_shape_below_one():
    """a0 = 0.5 is a proper (heavy-tailed) prior; with n = 100 the posterior's a_n is 50.5."""
    task = make_linear_regression_nig(a0=0.5, b0=0.1)
    assert task.data["a_n"] == 50.5 and np.all(np.isfinite(task.truth.sd))


def test_nig_needs_a_posterior_shape_above_one():
    """a_n = a0 + n/2 = 1 has no posterior variance of beta (b_n / (a_n - 1)); 1.5 has one."""
    with pytest.raises(VibenchError, match=r"^a0 \+ n/2 must exceed 1 for the posterior variance to exist, got 1\.0$"):
        make_linear_regression_nig(n=1, dim=1, a0=0.5)
    task = make_linear_regression_nig(n=2, dim=1, a0=0.5)
    assert task.data["a_n"] == 1.5
    np.testing.assert_allclose(task.truth.cov[0, 0], task.data["b_n"] / 0.5 * task.data["V_n"][0, 0], rtol=1e-14)
