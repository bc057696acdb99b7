"""The verdicts on hand-made tables whose answer is known: reaching, resolution, gates, ties, bounds,
crossovers, floors; and the rules of vibench/scoring/verdicts.py one by one."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from vibench.analysis import cells, crossovers, floors, kind_of, verdicts
from vibench.answer import answer_text
from vibench.scoring.levels import Level, parse_levels
from vibench.scoring.verdicts import MISSED, REACHED, UNRESOLVED, combined_se, state, z_max

MOMENTS = Level("moments", 0.1)
DIST = Level("dist", 0.1)


def _row(method, family, fit_s, *, dim=10, steps=100, seed=0, evals=100, mean_err=0.02, sd_err=0.02, se=0.0,
         dist=0.03, dist_se=0.002, floor=0.03, reliable=True, flags=(), status="ok", kl=None, task="toy"):
    return {"task": task, "params": {"dim": dim}, "size": f"dim={dim}", "dim": dim, "method": method,
            "family": family, "budget": {"steps": steps}, "seed": seed, "status": status, "error": None,
            "wall_s": fit_s + 0.5, "fit_s": fit_s, "setup_s": 0.0, "n_logp": 0, "n_grad": evals,
            "s_per_eval": fit_s / evals if evals else None, "mean_err": mean_err, "mean_err_se": se,
            "sd_err": sd_err, "sd_err_se": se, "moment_se_max": se, "dist": dist, "dist_se": dist_se,
            "dist_floor": floor, "dist_n": 2000, "kl": kl, "kl_se": 0.0 if kl is not None else None,
            "kl_estimator": "closed-form" if kl is not None else None, "reliable": reliable, "flags": list(flags)}


def _seeds(method, family, fits, **kw):
    return [_row(method, family, f, seed=s, **kw) for s, f in enumerate(fits)]


def _one(v, level=MOMENTS, by="time", dim=10):
    (r,) = [r for _, r in v.iterrows() if r["level"] == level.label and r["by"] == by and r["dim"] == dim]
    return r


def test_kinds():
    assert [kind_of(f) for f in ("meanfield", "fullrank", "laplace", "cavi", "mcmc", "smc")] == [
        "optimization"] * 4 + ["sampling", "other"]


def test_state_rules():
    # dist: resolvable when floor + 2 Z se <= t; reached when value + Z se <= t
    assert state("dist", 0.1, 0.05, 0.005, unit_se=0.005, floor=0.04) == REACHED
    assert state("dist", 0.1, 0.095, 0.005, unit_se=0.005, floor=0.04) == MISSED
    assert state("dist", 0.1, 0.15, 0.01, unit_se=0.01, floor=0.12) == UNRESOLVED  # exact draws would not pass
    assert state("dist", 0.1, 0.9, 0.01, unit_se=0.01, floor=0.12) == MISSED  # but far beyond is a miss
    # moments: an exact-moment method (se 0) resolves any level; draws need (z_d + Z) se <= t
    assert state("moments", 0.1, 0.05, 0.0, dim=100) == REACHED
    se = 0.1 / (z_max(10) + 2.0)
    assert state("moments", 0.1, 0.01, 0.0, unit_se=se * 0.99, dim=10) == REACHED
    assert state("moments", 0.1, 0.01, 0.0, unit_se=se * 1.01, dim=10) == UNRESOLVED
    assert state("kl", 0.1, float("nan"), 0.0) == MISSED
    assert z_max(1) == pytest.approx(1.96, abs=0.01) and z_max(100) > 3.4


def test_combined_se_is_the_larger_of_estimator_and_seed_spread():
    assert combined_se([1.0], [0.2]) == pytest.approx(0.2)
    assert combined_se([1.0, 1.0, 1.0], [0.3, 0.3, 0.3]) == pytest.approx(0.3 / math.sqrt(3))
    assert combined_se([0.0, 1.0, 2.0], [0.0, 0.0, 0.0]) == pytest.approx(1.0 / math.sqrt(3))


def test_levels_parse_and_validate():
    assert parse_levels([0.5]) == [Level("moments", 0.1), Level("dist", 0.1), Level("dist", 0.2), Level("kl", 0.5)]
    assert parse_levels({"dist": [0.3]})[1] == Level("dist", 0.3)
    for bad in ({"moment": [0.1]}, {"dist": [0]}, {"dist": [float("inf")]}, [True]):
        with pytest.raises(ValueError):
            parse_levels(bad)


def test_the_cheaper_kind_wins_with_a_factor_and_its_range():
    df = pd.DataFrame(_seeds("lap", "laplace", [0.01, 0.01, 0.01], evals=50)
                      + _seeds("nuts", "mcmc", [1.0, 2.0, 3.0], evals=5000, se=0.001))
    r = _one(verdicts(df, [MOMENTS]))
    assert r["verdict"] == "optimization" and r["method"] == "lap" and r["rival_method"] == "nuts"
    assert r["factor"] == pytest.approx(200) and (r["factor_lo"], r["factor_hi"]) == pytest.approx((100, 300))
    e = _one(verdicts(df, [MOMENTS]), by="evals")
    assert e["factor"] == pytest.approx(100) and e["factor_lo"] == e["factor_hi"] == pytest.approx(100)


def test_a_factor_range_straddling_one_is_a_tie():
    df = pd.DataFrame(_seeds("lap", "laplace", [1.0, 2.0, 3.0]) + _seeds("nuts", "mcmc", [2.0, 1.5, 2.5], se=0.001))
    assert _one(verdicts(df, [MOMENTS]))["verdict"] == "tie"


def test_unreliable_cells_never_win():
    df = pd.DataFrame(_seeds("lap", "laplace", [1.0] * 3, mean_err=0.01)
                      + _seeds("bad", "mcmc", [0.001] * 3, reliable=False, flags=["rhat 1.8"]))
    r = _one(verdicts(df, [MOMENTS]))
    assert r["verdict"] == "optimization" and r["method"] == "lap" and r["note"] == "no reliable sampling cell"
    one_bad_seed = _seeds("nuts", "mcmc", [0.001] * 3, se=0.001)
    one_bad_seed[1]["status"] = "error"
    assert cells(pd.DataFrame(one_bad_seed))["reliable"].tolist() == [False]


def test_a_cheaper_unresolved_rival_makes_the_verdict_unresolved():
    opt = _seeds("mf", "meanfield", [1.0] * 3, dist=0.05, floor=0.03)
    cheap_unresolved = _seeds("nuts", "mcmc", [0.1] * 3, dist=0.2, floor=0.15, dist_se=0.01)
    r = _one(verdicts(pd.DataFrame(opt + cheap_unresolved), [DIST]), level=DIST)
    assert r["verdict"] == "unresolved" and r["rival_method"] == "nuts"
    pricey_unresolved = _seeds("nuts", "mcmc", [10.0] * 3, dist=0.2, floor=0.15, dist_se=0.01)
    r = _one(verdicts(pd.DataFrame(opt + pricey_unresolved), [DIST]), level=DIST)
    assert r["verdict"] == "optimization" and r["bound"] == ">=" and r["factor"] == pytest.approx(10)


def test_nothing_reached_is_none_or_unresolved():
    missed = _seeds("mf", "meanfield", [1.0] * 3, dist=0.5)
    assert _one(verdicts(pd.DataFrame(missed), [DIST]), level=DIST)["verdict"] == "none"
    blurry = _seeds("nuts", "mcmc", [1.0] * 3, dist=0.2, floor=0.15, dist_se=0.01)
    assert _one(verdicts(pd.DataFrame(missed + blurry), [DIST]), level=DIST)["verdict"] == "unresolved"


def test_a_method_without_density_evaluations_is_na_by_evals():
    df = pd.DataFrame(_seeds("cavi", "cavi", [0.001] * 3, evals=0) + _seeds("nuts", "mcmc", [1.0] * 3, evals=5000))
    v = verdicts(df, [MOMENTS])
    assert _one(v)["method"] == "cavi"
    e = _one(v, by="evals")
    assert e["method"] == "nuts" and e["verdict"] == "sampling" and not math.isinf(e["cost"])


def test_flags_merge_over_seeds_with_their_range():
    from vibench.analysis import merge_flags

    merged = merge_flags([["rhat 1.37", "101 divergences"], ["rhat 1.43"], ["not converged"]])
    assert merged == ["rhat 1.37-1.43 (2 of 3 seeds)", "101 divergences (1 of 3 seeds)", "not converged (1 of 3 seeds)"]
    assert merge_flags([["khat 0.91"]]) == ["khat 0.91"]


def test_kl_levels_are_na_without_any_kl():
    df = pd.DataFrame(_seeds("lap", "laplace", [0.01] * 3))
    r = _one(verdicts(df, [Level("kl", 0.1)]), level=Level("kl", 0.1))
    assert r["verdict"] == "n/a"


def test_crossovers_and_floors():
    rows = (_seeds("lap", "laplace", [0.01] * 3, dim=2) + _seeds("nuts", "mcmc", [1.0] * 3, dim=2)
            + _seeds("lap", "laplace", [0.01] * 3, dim=50, mean_err=0.5)
            + _seeds("nuts", "mcmc", [1.0] * 3, dim=50)
            + _seeds("nuts", "mcmc", [9.0] * 3, dim=50, steps=1000, reliable=False, flags=["rhat 1.1"], dist=0.02))
    df = pd.DataFrame(rows)
    cross = crossovers(verdicts(df, [MOMENTS]))
    assert cross[["from_kind", "to_kind", "size", "from_size"]].values.tolist() == [
        ["optimization", "sampling", "dim=50", "dim=2"]] * 2  # by time and by evals
    fl = floors(df).set_index(["size", "method"])
    assert fl.loc[("dim=50", "nuts"), "steps"] == 1000 and not fl.loc[("dim=50", "nuts"), "reliable"]


def test_answer_text_names_verdicts_unreliable_and_unsupported_cells():
    rows = (_seeds("lap", "laplace", [0.01] * 3, evals=50) + _seeds("nuts", "mcmc", [1.0] * 3, evals=5000)
            + _seeds("bad", "mcmc", [0.001] * 3, reliable=False, flags=["rhat 1.82", "ess_bulk 3<400"])
            + [{**_row("cavi", "cavi", 0.0), "status": "unsupported"}])
    text = answer_text(pd.DataFrame(rows), [MOMENTS, DIST])
    assert "toy dim=10: moments<=0.1, dist<=0.1: optimization: lap" in text
    assert "= 100x [100x-100x]" not in text and "100x" in text
    assert "At moments<=0.1 (by time): optimization wins 1 of 1 task-sizes" in text
    assert "bad[100] on toy dim=10: rhat 1.82 (3 of 3 seeds); ess_bulk 3<400 (3 of 3 seeds)" in text
    assert "Unsupported cells: 1 (cavi 1)." in text


def test_factor_range_uses_the_seeds_both_have_with_a_positive_winner_cost():
    import warnings

    from vibench.analysis import _factor_range

    winner = pd.Series({"seed_time": {0: 1.0, 1: 0.0, 2: 2.0, 4: 1.0}, "cost_time": 1.5})
    rival = pd.Series({"seed_time": {0: 10.0, 1: 5.0, 2: math.inf, 3: 7.0, 4: 3.0}, "cost_time": 6.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _factor_range(winner, rival, "time") == (4.0, 3.0, 10.0)  # seeds 0 and 4 only
        free = pd.Series({"seed_time": {0: 0.0}, "cost_time": 0.0})
        assert _factor_range(free, rival, "time") == (math.inf, math.inf, math.inf)  # nothing to divide by
