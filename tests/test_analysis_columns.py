"""The columns of the cells table of vibench/analysis.py whatever else the rows carry, and its quiet
handling of cells without a value: rows with extra columns, even ones named ``index`` and ``level_0`` (a
frame that was ``reset_index()``-ed twice), give the same cells with exactly the documented columns; a
cell none of whose seeds has a ``dist_floor`` (or a KL) gets NaN there without any warning."""

from __future__ import annotations

import math
import warnings

import pandas as pd

from test_analysis import _row
from test_analysis_cells import _rows
from vibench.analysis import cells

#: The columns ``cells`` documents, and no others.
CELL_COLUMNS = {
    "task", "size", "method", "budget", "dim", "family", "kind", "steps", "n_seeds", "n_runs", "reliable",
    "flags", "seed_time", "seed_evals", "cost_time", "cost_evals", "s_per_eval", "fit_s", "setup_s", "n_grad",
    "n_logp", "moments", "moments_se", "moments_unit_se", "dist", "dist_se", "dist_unit_se", "kl", "kl_se",
    "kl_unit_se", "mean_err", "mean_err_se", "sd_err", "sd_err_se", "kl_estimator", "dist_floor", "rhat_max",
    "ess_bulk_min", "ess_tail_min",
}  # fmt: skip

#: Columns compared cell by cell (the seed dicts may hold NaN, which is never equal to itself).
_COMPARED = ["task", "size", "method", "budget", "dim", "family", "kind", "steps", "n_seeds", "n_runs", "reliable",
             "flags", "cost_time", "cost_evals", "moments", "moments_se", "dist", "dist_se", "dist_floor"]


def _same(a: pd.Series, b: pd.Series) -> bool:
    return all(x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
               for x, y in zip(a, b, strict=True))


def test_the_columns_are_the_documented_ones():
    c = cells(pd.DataFrame(_rows()))
    assert set(c.columns) == CELL_COLUMNS and len(c.columns) == len(CELL_COLUMNS)
    assert list(c.index) == list(range(len(c)))


def test_extra_columns_named_index_and_level_0_are_ignored():
    plain = pd.DataFrame(_rows())
    reset_twice = plain.reset_index().reset_index()  # adds "index", then "level_0"
    assert {"index", "level_0"} <= set(reset_twice.columns)
    want, got = cells(plain), cells(reset_twice)
    assert set(got.columns) == CELL_COLUMNS
    assert len(got) == len(want) == 9
    for col in _COMPARED:
        assert _same(got[col], want[col]), col
    assert list(got["seed_time"]) == list(want["seed_time"])


def test_a_cell_without_floors_or_kl_is_nan_there_and_quiet():
    rows = [_row("nuts", "mcmc", 1.0, seed=s, floor=None) for s in range(2)]
    rows.append(_row("adam", "meanfield", 0.5, floor=None, kl=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value encountered" from a mean over no floors
        c = cells(pd.DataFrame(rows))
    assert list(c["method"]) == ["adam", "nuts"]
    assert c["dist_floor"].isna().all()
    nuts = c.iloc[1]
    assert math.isnan(nuts["kl"]) and math.isnan(nuts["kl_se"]) and math.isnan(nuts["kl_unit_se"])
    adam = c.iloc[0]
    assert adam["kl"] == 0.1 and adam["kl_se"] == 0.0
