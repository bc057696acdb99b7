"""Whole output rows of :func:`vibench.analysis.floors` and :func:`vibench.analysis.crossovers` on hand-made
tables whose answers follow from their documented rules.

floors: one row per (task, size, method) in the order the cells first appear, at the method's largest budget;
``prev_dist`` is ``dist`` at the budget before (NaN with one budget); ``plateau`` is ``|prev - dist| <= 2 SE``
with SE = hypot(prev dist_se, dist_se), ``None`` with one budget; every documented column is present, also
when the table is empty or the cells table lacks one; a given cells table is used as is.

crossovers: per (task, level, by), decided verdicts (optimization or sampling) ordered by dim; a row where the
winning kind differs from the previous decided size; KL levels and tie/unresolved/none verdicts are skipped.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from vibench.analysis import VERDICT_COLUMNS, cells, crossovers, floors
from vibench.scoring.levels import Level

from test_analysis import _row

FLOOR_COLUMNS = ["task", "size", "dim", "method", "family", "kind", "steps", "reliable", "flags", "moments",
                 "dist", "dist_floor", "kl", "prev_dist", "plateau"]
CROSS_COLUMNS = ["task", "level", "by", "size", "dim", "from_size", "from_kind", "to_kind"]


def _cell(size, dim, method, family, kind, steps, dist, dist_se, *, reliable=True, flags="", moments=0.01,
          floor=0.02, kl=float("nan"), task="toy"):
    return {"task": task, "size": size, "dim": float(dim), "method": method, "family": family, "kind": kind,
            "budget": str(steps), "steps": float(steps), "reliable": reliable, "flags": flags, "moments": moments,
            "dist": dist, "dist_se": dist_se, "dist_floor": floor, "kl": kl}


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(b, bool) or b is None:
        return a is b or (b is not None and type(a).__name__ == "bool_" and bool(a) is b)
    return a == b


def _assert_rows(frame, expected, columns):
    assert list(frame.columns) == columns
    got = frame.to_dict("records")
    assert len(got) == len(expected), got
    for g, e in zip(got, expected):
        assert list(e) == columns
        bad = {k: (g[k], e[k]) for k in columns if not _same(g[k], e[k])}
        assert not bad, (g, bad)


# Cells as cells() orders them (task, dim, size, method, steps): (toy, n=5, adv) has one budget, (toy, n=5, nuts)
# three, (toy, n=10, adv) two. "n=10" sorts before "n=5" as text, so a sorted grouping would reorder the rows.
CELLS = pd.DataFrame([
    _cell("n=5", 5, "adv", "meanfield", "optimization", 100, 0.5, 0.1, moments=0.04, floor=0.03, kl=0.2),
    _cell("n=5", 5, "nuts", "mcmc", "sampling", 100, 9.0, 0.1),
    # 200 -> 400: |2.25 - 1.0| = 1.25 > 2 * hypot(0.3, 0.4) = 1.0 (but < 3 SE = 1.5): not a plateau
    _cell("n=5", 5, "nuts", "mcmc", "sampling", 200, 2.25, 0.3),
    _cell("n=5", 5, "nuts", "mcmc", "sampling", 400, 1.0, 0.4, reliable=False, flags="rhat 1.2", moments=0.07,
          floor=0.05),
    # 100 -> 200: |2.0 - 0.75| = 1.25 = 2 * hypot(0.375, 0.5) = 2 * 0.625 exactly: on the 2-SE boundary, a plateau
    _cell("n=10", 10, "adv", "meanfield", "optimization", 100, 2.0, 0.375),
    _cell("n=10", 10, "adv", "meanfield", "optimization", 200, 0.75, 0.5, moments=0.02, floor=0.6, kl=0.3),
])
NAN = float("nan")
EXPECTED_FLOORS = [
    {"task": "toy", "size": "n=5", "dim": 5.0, "method": "adv", "family": "meanfield", "kind": "optimization",
     "steps": 100.0, "reliable": True, "flags": "", "moments": 0.04, "dist": 0.5, "dist_floor": 0.03, "kl": 0.2,
     "prev_dist": NAN, "plateau": None},
    {"task": "toy", "size": "n=5", "dim": 5.0, "method": "nuts", "family": "mcmc", "kind": "sampling",
     "steps": 400.0, "reliable": False, "flags": "rhat 1.2", "moments": 0.07, "dist": 1.0, "dist_floor": 0.05,
     "kl": NAN, "prev_dist": 2.25, "plateau": False},
    {"task": "toy", "size": "n=10", "dim": 10.0, "method": "adv", "family": "meanfield", "kind": "optimization",
     "steps": 200.0, "reliable": True, "flags": "", "moments": 0.02, "dist": 0.75, "dist_floor": 0.6, "kl": 0.3,
     "prev_dist": 2.0, "plateau": True},
]


def test_floors_whole_rows_last_budget_prev_dist_and_plateau_boundary():
    _assert_rows(floors(pd.DataFrame(), CELLS.copy()), EXPECTED_FLOORS, FLOOR_COLUMNS)


def test_floors_plateau_within_two_se_either_side():
    # dist went up by 0.375; within 2 SE only when both budgets' SEs count
    c = pd.DataFrame([_cell("n=5", 5, "m", "meanfield", "optimization", 10, 0.5, 0.125),
                      _cell("n=5", 5, "m", "meanfield", "optimization", 20, 0.875, 0.5)])
    # |0.5 - 0.875| = 0.375 <= 2 * hypot(0.125, 0.5) = 1.03; but 2 * 0.125 = 0.25 < 0.375 (p_se alone is not it)
    assert floors(pd.DataFrame(), c)["plateau"].tolist() == [True]
    c = pd.DataFrame([_cell("n=5", 5, "m", "meanfield", "optimization", 10, 0.5, 0.5),
                      _cell("n=5", 5, "m", "meanfield", "optimization", 20, 0.875, 0.125)])
    assert floors(pd.DataFrame(), c)["plateau"].tolist() == [True]  # d_se alone: 0.25 < 0.375
    c = pd.DataFrame([_cell("n=5", 5, "m", "meanfield", "optimization", 10, 4.0, 1.0),
                      _cell("n=5", 5, "m", "meanfield", "optimization", 20, 0.5, 1.0)])
    # |4 - 0.5| = 3.5 > 2 * hypot(1, 1) = 2.83 (and 2 / 1.41 = 1.41): no plateau
    assert floors(pd.DataFrame(), c)["plateau"].tolist() == [False]


def test_floors_missing_previous_dist_is_no_plateau_verdict():
    # the budget before has no dist (NaN): prev_dist NaN and plateau None, not False
    c = pd.DataFrame([_cell("n=5", 5, "m", "meanfield", "optimization", 10, NAN, NAN),
                      _cell("n=5", 5, "m", "meanfield", "optimization", 20, 0.5, 0.1)])
    out = floors(pd.DataFrame(), c)
    assert math.isnan(out["prev_dist"].iloc[0]) and out["plateau"].iloc[0] is None


def test_floors_use_the_given_cells_not_the_rows():
    df = pd.DataFrame([_row("lap", "laplace", 0.01, dim=3)])
    out = floors(df, CELLS.copy())
    assert out["method"].tolist() == ["adv", "nuts", "adv"] and out["size"].tolist() == ["n=5", "n=5", "n=10"]
    assert floors(df, cells(df))["size"].tolist() == ["dim=3"]


def test_floors_columns_when_empty_or_a_column_is_missing():
    empty = floors(pd.DataFrame())
    assert list(empty.columns) == FLOOR_COLUMNS and empty.empty
    out = floors(pd.DataFrame(), CELLS.drop(columns=["kl", "flags"]))
    assert list(out.columns) == FLOOR_COLUMNS
    assert out["kl"].isna().all() and out["flags"].isna().all()
    assert out["prev_dist"].iloc[2] == 2.0 and out["plateau"].iloc[2] is True


def test_floors_from_rows_through_cells():
    rows = [_row("lap", "laplace", 0.01, steps=100, dist=0.05, dist_se=0.01),
            _row("lap", "laplace", 0.02, steps=200, dist=0.03, dist_se=0.01, floor=0.025)]
    (r,) = floors(pd.DataFrame(rows)).to_dict("records")
    assert (r["task"], r["size"], r["dim"], r["method"], r["kind"], r["steps"]) == (
        "toy", "dim=10", 10.0, "lap", "optimization", 200)
    assert r["dist"] == pytest.approx(0.03) and r["dist_floor"] == pytest.approx(0.025)
    assert r["prev_dist"] == pytest.approx(0.05)
    assert r["plateau"] is True  # 0.02 <= 2 * hypot(0.01, 0.01) = 0.028


MOM, DIST, KL = Level("moments", 0.1), Level("dist", 0.1), Level("kl", 0.5)


def _v(task, size, dim, level, by, verdict):
    row = dict.fromkeys(VERDICT_COLUMNS)
    row.update(task=task, size=size, dim=float(dim), level=level.label, metric=level.metric,
               threshold=level.threshold, by=by, verdict=verdict)
    return row


VERDICTS = pd.DataFrame([
    _v("toy", "d=40", 40, MOM, "time", "optimization"),
    _v("toy", "d=10", 10, MOM, "time", "sampling"),
    _v("toy", "d=2", 2, MOM, "time", "optimization"),
    _v("toy", "d=5", 5, MOM, "time", "tie"),  # undecided: skipped, d=10 changes from d=2
    _v("toy", "d=20", 20, MOM, "time", "sampling"),
    _v("toy", "d=2", 2, MOM, "evals", "sampling"),
    _v("toy", "d=5", 5, MOM, "evals", "none"),
    _v("toy", "d=7", 7, MOM, "evals", "unresolved"),
    _v("toy", "d=10", 10, MOM, "evals", "optimization"),
    _v("toy", "d=2", 2, KL, "time", "optimization"),  # KL levels: never a crossover
    _v("toy", "d=10", 10, KL, "time", "sampling"),
    _v("big", "n=3", 3, DIST, "time", "sampling"),
    _v("big", "n=1", 1, DIST, "time", "optimization"),
    _v("big", "n=9", 9, DIST, "time", "unresolved"),
], columns=VERDICT_COLUMNS)


def test_crossovers_whole_rows_in_order():
    expected = [
        {"task": "big", "level": "dist<=0.1", "by": "time", "size": "n=3", "dim": 3.0, "from_size": "n=1",
         "from_kind": "optimization", "to_kind": "sampling"},
        {"task": "toy", "level": "moments<=0.1", "by": "evals", "size": "d=10", "dim": 10.0, "from_size": "d=2",
         "from_kind": "sampling", "to_kind": "optimization"},
        {"task": "toy", "level": "moments<=0.1", "by": "time", "size": "d=10", "dim": 10.0, "from_size": "d=2",
         "from_kind": "optimization", "to_kind": "sampling"},
        {"task": "toy", "level": "moments<=0.1", "by": "time", "size": "d=40", "dim": 40.0, "from_size": "d=20",
         "from_kind": "sampling", "to_kind": "optimization"},
    ]
    _assert_rows(crossovers(VERDICTS.copy()), expected, CROSS_COLUMNS)


def test_crossovers_kl_and_undecided_only_give_none():
    only = VERDICTS[(VERDICTS["metric"] == "kl") | ~VERDICTS["verdict"].isin(["optimization", "sampling"])]
    out = crossovers(only.copy())
    assert list(out.columns) == CROSS_COLUMNS and out.empty


def test_crossovers_columns_when_empty():
    for v in (pd.DataFrame(columns=VERDICT_COLUMNS), VERDICTS[VERDICTS["task"] == "big"].iloc[:1]):
        out = crossovers(v)
        assert list(out.columns) == CROSS_COLUMNS and out.empty
