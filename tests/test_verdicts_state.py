"""The rules of vibench/scoring/verdicts.py at their boundaries, with expected values worked by hand.

The rules (docs/answer.md section 3 and the module's docstring), with Z = 2 and a level ``metric <= t``:

* ``combined_se`` over k seeds: ``max(sqrt(mean(se_i^2) / k), sd(values) / sqrt(k))``, sd the sample sd
  (the spread term only for k >= 2; k = 1 gives se_1);
* a cell **reaches** t when the level is resolvable and ``value + Z se <= t``;
* it is **unresolved** when the level is not resolvable at its yardstick (``dist``: ``floor + 2 Z u > t``;
  ``moments``: ``(z_d + Z) u > t``; ``kl``: ``2 Z u > t``, u the ``unit_se``), unless clearly beyond t
  (``dist - Z se - 1.5 floor > t``; ``moments - Z se - z_d u > t``), which misses;
* otherwise it **misses**.

Most numbers are dyadic (k / 2^n), so every sum below is exact in floating point and a case "at" a
boundary is exactly at it; EPS = 2^-20 moves a case just across. ``z_d`` is the Bonferroni 95 %
two-sided quantile of the largest of d |standard normals|: Phi^-1(1 - 0.05 / (2 d)).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from vibench.scoring.verdicts import MISSED, REACHED, UNRESOLVED, Z, combined_se, state, z_max

EPS = 2.0**-20
Z1 = 1.9599639845400545  # Phi^-1(0.975): z_d at d = 1
Z2 = 2.241402727604945  # Phi^-1(1 - 0.0125): d = 2
Z10 = 2.8070337683438042  # Phi^-1(1 - 0.0025): d = 10


def test_constants():
    assert Z == 2.0
    assert (REACHED, UNRESOLVED, MISSED) == ("reached", "unresolved", "missed")
    assert z_max(1) == pytest.approx(Z1, rel=1e-12)
    assert z_max(2) == pytest.approx(Z2, rel=1e-12)
    assert z_max(10) == pytest.approx(Z10, rel=1e-12)


# --- combined_se -----------------------------------------------------------------------------------

def test_combined_se_one_seed_is_its_own_se():
    assert combined_se(np.array([0.3]), np.array([0.05])) == pytest.approx(0.05, rel=1e-12)
    assert combined_se(np.array([0.3]), np.array([0.0])) == 0.0


def test_combined_se_one_seed_has_no_spread_term_and_warns_nothing():
    """A single seed has no spread over seeds: no sample sd of one value is computed (nor warned about)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert combined_se(np.array([0.3]), np.array([0.05])) == pytest.approx(0.05, rel=1e-12)
        assert combined_se(np.array([0.3]), np.array([0.0])) == 0.0


def test_combined_se_no_seeds_is_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert math.isnan(combined_se(np.array([]), np.array([])))


def test_combined_se_two_seeds_spread_wins():
    # sd([0.25, 0.75]) = sqrt(2 * 0.25^2 / 1) = 0.25 sqrt(2); / sqrt(2) = 0.25.
    # own: sqrt(0.0625^2 / 2) = 0.0442 < 0.25.
    assert combined_se(np.array([0.25, 0.75]), np.array([0.0625, 0.0625])) == pytest.approx(0.25, rel=1e-12)


def test_combined_se_two_seeds_own_wins():
    # equal values: no spread; own = sqrt((0.1^2 + 0.3^2) / 2 / 2) = sqrt(0.025).
    assert combined_se(np.array([0.5, 0.5]), np.array([0.1, 0.3])) == pytest.approx(math.sqrt(0.025), rel=1e-12)


def test_combined_se_three_seeds_sample_sd():
    # values [0, 0, 0.3]: mean 0.1, squared deviations 0.01 + 0.01 + 0.04 = 0.06, sample var 0.06 / 2 = 0.03;
    # sd / sqrt(3) = sqrt(0.03 / 3) = 0.1. own = 0.01 / sqrt(3) = 0.00577.
    assert combined_se(np.array([0.0, 0.0, 0.3]), np.array([0.01] * 3)) == pytest.approx(0.1, rel=1e-12)
    # values [0.1, 0.2, 0.3]: sample sd 0.1, spread 0.1 / sqrt(3) = 0.0577; own 0.2 / sqrt(3) = 0.1155 wins.
    assert combined_se(np.array([0.1, 0.2, 0.3]), np.array([0.2] * 3)) == pytest.approx(0.2 / math.sqrt(3), rel=1e-12)
    assert combined_se(np.array([0.1, 0.2, 0.3]), np.array([0.01] * 3)) == pytest.approx(0.1 / math.sqrt(3), rel=1e-12)


