"""What evaluate puts in a row beside the metrics: chain ESS, the family's gates, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

import vibench
from vibench.approximation import Approximation, DrawsApproximation, GaussianApproximation
from vibench.scoring.diagnostics import chain_stats
from vibench.scoring.score import check_finite, evaluate

from oracles import ar1_chains


@pytest.fixture(scope="module")
def task():
    return vibench.get_task("gaussian", dim=2, rho=0.5)


def test_an_mcmc_row_carries_the_smallest_ess(task):
    x = ar1_chains(np.random.default_rng(2), 4, 500, 2, 0.6) * task.truth.sd + task.truth.mean
    row = evaluate(DrawsApproximation(x), task, np.random.default_rng(0), family="mcmc")
    stats = chain_stats(x)
    assert row["ess_bulk_min"] == pytest.approx(float(stats.ess_bulk.min()))
    assert row["ess_tail_min"] == pytest.approx(float(stats.ess_tail.min()))
    assert row["rhat_max"] == pytest.approx(stats.rhat_max) and row["chains"] == 4


def test_the_family_picks_the_gates(task):
    one_chain = DrawsApproximation(task.truth.sample(400, np.random.default_rng(1))[None], info={"converged": True})
    as_sampler = evaluate(one_chain, task, np.random.default_rng(0), family="mcmc")
    assert as_sampler["reliable"] is False and "1 chain" in as_sampler["flags"]
    # pathfinder returns draws but is an optimizer: gated on convergence, not on chains
    as_optimizer = evaluate(one_chain, task, np.random.default_rng(0), family="pathfinder")
    assert as_optimizer["reliable"] is True and as_optimizer["flags"] == []


def test_errors_name_what_is_wrong(task):
    with pytest.raises(ValueError, match="^approximation has dimension 3, the task 2$"):
        evaluate(GaussianApproximation(np.zeros(3), sd=np.ones(3)), task, np.random.default_rng(0))
    with pytest.raises(ValueError, match="^non-finite cov in the approximation$"):
        check_finite(GaussianApproximation(np.zeros(2), sd=np.array([1.0, np.inf])))
    with_nan = np.zeros((2, 5, 2))
    with_nan[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="^non-finite mean in the approximation$"):  # the draws' mean is checked first
        check_finite(DrawsApproximation(with_nan))
    with pytest.raises(ValueError, match="^non-finite mean in the approximation$"):
        check_finite(GaussianApproximation(np.array([np.nan, 0.0]), sd=np.ones(2)))

    class Plain(Approximation):  # neither Gaussian nor draws: its dense cov is checked
        def __init__(self):
            self.mean, self.cov, self.info = np.zeros(2), np.array([[1.0, np.nan], [np.nan, 1.0]]), {}

    with pytest.raises(ValueError, match="^non-finite cov in the approximation$"):
        check_finite(Plain())


def test_inclusive_kl_edge_cases(task):
    from vibench.scoring.score import kl_inclusive
    from vibench.truth import Truth

    degenerate = GaussianApproximation(np.zeros(2), sd=np.array([1.0, 0.0]))
    assert kl_inclusive(degenerate, task.truth, np.random.default_rng(0)) == np.inf  # q misses all of p's mass
    no_draws = Truth(kind="exact", mean=np.zeros(2), sd=np.ones(2), logpdf=lambda y: np.zeros(len(y)), sample=None)
    assert kl_inclusive(GaussianApproximation(np.zeros(2), sd=np.ones(2)), no_draws, np.random.default_rng(0)) is None


def test_khat_takes_fewer_draws_at_large_d():
    from vibench.scoring.score import KHAT_BUDGET, KHAT_MIN_DRAWS, N_DRAWS, psis_khat

    asked = []

    class Counted(GaussianApproximation):
        def draws_and_logpdf(self, n, rng):
            asked.append(n)
            return super().draws_and_logpdf(n, rng)

    d = 20_000
    big = vibench.get_task("gaussian", dim=d, rho=0.5)
    psis_khat(Counted(big.truth.mean, sd=big.truth.sd), big.log_density, np.random.default_rng(0))
    assert sum(asked) == max(KHAT_MIN_DRAWS, KHAT_BUDGET // d) < N_DRAWS  # 500 draws, not 2,000
