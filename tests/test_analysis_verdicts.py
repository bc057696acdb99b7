"""Whole verdict rows of :func:`vibench.analysis.verdicts` on small hand-made tables, one per branch of the
verdict rule in vibench/analysis.py: a factor with its rival and seed range, ties at the edges of the range,
the ``only`` bound (never reached / no reliable cell), an unresolved rival cheaper or costlier than the winner
(``>=`` bound, also with a zero-cost winner), KL levels, methods without density evaluations, and a
caller-given ``cells`` table.

How the states follow from vibench/scoring/verdicts.py (Z = 2), for the rows ``_row`` makes:

* moments: ``mean_err = sd_err = 0.02`` with SE 0 -> resolvable, 0.02 <= 0.1: reached at ``moments<=0.1``.
* dist 0.03, dist_se 0.002, floor 0.03: resolvable (0.03 + 4 * 0.002 <= 0.1) and 0.03 + 2 * 0.002/sqrt(3)
  <= 0.1: reached at ``dist<=0.1``; dist 0.05 likewise reached; dist 0.5 resolvable but missed.
* dist 0.2, floor 0.15, dist_se 0.01: not resolvable (0.15 + 0.04 > 0.1) and not clearly beyond
  (0.2 - 2 * 0.01/sqrt(3) - 1.5 * 0.15 < 0.1): unresolved at ``dist<=0.1``.
"""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

import vibench.analysis as analysis
from test_analysis import _one, _seeds
from vibench.analysis import VERDICT_COLUMNS, cells, verdicts
from vibench.scoring.levels import Level

MOMENTS = Level("moments", 0.1)
DIST = Level("dist", 0.1)
KL = Level("kl", 0.1)
UNRESOLVED_DIST = dict(dist=0.2, floor=0.15, dist_se=0.01)