def test_combined_se_nan_se_counts_as_zero():
    """A seed without an SE (NaN, or None in a list) adds 0 to mean(se_i^2) and still counts in k
    (the code's convention: docs/answer.md does not say)."""
    # own = sqrt((0.1^2 + 0) / 2 / 2) = 0.05; equal values, no spread.
    assert combined_se(np.array([0.2, 0.2]), np.array([0.1, np.nan])) == pytest.approx(0.05, rel=1e-12)
    assert combined_se([0.2, 0.2], [0.1, None]) == pytest.approx(0.05, rel=1e-12)
    assert combined_se([0.2], [None]) == 0.0


# --- state: dist -------------------------------------------------------------------------------------
# t = 0.1875; floor 0.0625 and u = 0.03125 put floor + 2 Z u = 0.0625 + 0.125 exactly at t.

T = 0.1875


def test_dist_resolvable_boundary():
    at = dict(unit_se=0.03125, floor=0.0625)
    # resolvable (floor + 2 Z u == t): the cell reaches at value + Z se == 0.125 + 0.0625 == t
    assert state("dist", T, 0.125, 0.03125, **at) == REACHED
    assert state("dist", T, 0.125, 0.03125, unit_se=0.03125 - EPS, floor=0.0625) == REACHED
    # just not resolvable: unresolved (0.125 - 0.0625 - 0.09375 is far below t)
    assert state("dist", T, 0.125, 0.03125, unit_se=0.03125 + EPS, floor=0.0625) == UNRESOLVED
    assert state("dist", T, 0.125, 0.03125, unit_se=0.03125, floor=0.0625 + EPS) == UNRESOLVED


def test_dist_reaching_boundary():
    # resolvable (floor 0.0625 + 0 <= t); value + Z se at, below and above t
    assert state("dist", T, 0.125, 0.03125, floor=0.0625) == REACHED
    assert state("dist", T, 0.125 - EPS, 0.03125, floor=0.0625) == REACHED
    assert state("dist", T, 0.125 + EPS, 0.03125, floor=0.0625) == MISSED
    assert state("dist", T, 0.125, 0.03125 + EPS, floor=0.0625) == MISSED
    # resolvable cells never come out unresolved, however far beyond
    assert state("dist", T, 5.0, 1.0, unit_se=0.03125, floor=0.0625) == MISSED


def test_dist_is_compared_raw_not_less_its_floor():
    # value just above t with zero SE: missed, although value - floor would be well within t
    assert state("dist", T, T + EPS, 0.0, floor=0.0625) == MISSED
    assert state("dist", T, T, 0.0, floor=0.0625) == REACHED


def test_dist_clearly_beyond_boundary():
    # not resolvable: 0.0625 + 4 * 0.0625 = 0.3125 > t. Clearly beyond when value - Z se - 1.5 floor > t:
    # 0.34375 - 0.0625 - 0.09375 == 0.1875 == t exactly: not beyond.
    kw = dict(unit_se=0.0625, floor=0.0625)
    assert state("dist", T, 0.34375, 0.03125, **kw) == UNRESOLVED
    assert state("dist", T, 0.34375 - EPS, 0.03125, **kw) == UNRESOLVED
    assert state("dist", T, 0.34375 + EPS, 0.03125, **kw) == MISSED
    assert state("dist", T, 0.34375, 0.03125 - EPS, **kw) == MISSED
    assert state("dist", T, 0.34375, 0.03125 + EPS, **kw) == UNRESOLVED
    # above t but not by Z se + 1.5 floor: unresolved
    assert state("dist", T, 0.25, 0.03125, **kw) == UNRESOLVED


def test_dist_clearly_beyond_uses_one_and_a_half_floors():
    # se 0, floor 0.125, u 0.125 (0.125 + 0.5 > t): beyond iff value - 0.1875 > 0.1875
    kw = dict(unit_se=0.125, floor=0.125)
    assert state("dist", T, 0.375, 0.0, **kw) == UNRESOLVED
    assert state("dist", T, 0.375 + EPS, 0.0, **kw) == MISSED
    # unresolvable by the yardstick's SE alone (floor 0): beyond iff value - Z se > t
    assert state("dist", T, 0.25, 0.03125, unit_se=0.0625) == UNRESOLVED
    assert state("dist", T, 0.25 + EPS, 0.03125, unit_se=0.0625) == MISSED


