"""The cells table of vibench/analysis.py on small hand-made rows, every value worked out by hand from the
documented rules: seed means and their combined SEs (vibench/scoring/verdicts.py ``combined_se``), unit SEs as
root mean squares, ``dist_floor`` skipping NaN, median costs, ``cost_evals`` NaN without evaluations, ``fit_s``
falling back to ``wall_s``, ``moments`` = max(mean_err, sd_err) with the SE of the larger, failed-seed flags,
merged gate flags, reliability, R-hat/ESS extremes, sizes from ``params``, budget labels and row order; plus
``budget_label``, ``merge_flags`` and ``cell_states`` directly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from test_analysis import _row
from vibench.analysis import budget_label, cell_states, cells, merge_flags
from vibench.scoring.levels import Level
from vibench.scoring.verdicts import MISSED, REACHED, UNRESOLVED, z_max

NAN = float("nan")
LONG_ERROR = "boom " + "x" * 95  # 100 characters: the flag shows the first 80


def _rows():
    nuts0 = _row("nuts", "mcmc", 1.0, seed=0, evals=100, mean_err=0.04, sd_err=0.02, dist=0.1, dist_se=0.01,
                 floor=0.02, reliable=False, flags=["ess_bulk 67<400"])
    nuts0.update(size="medium", budget={"steps": 1000, "max_seconds": 5}, n_logp=20, mean_err_se=0.01,
                 sd_err_se=0.03, moment_se_max=0.02, rhat_max=1.01, ess_bulk_min=500, ess_tail_min=400,
                 s_per_eval="n/a", error="warning: slow")  # an ok seed's message is no failure
    nuts1 = _row("nuts", "mcmc", 3.0, seed=1, evals=100, mean_err=0.02, sd_err=0.05, dist=0.2, dist_se=0.03,
                 floor=None, reliable=True, flags=["ess_bulk 71<400"])
    nuts1.update(size="medium", budget={"steps": 1000, "max_seconds": 5}, fit_s=None, wall_s=3.0, n_grad=None,
                 n_logp=50, mean_err_se=0.04, sd_err_se=0.02, moment_se_max=None, rhat_max=1.05,
                 ess_bulk_min=300, ess_tail_min=450, s_per_eval=0.06)
    nuts2 = _row("nuts", "mcmc", 1.0, seed=2, status="error")
    nuts2.update(size="medium", budget={"steps": 1000, "max_seconds": 5}, error=NAN)
    nuts3 = _row("nuts", "mcmc", 1.0, seed=3, status="error")
    nuts3.update(size="medium", budget={"steps": 1000, "max_seconds": 5}, error=LONG_ERROR)
    nuts4 = _row("nuts", "mcmc", 1.0, seed=4, status="unsupported")  # not a run
    nuts4.update(size="medium", budget={"steps": 1000, "max_seconds": 5})

    lap0 = _row("lap", "laplace", 0.5, seed=0, evals=0, mean_err=0.03, sd_err=None, se=0.0, dist=0.05)
    lap0.update(size="medium", n_logp=None)
    lap1 = _row("lap", "laplace", 0.7, seed=1, evals=0, mean_err=0.01, sd_err=0.01, dist=0.07)
    lap1.update(size="medium", n_logp=1, mean_err_se=0.004, sd_err_se=0.009)

    cavi0 = _row("cavi", "cavi", 0.2, seed=0, evals=0, reliable=NAN)
    cavi0.update(size="medium", n_logp=None, flags=None)
    cavi1 = _row("cavi", "cavi", 0.2, seed=1, status="error")
    cavi1.update(size="medium")

    fail = _row("fail", "meanfield", 1.0, seed=0, status="error")
    fail.update(size="medium", error="x")

    adam = []
    for b in ("1000", 50, "200"):  # budgets as plain step counts
        r = _row("adam", "meanfield", 0.1, seed=0)
        r.update(size="medium", budget=b)
        adam.append(r)
    small = _row("adam", "meanfield", 0.1, seed=0, dim=2)
    small.update(size="small")
    other = _row("adam", "meanfield", 0.1, seed=0, task="a")
    other.update(size="medium")
    return [nuts0, nuts1, nuts2, nuts3, nuts4, lap0, lap1, cavi0, cavi1, fail] + adam + [small, other]


@pytest.fixture(scope="module")
def table():
    return cells(pd.DataFrame(_rows()))


def _cell(c, method, budget=None):
    sel = c[(c["method"] == method) & (c["task"] == "toy") & (c["size"] == "medium")]
    if budget is not None:
        sel = sel[sel["budget"] == budget]
    (i,) = sel.index
    return c.loc[i]


def test_row_order_and_columns(table):
    got = list(zip(table["task"], table["size"], table["method"], table["budget"]))
    assert got == [("a", "medium", "adam", "100"),
                   ("toy", "small", "adam", "100"),  # dim 2 before dim 10, though "small" > "medium"
                   ("toy", "medium", "adam", "50"), ("toy", "medium", "adam", "200"),
                   ("toy", "medium", "adam", "1000"),
                   ("toy", "medium", "cavi", "100"), ("toy", "medium", "fail", "100"),
                   ("toy", "medium", "lap", "100"), ("toy", "medium", "nuts", "1000/5s")]
    assert list(table["steps"]) == [100, 100, 50, 200, 1000, 100, 100, 100, 1000]
    assert list(table.index) == list(range(9))
    assert list(table.columns[:8]) == ["task", "size", "method", "budget", "dim", "family", "kind", "steps"]
    assert "index" not in table.columns
    assert table["reliable"].dtype == bool
    assert table["n_seeds"].dtype.kind == "i" and table["n_runs"].dtype.kind == "i"


def test_a_cell_with_two_ok_and_two_failed_seeds(table):
    r = _cell(table, "nuts")
    assert (r["dim"], r["family"], r["kind"], r["steps"], r["budget"]) == (10.0, "mcmc", "sampling", 1000, "1000/5s")
    assert (r["n_seeds"], r["n_runs"]) == (2, 4)  # the unsupported seed is no run
    assert not r["reliable"]
    assert r["flags"] == "ess_bulk 67-71<400 (2 of 2 seeds); 2 of 4 seeds failed: " + LONG_ERROR[:80]
    # moments: seed 0 max(0.04, 0.02) = 0.04 with mean_err_se 0.01; seed 1 max(0.02, 0.05) = 0.05 with sd_err_se 0.02
    assert r["moments"] == pytest.approx(0.045)
    assert r["moments_se"] == pytest.approx(math.sqrt((0.01**2 + 0.02**2) / 2 / 2))  # > spread 0.005
    assert r["moments_unit_se"] == pytest.approx(math.sqrt((0.02**2 + 0.0) / 2))  # a missing unit counts as 0
    assert r["mean_err"] == pytest.approx(0.03)
    assert r["mean_err_se"] == pytest.approx(math.sqrt((0.01**2 + 0.04**2) / 4))
    assert r["sd_err"] == pytest.approx(0.035)
    assert r["sd_err_se"] == pytest.approx(math.sqrt((0.03**2 + 0.02**2) / 4))
    assert r["dist"] == pytest.approx(0.15)
    assert r["dist_se"] == pytest.approx(0.05)  # spread std(0.1, 0.2) / sqrt 2 beats the estimators' 0.0158
    assert r["dist_unit_se"] == pytest.approx(math.sqrt((0.01**2 + 0.03**2) / 2))
    assert r["dist_floor"] == pytest.approx(0.02)  # the missing floor is skipped
    assert math.isnan(r["kl"]) and math.isnan(r["kl_se"]) and math.isnan(r["kl_unit_se"])
    assert r["kl_estimator"] is None
    # costs: seed 1 has no fit_s, so its wall_s (3.0); evals 100 + 20 and 0 + 50
    assert r["cost_time"] == pytest.approx(2.0) and r["fit_s"] == pytest.approx(2.0)
    assert r["cost_evals"] == pytest.approx(85.0)
    assert r["n_grad"] == pytest.approx(100.0) and r["n_logp"] == pytest.approx(35.0)
    assert r["s_per_eval"] == pytest.approx(0.06)  # "n/a" is no number
    assert r["setup_s"] == 0.0
    assert r["seed_time"] == {0: 1.0, 1: 3.0}
    assert r["seed_evals"] == {0: 120.0, 1: 50.0}
    assert (r["rhat_max"], r["ess_bulk_min"], r["ess_tail_min"]) == (1.05, 300.0, 400.0)


def test_moments_skip_a_seed_without_sd_err_and_a_tie_takes_the_mean_err_se(table):
    r = _cell(table, "lap")
    assert r["reliable"] and r["flags"] == "" and r["kind"] == "optimization"
    assert r["moments"] == pytest.approx(0.01)  # seed 0 has no sd_err: no moments
    assert r["moments_se"] == pytest.approx(0.004)  # mean_err == sd_err: mean_err_se
    assert r["mean_err"] == pytest.approx(0.02)
    assert r["sd_err"] == pytest.approx(0.01) and r["sd_err_se"] == pytest.approx(0.009)
    assert r["moments_unit_se"] == 0.0
    assert r["dist"] == pytest.approx(0.06)
    assert r["cost_evals"] == pytest.approx(1.0)  # seed 0 made no evaluations, seed 1 one
    assert r["seed_evals"] == {0: None, 1: 1.0} or (math.isnan(r["seed_evals"][0]) and r["seed_evals"][1] == 1.0)


def test_no_evaluations_unknown_reliability_and_a_failure_without_message(table):
    r = _cell(table, "cavi")
    assert math.isnan(r["cost_evals"])
    assert not r["reliable"]  # reliable unknown (NaN) is not reliable
    assert r["flags"] == "1 of 2 seeds failed"
    assert (r["n_seeds"], r["n_runs"]) == (1, 2)
    assert r["kind"] == "optimization"


def test_a_cell_whose_seeds_all_failed(table):
    r = _cell(table, "fail")
    assert (r["n_seeds"], r["n_runs"]) == (0, 1) and not r["reliable"]
    assert r["flags"] == "1 of 1 seeds failed: x"
    assert r["seed_time"] == {} and r["seed_evals"] == {}
    for col in ("moments", "moments_se", "moments_unit_se", "dist", "dist_floor", "cost_time", "cost_evals",
                "rhat_max", "ess_bulk_min"):
        assert math.isnan(r[col]), col


def test_ok_cells_agree_with_a_single_seed(table):
    r = _cell(table, "adam", "50")
    assert r["reliable"] and r["flags"] == "" and (r["n_seeds"], r["n_runs"]) == (1, 1)
    assert r["moments"] == pytest.approx(0.02) and r["moments_se"] == 0.0
    assert r["dist"] == pytest.approx(0.03) and r["dist_se"] == pytest.approx(0.002)
    assert r["dist_unit_se"] == pytest.approx(0.002) and r["dist_floor"] == pytest.approx(0.03)
    assert r["cost_time"] == pytest.approx(0.1) and r["cost_evals"] == pytest.approx(100.0)


def test_sizes_from_params_and_missing_columns():
    rows = []
    for s, fit in enumerate([1.0, 2.0, 4.0]):
        rows.append({"task": "t", "params": {"dim": 3, "a": 1}, "dim": 3, "method": "m", "budget": 10,
                     "seed": s, "status": "ok", "error": None, "wall_s": fit, "n_grad": 5, "mean_err": 0.1 * (s + 1),
                     "sd_err": 0.0, "moment_se_max": 0.1})
    c = cells(pd.DataFrame(rows))
    assert len(c) == 1
    r = c.iloc[0]
    assert r["size"] == "a=1,dim=3" and r["budget"] == "10" and r["steps"] == 10
    assert r["family"] is None and r["kind"] == "other"
    assert not r["reliable"] and r["flags"] == ""
    assert r["kl_estimator"] is None
    assert r["cost_time"] == pytest.approx(2.0)  # fit_s missing: wall_s
    assert r["cost_evals"] == pytest.approx(5.0)  # n_logp missing counts as 0
    assert r["moments"] == pytest.approx(0.2)
    assert r["moments_se"] == pytest.approx(0.1 / math.sqrt(3))  # only spread: sd 0.1 over sqrt 3
    assert r["moments_unit_se"] == pytest.approx(0.1)
    assert math.isnan(r["rhat_max"])


def test_nullable_numbers():
    rows = [_row("m", "mcmc", 1.0, seed=s, floor=f) for s, f in enumerate([0.02, None, 0.04])]
    df = pd.DataFrame(rows)
    df["dist_floor"] = df["dist_floor"].astype("Float64")
    (r,) = [r for _, r in cells(df).iterrows()]
    assert r["dist_floor"] == pytest.approx(0.03)


def test_nothing_to_aggregate():
    assert cells(pd.DataFrame([{"task": "t", "method": "m"}])).empty
    assert cells(pd.DataFrame()).empty


def test_budget_labels():
    assert budget_label({"steps": 1000, "max_seconds": 5}) == "1000/5s"
    assert budget_label({"steps": 1000, "max_seconds": None}) == "1000"
    assert budget_label({"steps": 1000}) == "1000"
    assert budget_label(200) == "200"


def test_merge_flags_keeps_the_rest_of_the_text():
    assert merge_flags([["divergences 5 in chain #2"]]) == ["divergences 5 in chain #2"]
    assert merge_flags([["not converged"], ["not converged"]]) == ["not converged (2 of 2 seeds)"]


def test_cell_states_use_the_cells_dim():
    u1 = 0.1 / (z_max(1) + 2.0)  # resolvable at dim 1 only just
    u10 = 0.1 / (z_max(10) + 2.0)
    c = pd.DataFrame({"moments": [0.01, 0.01, 0.01, 0.09], "moments_se": [0.0, 0.0, 0.0, 0.01],
                      "moments_unit_se": [u1 * 0.99, u10 * 0.99, u10 * 1.01, 0.0],
                      "dist_floor": [NAN] * 4, "dim": [NAN, 10.0, 1.0, 10.0]})
    got = list(cell_states(c, Level("moments", 0.1)))
    # NaN dim counts as 1; 0.09 + 2 * 0.01 > 0.1 misses
    assert got == [REACHED, REACHED, REACHED, MISSED]
    c["moments_unit_se"] = [u1 * 1.01, u10 * 1.01, u1 * 0.99, 0.0]
    c["dim"] = [NAN, 10.0, 10.0, 10.0]
    assert list(cell_states(c, Level("moments", 0.1))) == [UNRESOLVED, UNRESOLVED, UNRESOLVED, MISSED]


@pytest.mark.filterwarnings("error")  # fillna(False) on an all-NaN float column is deprecated: it will raise
@pytest.mark.parametrize("unknown", [np.nan, None, pd.NA])
def test_unknown_reliability_is_not_reliable(unknown):
    df = pd.DataFrame([_row("m", "mcmc", 1.0, seed=s) for s in range(2)])
    df["reliable"] = unknown  # every seed ran ok, none says it passed its gates
    (r,) = [r for _, r in cells(df).iterrows()]
    assert (r["n_seeds"], r["n_runs"]) == (2, 2) and not r["reliable"]


def test_one_unknown_reliability_makes_the_cell_unreliable():
    df = pd.DataFrame([_row("m", "mcmc", 1.0, seed=s) for s in range(3)])
    df["reliable"] = pd.array([True, True, pd.NA], dtype="boolean")
    (r,) = [r for _, r in cells(df).iterrows()]
    assert (r["n_seeds"], r["n_runs"]) == (3, 3) and not r["reliable"]
    df["reliable"] = pd.array([True, True, True], dtype="boolean")
    assert cells(df)["reliable"].tolist() == [True]


def test_failed_seeds_are_counted_without_an_error_column():
    rows = [{"task": "t", "size": "s", "dim": 2, "method": "m", "budget": 10, "seed": s,
             "status": "ok" if s else "timeout", "wall_s": 1.0, "mean_err": 0.1, "sd_err": 0.1} for s in range(3)]
    (r,) = [r for _, r in cells(pd.DataFrame(rows)).iterrows()]
    assert (r["n_seeds"], r["n_runs"]) == (2, 3) and not r["reliable"]
    assert r["flags"] == "1 of 3 seeds failed"
