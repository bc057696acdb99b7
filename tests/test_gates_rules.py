"""The diagnostics gates at their boundaries: each rule's threshold passes, one step beyond fails.

Hand-made ChainStats, so the numbers are exactly at the thresholds of
vibench.scoring.gates (R-hat <= 1.01, ESS >= 100 x min(chains, 4), >= 2 chains,
no divergences, the distance floor, k-hat > 0.7 a flag only).
"""

from __future__ import annotations

import numpy as np
import pytest

from vibench.approximation import DrawsApproximation, GaussianApproximation
from vibench.scoring.diagnostics import ChainStats
from vibench.scoring.gates import ESS_PER_CHAIN, KHAT_MAX, RHAT_MAX, gate


def _stats(chains, rhat=1.0, bulk=None, tail=None, dim=2):
    need = ESS_PER_CHAIN * min(chains, 4)
    full = np.full(dim, float(need if bulk is None else bulk))
    return ChainStats(chains, 1000, np.full(dim, rhat), full,
                      np.full(dim, float(need if tail is None else tail)), np.full(dim, 0.01), np.full(dim, 0.01))


def _chains(info=None):
    return DrawsApproximation(np.zeros((2, 10, 2)), info=info or {})


def flags(stats, info=None):
    return gate(_chains(info), "mcmc", stats, None)[1]


def test_exactly_at_every_threshold_passes():
    assert gate(_chains(), "mcmc", _stats(2, rhat=RHAT_MAX), None) == (True, [])
    assert flags(_stats(3)) == []  # need 300 with 3 chains
    assert flags(_stats(4)) == []  # 400
    assert flags(_stats(6, bulk=400, tail=400)) == []  # many chains (an ensemble's walkers) still need only 400


def test_one_step_beyond_fails_and_says_which():
    assert flags(_stats(1, bulk=100, tail=100)) == ["1 chain"]
    assert flags(_stats(2, rhat=1.0101)) == ["rhat 1.01"]
    assert flags(_stats(2, rhat=1.2)) == ["rhat 1.2"]
    assert flags(_stats(2, bulk=199)) == ["ess_bulk 199<200"]
    assert flags(_stats(2, tail=150)) == ["ess_tail 150<200"]
    assert flags(_stats(6, bulk=399, tail=399)) == ["ess_bulk 399<400", "ess_tail 399<400"]
    assert flags(_stats(2), {"divergences": 3}) == ["3 divergences"]
    nan = _stats(2)
    undefined = ChainStats(2, 1000, np.full(2, np.nan), np.full(2, np.nan), np.full(2, np.nan), nan.mcse_mean,
                           nan.mcse_sd)
    assert flags(undefined) == ["rhat undefined", "ess_bulk 0<200", "ess_tail 0<200"]  # no finite ESS counts as 0
    assert gate(_chains(), "mcmc", None, None) == (False, ["no chains"])


def test_optimizers_convergence_floor_and_khat():
    q = GaussianApproximation(np.zeros(2), sd=np.ones(2), info={"converged": True})
    assert gate(q, "meanfield", None, KHAT_MAX) == (True, [])  # k-hat at 0.7 is no flag
    assert gate(q, "meanfield", None, 0.71) == (True, ["khat 0.71"])  # above it, a flag, not a failure
    q.info["converged"] = False
    assert gate(q, "meanfield", None, None) == (False, ["not converged"])
    q.info.pop("converged")
    assert gate(q, "meanfield", None, None) == (False, ["convergence not reported"])
    q.info["converged"] = True
    at_floor = {"dist": 0.07, "dist_se": 0.01, "dist_floor": 0.1}  # exactly 3 SE below: still possible
    assert gate(q, "meanfield", None, None, at_floor) == (True, [])
    below = {"dist": 0.0699, "dist_se": 0.01, "dist_floor": 0.1}
    assert gate(q, "meanfield", None, None, below) == (False, ["dist 3 SE below its floor"])
