"""The shape of :func:`vibench.analysis.verdicts` when no verdict row is made, on hand-made rows.

``verdicts`` documents its columns as :data:`vibench.analysis.VERDICT_COLUMNS`; that holds also when the
levels given are an iterable that yields nothing (a filter such as "the KL levels" on a suite without
any), so that :func:`vibench.analysis.crossovers` of it is an empty table, not a ``KeyError``. (An empty
list or tuple of levels means the default levels; a generator is truthy, so it is taken as given.)
"""

from __future__ import annotations

import pandas as pd

from test_analysis import _seeds
from test_analysis_floors import CROSS_COLUMNS
from vibench.analysis import VERDICT_COLUMNS, cells, crossovers, verdicts
from vibench.scoring.levels import Level


def _df():
    return pd.DataFrame(_seeds("lap", "laplace", [1.0] * 3) + _seeds("nuts", "mcmc", [2.0] * 3))


def test_levels_that_yield_nothing_give_an_empty_table_with_the_verdict_columns():
    df = _df()
    v = verdicts(df, (level for level in [Level("moments", 0.1)] if level.metric == "kl"))
    assert v.empty and list(v.columns) == VERDICT_COLUMNS
    cross = crossovers(v)
    assert cross.empty and list(cross.columns) == CROSS_COLUMNS


def test_levels_that_yield_nothing_with_a_given_cells_table():
    df = _df()
    v = verdicts(df, iter(()), c=cells(df))
    assert v.empty and list(v.columns) == VERDICT_COLUMNS


def test_an_empty_list_of_levels_means_the_defaults():
    # the contrast to the two tests above: [] is falsy, so the default levels are used
    v = verdicts(_df(), [])
    assert list(v.columns) == VERDICT_COLUMNS
    assert set(v["level"]) == {"moments<=0.1", "dist<=0.1", "dist<=0.2", "KL<=0.1", "KL<=1"}
