"""The analysis on a hand-made table whose answer is known: winners, factors, gating, crossover, floors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vibench.analysis import answer_text, cells, crossovers, floors, kind_of, winners


def _row(dim, method, family, steps, kl, fit_s, n_grad=0, n_logp=0, seed=0, est="closed-form",
         mean_err=0.0, sd_err=0.0, status="ok"):
    return {"task": "toy", "params": {"dim": dim}, "size": f"dim={dim}", "dim": dim, "method": method,
            "family": family, "budget": {"steps": steps}, "seed": seed, "status": status, "error": None,
            "wall_s": fit_s + 0.5, "fit_s": fit_s, "n_logp": n_logp, "n_grad": n_grad, "kl": kl,
            "kl_estimator": est, "kl_se": None, "kl_floor": None, "kl_inclusive": None,
            "mean_err": mean_err, "sd_err": sd_err, "khat": None}


@pytest.fixture
def df():
    """Three sizes of one task. The known answer is in the tests below."""
    rows = [
        # dim=2: laplace is cheap but stuck at 0.2; the gradient-free sampler gets below 0.1
        _row(2, "lap", "laplace", 50, 0.2, 0.01, n_grad=30),
        _row(2, "mf", "meanfield", 100, 0.31, 0.1, n_grad=100),
        _row(2, "mf", "meanfield", 1000, 0.30, 1.0, n_grad=1000),
        *[_row(2, "ens", "mcmc", 100, kl, fit, n_logp=2000, seed=s, est="knn")
          for s, (kl, fit) in enumerate([(0.05, 0.4), (0.04, 0.5), (0.2, 9.0)])],  # medians 0.05 and 0.5 s
        _row(2, "ens", "mcmc", 1000, 0.005, 2.0, n_logp=20000, est="knn"),
        _row(2, "broken", "laplace", 10, 0.0, 0.0001, n_grad=1, status="error"),  # must be ignored
        # dim=10 ("dim=10" sorts before "dim=2" as text: crossovers must order by dim)
        _row(10, "lap", "laplace", 50, 0.05, 0.1, n_grad=40),
        _row(10, "ens", "mcmc", 100, 0.5, 1.0, n_logp=2000, est="knn"),
        # dim=50: the cheaper sampler cell has KL < 0.1 but sd_err 0.2, so it does not count
        _row(50, "lap", "laplace", 50, 0.2, 0.5, n_grad=60),
        _row(50, "mf", "meanfield", 1000, 0.08, 10.0, n_grad=1000),
        _row(50, "nuts", "mcmc", 1000, 0.05, 5.0, n_grad=20000, est="gaussian-moments", mean_err=0.05, sd_err=0.2),
        _row(50, "nuts", "mcmc", 5000, 0.03, 20.0, n_grad=100000, est="gaussian-moments", mean_err=0.05,
             sd_err=0.05),
    ]
    return pd.DataFrame(rows)


def _pick(win, dim, t, by="time"):
    (row,) = [r for _, r in win.iterrows() if r["dim"] == dim and r["threshold"] == t and r["by"] == by]
    return row


def test_kinds():
    assert [kind_of(f) for f in ("meanfield", "fullrank", "laplace", "cavi", "mcmc", "smc")] == [
        "optimization"] * 4 + ["sampling", "other"]


def test_cells_take_medians_over_ok_seeds(df):
    c = cells(df)
    ens = c[(c["size"] == "dim=2") & (c["method"] == "ens") & (c["steps"] == 100)].iloc[0]
    assert ens["n_seeds"] == 3 and ens["kl"] == pytest.approx(0.05) and ens["cost_time"] == pytest.approx(0.5)
    assert ens["cost_evals"] == 2000  # n_grad + n_logp: a gradient-free sampler is counted too
    assert "broken" not in set(c["method"])


def test_winner_and_factor(df):
    win = winners(df, [0.01, 0.1, 1.0])
    assert len(win) == 3 * 3 * 2
    r = _pick(win, 2, 1.0)
    assert (r["kind"], r["method"], r["rival_method"]) == ("optimization", "lap", "ens")
    assert r["factor"] == pytest.approx(0.5 / 0.01)  # the best sampler reaching KL<1 is ens@100 (median 0.5 s)
    r = _pick(win, 2, 1.0, by="evals")
    assert r["method"] == "lap" and r["factor"] == pytest.approx(2000 / 30)


def test_other_kind_never_reached_it(df):
    r = _pick(winners(df, [0.1]), 2, 0.1)
    assert (r["kind"], r["method"], r["steps"]) == ("sampling", "ens", 100)
    assert math.isinf(r["factor"]) and pd.isna(r["rival_method"]) and "never reached" in r["note"]


def test_nothing_reached_it(df):
    r = _pick(winners(df, [0.01]), 10, 0.01)
    assert pd.isna(r["kind"]) and "nothing reached it" in r["note"] and "lap 0.05" in r["note"]


def test_gaussian_moments_needs_small_moment_errors(df):
    win = winners(df, [0.1])
    r = _pick(win, 50, 0.1)
    # without the gate nuts@1000 (5 s) would win; it is out, so mean-field (10 s) beats nuts@5000 (20 s)
    assert (r["method"], r["rival_method"], r["rival_steps"]) == ("mf", "nuts", 5000)
    assert r["factor"] == pytest.approx(2.0)
    r = _pick(win, 50, 0.1, by="evals")
    assert r["method"] == "mf" and r["factor"] == pytest.approx(100.0)


def test_crossover_orders_sizes_by_dim(df):
    cross = crossovers(winners(df, [0.01, 0.1, 1.0]))
    at = cross[(cross["threshold"] == 0.1) & (cross["by"] == "time")]
    assert at[["size", "from_size", "from_kind", "to_kind"]].values.tolist() == [
        ["dim=10", "dim=2", "sampling", "optimization"]]
    assert cross[cross["threshold"] == 1.0].empty  # laplace wins KL<1 at every size


def test_floors_are_the_kl_at_the_largest_budget(df):
    fl = floors(df).set_index(["size", "method"])
    assert fl.loc[("dim=2", "mf"), "kl"] == pytest.approx(0.30) and fl.loc[("dim=2", "mf"), "steps"] == 1000
    plateau = fl["plateau"].to_dict()
    assert plateau[("dim=2", "mf")] is True  # 0.31 -> 0.30: more budget does not help
    assert plateau[("dim=2", "ens")] is False  # 0.05 -> 0.005: still falling
    assert plateau[("dim=2", "lap")] is None and ("dim=2", "broken") not in fl.index


def test_answer_text(df):
    text = answer_text(df, [0.01, 0.1, 1.0])
    lines = text.splitlines()
    assert "toy dim=50: nothing reached KL<0.01" in text
    assert "optimization wins at KL<0.1: meanfield (mf) 10 s vs mcmc (nuts) 20 s = 2x; by evals: 1,000 vs " \
           "100,000 = 100x" in text
    assert "sampling wins at KL<0.1: mcmc (ens) 0.5 s; optimization never reached it" in text
    assert "optimization wins at KL<1: laplace (lap) 0.01 s vs mcmc (ens) 0.5 s = 50x" in text
    assert "  toy KL<0.1 by time and evals: sampling -> optimization at dim=10 (after dim=2)" in lines
    # task x size blocks come in order of dimension, then the floors table (gaussian-moments marked ~)
    starts = [ln.split(":")[0] for ln in lines if ln.startswith("toy ")]
    assert starts == ["toy dim=2", "toy dim=10", "toy dim=50"]
    assert "Accuracy floors" in text and "~0.03" in text


def test_empty_and_failed_runs():
    assert "no finished cells" in answer_text(pd.DataFrame())
    failed = pd.DataFrame([_row(2, "lap", "laplace", 5, np.nan, 1.0, status="error")])
    assert winners(failed).empty and floors(failed).empty and crossovers(winners(failed)).empty
    assert "no finished cells" in answer_text(failed)


def test_gaussian_moments_kl_is_compared_less_its_sampling_floor():
    base = dict(est="gaussian-moments", mean_err=0.02, sd_err=0.02)
    floored = _row(100, "nuts", "mcmc", 1000, 1.35, 5.0, n_grad=10**5, **base)
    floored["kl_floor"] = 1.3  # exact draws would show the same 1.3 nats: the excess is 0.05
    unfloored = _row(100, "nuts2", "mcmc", 1000, 1.35, 1.0, n_grad=10**4, **base)
    win = winners(pd.DataFrame([floored, unfloored]), thresholds=[0.1])
    row = _pick(win, 100, 0.1)
    assert row["method"] == "nuts" and row["kl"] == pytest.approx(1.35)
