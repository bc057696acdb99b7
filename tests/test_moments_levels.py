"""Moment errors with Monte Carlo SEs, and the accuracy levels' parsing, by hand (cases the mutation run found)."""

from __future__ import annotations

import numpy as np
import pytest

from vibench.approximation import DrawsApproximation, GaussianApproximation
from vibench.scoring.diagnostics import ChainStats
from vibench.scoring.levels import Level, parse_levels
from vibench.scoring.moments import moment_errors
from vibench.truth import Truth


def _stats(mcse_mean, mcse_sd):
    d = len(mcse_mean)
    ones = np.ones(d)
    return ChainStats(4, 100, ones, 400 * ones, 400 * ones, np.asarray(mcse_mean, float), np.asarray(mcse_sd, float))


def test_moment_ses_of_draws_combine_the_chains_and_the_truths_in_quadrature():
    truth = Truth(kind="reference", mean=np.zeros(3), sd=np.array([1.0, 2.0, 4.0]),
                  mean_se=np.array([0.0, 0.3, 0.1]), sd_se=np.array([0.1, 0.2, 0.3]))
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(4, 100, 3)) * truth.sd
    draws[..., 1] += 1.0  # the largest mean error at coordinate 1
    draws[..., 2] *= 1.5  # the largest sd error at coordinate 2
    q = DrawsApproximation(draws)
    stats = _stats([0.05, 0.4, 0.2], [0.03, 0.1, 0.4])
    out = moment_errors(q, truth, stats)
    assert out["mean_err"] == pytest.approx(abs(q.mean[1]) / 2.0)
    assert out["mean_err_se"] == pytest.approx(np.hypot(0.4, 0.3) / 2.0)
    assert out["sd_err"] == pytest.approx(abs(q.sd[2] / 4.0 - 1.0))
    assert out["sd_err_se"] == pytest.approx(np.hypot(0.4, 0.3) / 4.0)
    assert out["moment_se_max"] == pytest.approx(max(np.hypot(0.4, 0.3) / 2.0, np.hypot(0.1, 0.2) / 2.0))


def test_chain_ses_apply_to_draws_only():
    truth = Truth(kind="exact", mean=np.zeros(2), sd=np.ones(2))
    q = GaussianApproximation(np.array([0.1, 0.0]), sd=np.array([1.0, 1.3]))
    out = moment_errors(q, truth, _stats([0.5, 0.5], [0.5, 0.5]))  # stats of some chains: not q's
    assert out["mean_err_se"] == 0.0 and out["sd_err_se"] == 0.0 and out["moment_se_max"] == 0.0
    assert out["sd_err"] == pytest.approx(0.3)


def test_levels_parse_scalars_lists_and_say_which_key_is_wrong():
    assert [lv for lv in parse_levels({"dist": 0.2}) if lv.metric == "dist"] == [Level("dist", 0.2)]
    assert [lv for lv in parse_levels(0.5) if lv.metric == "kl"] == [Level("kl", 0.5)]
    assert [lv for lv in parse_levels([1.0, 0.5, 1.0]) if lv.metric == "kl"] == [Level("kl", 0.5), Level("kl", 1.0)]
    with pytest.raises(ValueError, match="^thresholds has unknown metric 'moment'; allowed: moments, dist, kl$"):
        parse_levels({"moment": [0.1]})
    with pytest.raises(ValueError, match=r"^thresholds\.dist must be finite numbers > 0, got -1$"):
        parse_levels({"dist": [-1]})
    with pytest.raises(ValueError, match=r"^thresholds\.kl must be finite numbers > 0, got 0$"):
        parse_levels([0])


def test_levels_to_dict_groups_thresholds_by_metric_in_order():
    from vibench.scoring.levels import levels_to_dict

    levels = [Level("moments", 0.1), Level("dist", 0.1), Level("dist", 0.2), Level("kl", 0.5)]
    assert levels_to_dict(levels) == {"moments": [0.1], "dist": [0.1, 0.2], "kl": [0.5]}
    assert levels_to_dict([]) == {}
