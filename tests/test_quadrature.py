"""GridDensity (vibench/tasks/_quadrature.py) against closed forms: the trapezoid weights and CDF, log Z and
moments of a Gamma density, NaN outside a support, and the error when mass reaches the search range's ends."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vibench.errors import VibenchError
from vibench.tasks._quadrature import GridDensity


def test_from_values_gives_the_trapezoid_weights_and_cdf():
    """A constant density 3 on [0, 2] with 5 nodes: weights (1, 2, 2, 2, 1) / 8, Z = 6, a linear CDF."""
    grid = GridDensity.from_values(np.linspace(0.0, 2.0, 5), np.full(5, np.log(3.0)))
    np.testing.assert_allclose(grid.weights, np.array([1, 2, 2, 2, 1]) / 8, rtol=1e-14)
    assert grid.log_norm == pytest.approx(np.log(6.0), rel=1e-14)
    np.testing.assert_allclose(grid.cdf, np.linspace(0.0, 1.0, 5), rtol=1e-14, atol=1e-15)


def test_fit_finds_a_gamma_density_whose_log_is_nan_below_zero():
    """Gamma(4, 1): ``3 log s - s`` is NaN for s < 0 (no mass there); Z = 3! = 6, mean 4, variance 4.

    The density is s^3 near 0, so the trapezoid rule's error there is O(h^4) ~ 1e-11 at the grid's h ~ 0.01.
    """
    def logf(s):
        with np.errstate(invalid="ignore", divide="ignore"):
            return 3.0 * np.log(s) - s

    grid = GridDensity.fit(logf, -5.0, 200.0)
    assert grid.log_norm == pytest.approx(math.log(6.0), abs=1e-8)
    mean = grid.expect(grid.nodes)
    assert mean == pytest.approx(4.0, abs=1e-8)
    assert grid.expect((grid.nodes - mean) ** 2) == pytest.approx(4.0, abs=1e-7)


def test_fit_keeps_a_support_one_coarse_cell_inside_the_search_range():
    """Uniform on [1, 3999], searched over [0, 4000] (coarse cells of 1): mass starts one cell from each end."""
    def logf(s):
        return np.where((s >= 1.0) & (s <= 3999.0), 0.0, -np.inf)

    grid = GridDensity.fit(logf, 0.0, 4000.0)
    assert grid.nodes[0] == 0.0 and grid.nodes[-1] == 4000.0
    assert grid.expect(grid.nodes) == pytest.approx(2000.0, rel=1e-12)
    assert grid.log_norm == pytest.approx(np.log(3998.0), abs=1e-3)  # the trapezoid smears each edge by h / 2


@pytest.mark.parametrize("sign, lo, hi", [(-1.0, 0.0, 50.0), (1.0, -50.0, 0.0)])
def test_mass_at_an_end_of_the_search_range_is_an_error(sign, lo, hi):
    """``exp(-s)`` on [0, 50] has its mass at the left end, ``exp(s)`` on [-50, 0] at the right end."""
    with pytest.raises(VibenchError) as err:
        GridDensity.fit(lambda s: sign * s, lo, hi)
    assert str(err.value) == f"quadrature: the posterior has mass beyond the search range [{lo}, {hi}]"
