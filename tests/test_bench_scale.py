"""suites/bench_scale.py's yardstick floor and its verdicts on the issue-12 targets.

The floor is the least work any scoring that reports k-hat must do, so it has
to take exactly the draws ``psis_khat`` takes; the verdicts hold a cell's
scoring to 20 % of the fit or, failing that, to twice the floor.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import vibench
from vibench.approximation import GaussianApproximation
from vibench.scoring.score import psis_khat

SUITES = Path(__file__).resolve().parent.parent / "suites"
if str(SUITES) not in sys.path:
    sys.path.insert(0, str(SUITES))

import bench_scale  # noqa: E402


class Counted(GaussianApproximation):
    """A Gaussian q that records how many draws are asked of it."""

    asked: list

    def draws_and_logpdf(self, n, rng):
        self.asked.append(n)
        return super().draws_and_logpdf(n, rng)


@pytest.mark.parametrize("d", [1000, 20_000])  # 2,000 draws; 500 past the k-hat budget
def test_the_floor_takes_the_draws_psis_khat_takes(d):
    task = vibench.get_task("gaussian", dim=d, rho=0.5)
    khat_q, floor_q = (Counted(task.truth.mean, sd=task.truth.sd) for _ in range(2))
    khat_q.asked, floor_q.asked = [], []
    psis_khat(khat_q, task.log_density, np.random.default_rng(0))
    seconds = bench_scale.yardstick_floor(floor_q, task, np.random.default_rng(0), repeats=1)
    assert floor_q.asked == khat_q.asked and seconds > 0
    assert task.log_density.n_logp == 0 and task.log_density.n_grad == 0  # scoring work is never counted


def test_the_floor_is_none_for_chains():
    task = vibench.get_task("gaussian", dim=3)
    chains = vibench.DrawsApproximation(np.random.default_rng(0).normal(size=(2, 50, 3)))
    assert bench_scale.yardstick_floor(chains, task, np.random.default_rng(0)) is None


def _row(fit, again, floor, first=None):
    return {"case": "x", "dim": 1000, "fit_s": fit, "score_s": again if first is None else first,
            "score_again_s": again, "floor_s": floor}


@pytest.mark.parametrize("fit, again, floor, verdict", [
    (1.0, 0.2, 0.5, ": MET"),  # 20 % of the fit exactly
    (1.0, 0.21, 0.1, ": MISSED"),  # over 20 % and 2.1 x the floor
    (1.0, 0.21, 0.2, ": MET at the floor"),  # over 20 %, at 1.05 x the floor
    (0.1, 0.2, 0.1, ": MET at the floor"),  # twice the floor exactly
    (0.1, 0.2, None, ": MISSED"),  # chains: no floor to fall back on
    (0.1, 0.25, 0.1, ": MISSED"),  # 2.5 x the floor
])
def test_a_cells_scoring_is_held_to_the_share_or_to_twice_the_floor(fit, again, floor, verdict):
    lines = bench_scale.verdicts(_row(fit, again, floor))
    assert lines[0].startswith("scoring a cell") and lines[0].endswith(verdict)
    assert lines[1].startswith("(first scoring")  # printed, never a verdict
    assert not any(line.endswith(("MET", "MISSED")) for line in lines[1:])
