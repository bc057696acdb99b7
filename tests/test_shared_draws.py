"""One scoring draws a non-Gaussian q once, and the inclusive KL averages over the task's cached truth draws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import vibench
from vibench.approximation import Approximation, DrawsApproximation, GaussianApproximation
from vibench.scoring.kl import gaussian_kl
from vibench.scoring.score import (KHAT_BUDGET, N_DRAWS, _truth_sample, evaluate, kl_inclusive, psis_khat,
                                   shared_draws)
from vibench.truth import Truth


class _DensityQ(Approximation):
    """A Gaussian seen only through draws and logpdf, as a flow or cavi's q is; it counts its calls."""

    def __init__(self, mean: np.ndarray, sd: np.ndarray):
        self._q = GaussianApproximation(mean, sd=sd)
        self.mean, self.cov, self.info = self._q.mean, np.diag(sd**2), {"converged": True}
        self.draw_calls, self.logpdf_rows = 0, []

    @property
    def has_density(self) -> bool:
        return True

    def draws(self, n, rng):
        self.draw_calls += 1
        return self._q.draws(n, rng)

    def logpdf(self, x):
        self.logpdf_rows.append(len(x))
        return self._q.logpdf(x)


def _exact(truth: Truth, counter: list) -> Truth:
    """The same distribution as a non-Gaussian-kind truth (Monte Carlo paths), counting its sample calls."""

    def sample(n, rng):
        counter.append(n)
        return truth.sample(n, rng)

    return Truth(kind="exact", mean=truth.mean, sd=truth.sd, logpdf=truth.logpdf, sample=sample)


@pytest.fixture()
def task():
    base = vibench.get_task("gaussian", dim=6, rho=0.6)
    return dataclasses.replace(base, truth=_exact(base.truth, []))


def test_a_density_q_is_drawn_once_per_scoring(task):
    q = _DensityQ(task.truth.mean + 0.2, 1.1 * task.truth.sd)
    row = evaluate(q, task, np.random.default_rng(0), family="meanfield")
    assert q.draw_calls == 1  # the distance, the Monte Carlo KL and k-hat share one set of draws
    assert q.logpdf_rows == [N_DRAWS, N_DRAWS]  # log q at q's draws, and at the truth's for the inclusive KL
    assert row["kl_estimator"] == "mc" and row["dist_n"] == N_DRAWS and row["khat"] is not None
    base = vibench.get_task("gaussian", dim=6, rho=0.6).truth
    exact = gaussian_kl(q.mean, q.cov, base.mean, base.cov)
    assert abs(row["kl"] - exact) < 3 * row["kl_se"]  # unbiased, to its own standard error


def test_inclusive_kl_averages_over_the_cached_truth_draws(task):
    base = vibench.get_task("gaussian", dim=6, rho=0.6).truth
    counter: list = []
    truth = _exact(base, counter)
    right = _DensityQ(base.mean + 0.1, 1.2 * base.sd)
    first = kl_inclusive(right, truth, np.random.default_rng(1))
    again = kl_inclusive(right, truth, np.random.default_rng(2))
    assert first == again and counter == [N_DRAWS]  # drawn once for the truth, whatever the cell's rng
    y, logp = truth.__dict__["_vibench_inclusive"]
    se = np.std(logp - right.logpdf(y), ddof=1) / np.sqrt(N_DRAWS)
    exact = gaussian_kl(base.mean, base.cov, right.mean, right.cov)
    assert abs(first - exact) < 3 * se
    wrong = _DensityQ(base.mean + 1.0, 0.5 * base.sd)  # a q that misses p's mass: the estimate must say so
    assert kl_inclusive(wrong, truth, np.random.default_rng(3)) > exact + 20 * se
    fresh = kl_inclusive(right, truth, np.random.default_rng(4), n_draws=500)  # another size: fresh draws
    assert counter == [N_DRAWS, 500] and fresh != first