def test_dist_defaults_floor_zero():
    # no floor given: 0; no unit_se: 0 -> resolvable
    assert state("dist", 0.125, 0.0625, 0.03125) == REACHED
    assert state("dist", 0.125, 0.0625 + EPS, 0.03125) == MISSED
    # dim plays no part in dist
    assert state("dist", 0.125, 0.0625, 0.03125, dim=1000) == REACHED


# --- state: moments ------------------------------------------------------------------------------------

def test_moments_resolvable_boundary_d1():
    s = 0.025
    t = (Z1 + 2.0) * s  # (z_1 + Z) s == t: resolvable
    assert state("moments", t, t, 0.0, unit_se=s, dim=1) == REACHED
    assert state("moments", t, t, 0.0, unit_se=s * (1 - 1e-9), dim=1) == REACHED
    # just not resolvable; t - 0 - z_1 s' < t: not beyond
    assert state("moments", t, t, 0.0, unit_se=s * (1 + 1e-9), dim=1) == UNRESOLVED


def test_moments_resolvable_boundary_d10():
    s = 0.025
    t = (Z10 + 2.0) * s
    assert state("moments", t, 0.5 * t, 0.0, unit_se=s * (1 - 1e-9), dim=10) == REACHED
    assert state("moments", t, 0.5 * t, 0.0, unit_se=s * (1 + 1e-9), dim=10) == UNRESOLVED
    # the same s at d = 1 is comfortably resolvable
    assert state("moments", t, 0.5 * t, 0.0, unit_se=s, dim=1) == REACHED


def test_moments_default_dim_is_one():
    # u = 0.025, t = 0.1: (z_1 + 2) u = 0.099 <= 0.1 (resolvable) but (z_2 + 2) u = 0.106 > 0.1
    assert state("moments", 0.1, 0.05, 0.0, unit_se=0.025) == REACHED
    assert state("moments", 0.1, 0.05, 0.0, unit_se=0.025, dim=1) == REACHED
    assert state("moments", 0.1, 0.05, 0.0, unit_se=0.025, dim=2) == UNRESOLVED


def test_moments_reaching_boundary():
    # u = 0: always resolvable; value + Z se == 0.0625 + 0.0625 == 0.125 == t
    assert state("moments", 0.125, 0.0625, 0.03125) == REACHED
    assert state("moments", 0.125, 0.0625, 0.03125 + EPS) == MISSED
    assert state("moments", 0.125, 0.0625 + EPS, 0.03125) == MISSED
    assert state("moments", 0.125, 0.125 + EPS, 0.0) == MISSED
    # floor plays no part in moments
    assert state("moments", 0.125, 0.0625, 0.03125, floor=10.0) == REACHED


def test_moments_clearly_beyond_boundary():
    """Not resolvable ((z_1 + 2) 0.1 = 0.396 > t = 0.304); clearly beyond when value - Z se - z_1 u > t
    (the module docstring; docs/answer.md states clearly-beyond for dist only)."""
    s = 0.1
    t = 0.5 - Z1 * s  # value 0.5, se 0: exactly at the bound
    assert (Z1 + 2.0) * s > t
    assert state("moments", t, 0.5, 0.0, unit_se=s) == UNRESOLVED
    assert state("moments", t, 0.5 - 1e-9, 0.0, unit_se=s) == UNRESOLVED
    assert state("moments", t, 0.5 + 1e-9, 0.0, unit_se=s) == MISSED
    # with an SE: 0.625 - 2 * 0.0625 == 0.5, the same bound
    assert state("moments", t, 0.625, 0.0625, unit_se=s) == UNRESOLVED
    assert state("moments", t, 0.625 + 1e-9, 0.0625, unit_se=s) == MISSED
    assert state("moments", t, 0.625, 0.0625 - 1e-9, unit_se=s) == MISSED
    # above t, not by Z se + z_1 u: unresolved
    assert state("moments", t, t + 0.1, 0.0, unit_se=s) == UNRESOLVED


def test_moments_clearly_beyond_uses_z_d():
    s = 0.1
    t = 0.5 - Z10 * s  # at d = 10: (z_10 + 2) 0.1 = 0.48 > t = 0.219
    assert state("moments", t, 0.5 - 1e-9, 0.0, unit_se=s, dim=10) == UNRESOLVED
    assert state("moments", t, 0.5 + 1e-9, 0.0, unit_se=s, dim=10) == MISSED


# --- state: kl ---------------------------------------------------------------------------------------