def _blank(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _check(r, **expected):
    """``r`` has exactly ``expected`` in these columns; rival/factor columns not named are blank."""
    for col in ("rival_method", "rival_steps", "rival_cost", "factor", "factor_lo", "factor_hi"):
        expected.setdefault(col, None)
    for col, want in expected.items():
        got = r[col]
        if want is None:
            assert _blank(got), (col, got)
        elif isinstance(want, float):
            assert got == pytest.approx(want), (col, got, want)
        else:
            assert got == want, (col, got, want)


def test_sampling_wins_with_its_optimization_rival_factor_and_range():
    # by time: nuts median 2 vs lap median 6 -> sampling, factor 3, per-seed ratios 4/1, 6/2, 12/3 = 4, 3, 4
    # by evals: lap 50 vs nuts 1000 -> optimization, factor 20 on every seed
    df = pd.DataFrame(_seeds("nuts", "mcmc", [1.0, 2.0, 3.0], steps=500, evals=1000, mean_err=0.01, sd_err=0.03)
                      + _seeds("lap", "laplace", [4.0, 6.0, 12.0], steps=100, evals=50))
    v = verdicts(df, [MOMENTS])
    assert list(v.columns) == VERDICT_COLUMNS and len(v) == 2
    _check(_one(v), task="toy", size="dim=10", dim=10, level="moments<=0.1", metric="moments", threshold=0.1,
           by="time", verdict="sampling", method="nuts", family="mcmc", steps=500, cost=2.0, value=0.03,
           rival_method="lap", rival_steps=100, rival_cost=6.0, factor=3.0, factor_lo=3.0, factor_hi=4.0,
           bound="", note="")
    _check(_one(v, by="evals"), by="evals", verdict="optimization", method="lap", family="laplace", steps=100,
           cost=50.0, value=0.02, rival_method="nuts", rival_steps=500, rival_cost=1000.0, factor=20.0,
           factor_lo=20.0, factor_hi=20.0, bound="", note="")


def test_a_range_touching_one_at_its_low_end_is_a_tie():
    # lap median 2, nuts median 3; ratios 1/1, 3/2, 4/3 -> [1, 1.5] contains 1: tie
    df = pd.DataFrame(_seeds("lap", "laplace", [1.0, 2.0, 3.0]) + _seeds("nuts", "mcmc", [1.0, 3.0, 4.0], steps=200))
    _check(_one(verdicts(df, [MOMENTS])), verdict="tie", method="lap", cost=2.0, rival_method="nuts",
           rival_steps=200, rival_cost=3.0, factor=1.5, factor_lo=1.0, factor_hi=1.5, bound="", note="")


def test_a_range_touching_one_at_its_high_end_is_a_tie():
    # equal medians 2: cheapest first, ties by method name -> lap; ratios 0.5, 1, 1 -> [0.5, 1]: tie
    df = pd.DataFrame(_seeds("lap", "laplace", [1.0, 2.0, 3.0]) + _seeds("nuts", "mcmc", [0.5, 2.0, 3.0]))
    _check(_one(verdicts(df, [MOMENTS])), verdict="tie", method="lap", cost=2.0, rival_method="nuts",
           rival_steps=100, rival_cost=2.0, factor=1.0, factor_lo=0.5, factor_hi=1.0, bound="", note="")


def test_a_rival_kind_that_ran_but_never_reached_gives_only():
    df = pd.DataFrame(_seeds("lap", "laplace", [1.0] * 3) + _seeds("nuts", "mcmc", [0.5] * 3, dist=0.5))
    _check(_one(verdicts(df, [DIST]), level=DIST), verdict="optimization", method="lap", cost=1.0, value=0.03,
           bound="only", note="sampling never reached it")


def test_a_rival_kind_without_a_reliable_cell_gives_only():
    df = pd.DataFrame(_seeds("nuts", "mcmc", [1.0] * 3)
                      + _seeds("lap", "laplace", [0.1] * 3, reliable=False, flags=["not converged"]))
    _check(_one(verdicts(df, [MOMENTS])), verdict="sampling", method="nuts", family="mcmc", cost=1.0,
           bound="only", note="no reliable optimization cell")


def test_a_cheaper_unresolved_rival_makes_the_whole_row_unresolved():
    df = pd.DataFrame(_seeds("mf", "meanfield", [1.0] * 3, dist=0.05)
                      + _seeds("nuts", "mcmc", [0.1] * 3, steps=300, **UNRESOLVED_DIST))
    _check(_one(verdicts(df, [DIST]), level=DIST), verdict="unresolved", method="mf", family="meanfield",
           steps=100, cost=1.0, value=0.05, rival_method="nuts", rival_steps=300, rival_cost=0.1, bound="",
           note="sampling unresolved at no higher cost")


def test_a_costlier_unresolved_rival_gives_a_lower_bound_and_an_equal_one_leaves_it_unresolved():
    # by time: unresolved nuts costs 10 vs mf 2 -> optimization by >= 5
    # by evals: both 100; a rival as cheap may reach the level too, so ">= 1" would decide nothing
    df = pd.DataFrame(_seeds("mf", "meanfield", [2.0] * 3, dist=0.05)
                      + _seeds("nuts", "mcmc", [10.0] * 3, steps=300, **UNRESOLVED_DIST))
    v = verdicts(df, [DIST])
    _check(_one(v, level=DIST), verdict="optimization", method="mf", cost=2.0, value=0.05, rival_method="nuts",
           rival_steps=300, rival_cost=10.0, factor=5.0, bound=">=", note="sampling unresolved, at higher cost")
    _check(_one(v, level=DIST, by="evals"), verdict="unresolved", method="mf", cost=100.0, rival_method="nuts",
           rival_steps=300, rival_cost=100.0, bound="", note="sampling unresolved at no higher cost")


def test_a_free_winner_over_an_unresolved_rival_is_an_infinite_bound_without_warnings():
    df = pd.DataFrame(_seeds("mf", "meanfield", [0.0] * 3, dist=0.05)
                      + _seeds("nuts", "mcmc", [1.0] * 3, **UNRESOLVED_DIST))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = _one(verdicts(df, [DIST]), level=DIST)
    _check(r, verdict="optimization", method="mf", cost=0.0, rival_method="nuts", rival_cost=1.0,
           rival_steps=100, factor=math.inf, bound=">=", note="sampling unresolved, at higher cost")


def test_kl_levels_name_only_methods_with_a_density():
    # nuts reaches moments but has no KL: the KL verdict is optimization, never a win over sampling
    df = pd.DataFrame(_seeds("lap", "laplace", [5.0] * 3, kl=0.01) + _seeds("nuts", "mcmc", [1.0] * 3))
    v = verdicts(df, [KL, MOMENTS])
    _check(_one(v, level=KL), level="KL<=0.1", metric="kl", verdict="optimization", method="lap", cost=5.0,
           value=0.01, bound="only", note="methods with a density only")
    _check(_one(v), verdict="sampling", method="nuts", rival_method="lap", rival_steps=100, rival_cost=5.0, factor=5.0, factor_lo=5.0,
           factor_hi=5.0, bound="", note="")


def test_kl_levels_without_any_kl_are_na_with_the_reason():
    r = _one(verdicts(pd.DataFrame(_seeds("lap", "laplace", [0.01] * 3)), [KL]), level=KL)
    _check(r, verdict="n/a", method=None, cost=None, bound="",
           note="no KL: no method has a density, or the truth has no normalized one")


def test_no_density_evaluations_at_all_is_noted_by_evals_only():
    v = verdicts(pd.DataFrame(_seeds("cavi", "cavi", [0.5] * 3, evals=0)), [MOMENTS])
    _check(_one(v), verdict="optimization", method="cavi", cost=0.5, bound="only", note="no reliable sampling cell")
    _check(_one(v, by="evals"), verdict="none", method=None, cost=None, bound="",
           note="n/a: no method made density evaluations")


def test_nothing_reached_with_evaluations_has_no_note():
    v = verdicts(pd.DataFrame(_seeds("mf", "meanfield", [1.0] * 3, dist=0.5)), [DIST])
    for by in ("time", "evals"):
        _check(_one(v, level=DIST, by=by), verdict="none", method=None, bound="", note="")


def test_a_given_cells_table_is_used_as_is(monkeypatch):
    df = pd.DataFrame(_seeds("lap", "laplace", [0.01] * 3, evals=50) + _seeds("nuts", "mcmc", [1.0] * 3))
    c = cells(df)
    expected = verdicts(df, [MOMENTS])

    def _no(_df):
        raise AssertionError("cells() recomputed although c was given")

    monkeypatch.setattr(analysis, "cells", _no)
    pd.testing.assert_frame_equal(verdicts(df, [MOMENTS], c=c), expected)