def test_only_a_non_gaussian_q_with_a_density_is_drawn_ahead_and_only_within_the_budget():
    rng = np.random.default_rng(5)
    assert shared_draws(GaussianApproximation(np.zeros(3), sd=np.ones(3)), rng) is None  # closed forms
    assert shared_draws(DrawsApproximation(rng.normal(size=(2, 50, 3))), rng) is None  # its own draws
    edge = KHAT_BUDGET // N_DRAWS  # N_DRAWS x d numbers exactly: within the budget
    within = shared_draws(_DensityQ(np.zeros(edge), np.ones(edge)), rng)
    assert within is not None and within.x.shape == (N_DRAWS, edge)
    assert shared_draws(_DensityQ(np.zeros(edge + 1), np.ones(edge + 1)), rng) is None  # k-hat draws fewer


class _Float32Q(_DensityQ):
    def logpdf(self, x):
        return super().logpdf(x).astype(np.float32)


def test_shared_and_cached_log_densities_are_float64_whatever_the_plugin_returns():
    q = _Float32Q(np.zeros(3), np.ones(3))
    assert shared_draws(q, np.random.default_rng(6)).logq.dtype == np.float64
    base = vibench.get_task("gaussian", dim=3, rho=0.5).truth
    truth = Truth(kind="exact", mean=base.mean, sd=base.sd,
                  logpdf=lambda y: base.logpdf(y).astype(np.float32),
                  sample=lambda n, rng: base.sample(n, rng).astype(np.float32))
    y, logp = _truth_sample(truth)
    assert y.dtype == np.float64 and logp.dtype == np.float64


def test_the_cached_truth_draws_are_the_same_in_every_process():
    # every worker builds its own truth: the inclusive KL of one q must not depend on which worker scored it
    q = _DensityQ(np.full(4, 0.1), np.full(4, 1.3))
    one, two = (_exact(vibench.get_task("gaussian", dim=4, rho=0.5).truth, []) for _ in range(2))
    assert kl_inclusive(q, one, np.random.default_rng(7)) == kl_inclusive(q, two, np.random.default_rng(8))


def test_the_inclusive_kl_uses_the_cached_truth_draws_up_to_the_budget_and_the_cells_rng_beyond():
    edge = KHAT_BUDGET // N_DRAWS  # N_DRAWS x d numbers exactly: still cached
    within = _exact(vibench.get_task("gaussian", dim=edge, rho=0.5).truth, [])
    q = _DensityQ(np.zeros(edge), np.full(edge, 1.1))
    assert kl_inclusive(q, within, np.random.default_rng(9)) == kl_inclusive(q, within, np.random.default_rng(10))
    base = vibench.get_task("gaussian", dim=edge + 1, rho=0.5)
    counter: list = []
    task = dataclasses.replace(base, truth=_exact(base.truth, counter))
    wide = _DensityQ(np.zeros(edge + 1), np.full(edge + 1, 1.1))
    row = evaluate(wide, task, np.random.default_rng(11), family="meanfield")  # past the budget: fresh draws
    # (the other sample call is the distance's truth frame, built once per task)
    assert counter.count(N_DRAWS) == 1 and "_vibench_inclusive" not in task.truth.__dict__
    assert row["kl_inclusive"] is not None and np.isfinite(row["kl_inclusive"])


def test_k_hat_of_the_shared_draws_is_k_hat_of_the_same_draws_taken_by_psis_khat(task):
    for scale, flagged in ((1.1, False), (0.4, True)):  # q wider than p, then far narrower: k-hat > 0.7
        q = _DensityQ(task.truth.mean, scale * task.truth.sd)
        own = psis_khat(q, task.log_density, np.random.default_rng(12))
        shared = psis_khat(q, task.log_density, np.random.default_rng(0),
                           draws=shared_draws(q, np.random.default_rng(12)))  # the same numbers, drawn ahead
        assert shared == own and (own > 0.7) is flagged