def test_kl_resolvable_boundary():
    # 2 Z u == 4 * 0.03125 == 0.125 == t: resolvable; value + Z se == 0.0625 + 0.0625 == t
    assert state("kl", 0.125, 0.0625, 0.03125, unit_se=0.03125) == REACHED
    assert state("kl", 0.125, 0.0625, 0.03125, unit_se=0.03125 - EPS) == REACHED
    assert state("kl", 0.125, 0.0625, 0.03125, unit_se=0.03125 + EPS) == UNRESOLVED
    # just resolvable, value + Z se above t: missed
    assert state("kl", 0.125, 0.0625, 0.03125 + EPS, unit_se=0.03125) == MISSED


def test_kl_reaching_boundary():
    assert state("kl", 0.125, 0.0625, 0.03125) == REACHED
    assert state("kl", 0.125, 0.0625 - EPS, 0.03125) == REACHED
    assert state("kl", 0.125, 0.0625 + EPS, 0.03125) == MISSED
    assert state("kl", 0.125, 0.125 + EPS, 0.0) == MISSED
    assert state("kl", 0.125, 0.125, 0.0) == REACHED
    # floor and dim play no part in kl
    assert state("kl", 0.125, 0.0625, 0.03125, floor=10.0, dim=1000) == REACHED


def test_kl_unresolvable_above_threshold_within_its_se_is_unresolved():
    # not resolvable (4 * 0.0625 > 0.125); value above t, but value - Z se == t: unresolved
    assert state("kl", 0.125, 0.25, 0.0625, unit_se=0.0625) == UNRESOLVED
    assert state("kl", 0.125, 0.25 - EPS, 0.0625, unit_se=0.0625) == UNRESOLVED
    assert state("kl", 0.125, 0.125, 0.0, unit_se=0.0625) == UNRESOLVED
    assert state("kl", 0.125, 0.0, 0.0, unit_se=0.0625) == UNRESOLVED


def test_kl_unresolvable_but_clearly_beyond_misses():
    # docs/answer.md: an unresolvable cell with kl - Z se > t misses the level (0.25 + EPS - 0.125 > 0.125)
    assert state("kl", 0.125, 0.25 + EPS, 0.0625, unit_se=0.0625) == MISSED
    assert state("kl", 0.125, 10.0, 0.0, unit_se=0.0625) == MISSED


# --- state: missing inputs ------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["dist", "moments", "kl"])
@pytest.mark.parametrize("value", [None, math.nan, math.inf])
def test_no_value_misses(metric, value):
    assert state(metric, 0.125, value, 0.0) == MISSED
    assert state(metric, 0.125, value, 0.0, unit_se=1.0, floor=1.0) == MISSED


@pytest.mark.parametrize("metric", ["dist", "moments", "kl"])
@pytest.mark.parametrize("missing", [None, math.nan])
def test_missing_se_counts_as_zero(metric, missing):
    """A missing SE, unit SE or floor is taken as 0 (the code's convention; docs/answer.md does not say)."""
    assert state(metric, 0.125, 0.0625, missing) == REACHED
    assert state(metric, 0.125, 0.125, missing) == REACHED
    assert state(metric, 0.125, 0.125 + EPS, missing) == MISSED
    # a missing unit SE leaves the level resolvable
    assert state(metric, 0.125, 0.0625, 0.03125, unit_se=missing) == REACHED
    assert state(metric, 0.125, 0.125, 0.0, unit_se=missing) == REACHED


@pytest.mark.parametrize("missing", [None, math.nan])
def test_missing_floor_counts_as_zero(missing):
    assert state("dist", 0.125, 0.0625, 0.03125, floor=missing) == REACHED
    # floor 0 + 2 Z u == 0.125: resolvable only with the floor taken as 0
    assert state("dist", 0.125, 0.0625, 0.03125, unit_se=0.03125, floor=missing) == REACHED
    # not resolvable (0 + 4 * 0.0625 > t); clearly beyond iff value - 0 - 1.5 * 0 > t
    assert state("dist", 0.125, 0.125 + EPS, 0.0, unit_se=0.0625, floor=missing) == MISSED
    assert state("dist", 0.125, 0.125, 0.0, unit_se=0.0625, floor=missing) == UNRESOLVED


def test_unknown_metric_is_an_error():
    with pytest.raises(ValueError, match=r"^unknown metric 'wasserstein'$"):
        state("wasserstein", 0.1, 0.05, 0.01)
    with pytest.raises(ValueError, match=r"^unknown metric 'KL'$"):
        state("KL", 0.1, 0.05, 0.01)
