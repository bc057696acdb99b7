"""Edges of the scoring the mutation run's last pass found untested: k-hat's chunks and NaN weights, the
reference draws' thinning, the sd's MCSE by hand, chain_stats' boundaries and the gates' defaults."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import vibench
from vibench.approximation import Approximation, DrawsApproximation, GaussianApproximation
from vibench.scoring.diagnostics import MIN_DRAWS_PER_CHAIN, _mcse_sd, chain_stats
from vibench.scoring.distance import N_TRUTH, _truth_draws
from vibench.scoring.gates import gate
from vibench.scoring.score import N_DRAWS, psis_khat
from vibench.truth import Truth


def test_khat_is_arviz_psis_of_the_log_ratios():
    from arviz_stats.base import array_stats

    task = vibench.get_task("gaussian", dim=4, rho=0.5)
    q = GaussianApproximation(task.truth.mean, sd=0.8 * task.truth.sd)
    x, logq = q.draws_and_logpdf(N_DRAWS, np.random.default_rng(3))  # one chunk at d = 4: the same draws
    lw = task.log_density.logp(x) - logq
    assert psis_khat(q, task.log_density, np.random.default_rng(3)) == pytest.approx(
        float(array_stats.psislw(-lw, r_eff=1.0)[1]), rel=1e-12)


class _NoLogNormals(Approximation):
    """A q with a density but no draws_and_logpdf: the generic path, counted."""

    def __init__(self, mean, sd, asked, nan_every=0):
        self.inner, self.asked, self.nan_every = GaussianApproximation(mean, sd=sd), asked, nan_every
        self.mean, self.info = self.inner.mean, {}

    @property
    def has_density(self):
        return True

    def draws(self, n, rng):
        self.asked.append(n)
        return self.inner.draws(n, rng)

    def logpdf(self, x):
        out = self.inner.logpdf(x)
        if self.nan_every:
            out[:: self.nan_every] = np.nan
        return out


def test_khat_draws_in_chunks_and_counts_them():
    d = 20_000  # 4,000,000 // 20,000 = 200 draws per chunk, 500 in all
    big = vibench.get_task("gaussian", dim=d, rho=0.5)
    asked = []
    khat = psis_khat(_NoLogNormals(big.truth.mean, big.truth.sd, asked), big.log_density, np.random.default_rng(0))
    assert asked == [200, 200, 100] and np.isfinite(khat)


def test_nan_log_weights_count_as_zero_weight_quietly():
    task = vibench.get_task("gaussian", dim=3, rho=0.5)
    q = _NoLogNormals(task.truth.mean, task.truth.sd, [], nan_every=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        khat = psis_khat(q, task.log_density, np.random.default_rng(0))
    assert np.isfinite(khat) and khat < 0.7  # weight 0 (log -inf), not +inf, where log q is NaN


def test_non_finite_gaussian_draws_are_a_clear_error():
    task = vibench.get_task("gaussian", dim=2, rho=0.5)

    class Broken(GaussianApproximation):
        def draws_and_logpdf(self, n, rng):
            x, lq = super().draws_and_logpdf(n, rng)
            x[0, 0] = np.inf
            return x, lq

    with pytest.raises(ValueError, match="^non-finite draws from the approximation$"):
        psis_khat(Broken(task.truth.mean, sd=task.truth.sd), task.log_density, np.random.default_rng(0))


def test_reference_draws_are_thinned_evenly_to_n_truth():
    ref = np.arange(3 * N_TRUTH, dtype=float).reshape(-1, 1) * np.ones((1, 2))
    truth = Truth(kind="reference", mean=np.zeros(2), sd=np.ones(2), draws=ref)
    out = _truth_draws(truth)
    assert out.shape == (N_TRUTH, 2) and out[0, 0] == 0.0 and out[-1, 0] == 3 * N_TRUTH - 1
    np.testing.assert_array_equal(out[:, 0], np.linspace(0, 3 * N_TRUTH - 1, N_TRUTH).round())
    few = Truth(kind="reference", mean=np.zeros(2), sd=np.ones(2), draws=ref[:N_TRUTH])
    np.testing.assert_array_equal(_truth_draws(few), ref[:N_TRUTH])  # exactly N_TRUTH: kept as they are
    with pytest.raises(ValueError, match="^the truth has neither exact samples nor reference draws to score against$"):
        _truth_draws(Truth(kind="reference", mean=np.zeros(2), sd=np.ones(2)))


def test_mcse_of_the_sd_by_hand():
    rng = np.random.default_rng(9)
    samples = rng.normal(size=(3, 50, 2)) * np.array([1.0, 3.0]) + np.array([5.0, -2.0])
    ess_sd = np.array([80.0, 120.0])
    flat = samples.reshape(-1, 2)
    c = flat - flat.mean(axis=0)
    var, mu4 = (c**2).mean(axis=0), (c**4).mean(axis=0)
    np.testing.assert_allclose(_mcse_sd(samples, ess_sd), np.sqrt((mu4 - var**2) / (4 * var * ess_sd)), rtol=1e-12)
    constant = np.ones((2, 10, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _mcse_sd(constant, np.array([20.0]))[0] == 0.0  # no spread: an exact sd


def test_chain_stats_boundaries():
    with pytest.raises(ValueError, match=r"^samples must be \(chains, draws, dim\), got shape \(3, 4\)$"):
        chain_stats(np.zeros((3, 4)))
    x = np.random.default_rng(1).normal(size=(4, MIN_DRAWS_PER_CHAIN, 2))
    assert np.all(np.isfinite(chain_stats(x).rhat))  # exactly the minimum: ArviZ runs
    x[..., 1] = 2.0  # a constant coordinate: nan R-hat, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = chain_stats(x)
    assert stats.rhat.shape == (2,) and np.isnan(stats.rhat[1])



@pytest.mark.parametrize("mode", ["divide", "invalid"])
def test_chain_stats_of_a_constant_coordinate_under_numpy_errors_that_raise(mode):
    # a plugin or a user may set np.seterr(all="raise"); a constant coordinate's 0/0 must still be a NaN R-hat
    x = np.random.default_rng(1).normal(size=(4, MIN_DRAWS_PER_CHAIN, 2))
    x[..., 1] = 2.0
    with np.errstate(**{mode: "raise"}):
        stats = chain_stats(x)
    assert np.isnan(stats.rhat[1]) and np.isfinite(stats.rhat[0])
    x[..., 1] = np.arange(4)[:, None]  # each chain stuck at its own value: no within-chain variance, R-hat x/0
    with np.errstate(**{mode: "raise"}):
        stats = chain_stats(x)
    assert stats.rhat[1] == np.inf and np.isfinite(stats.rhat[0])


def test_gates_without_a_family_or_a_dist_se():
    one_chain = DrawsApproximation(np.zeros((1, 10, 2)))
    assert "1 chain" in gate(one_chain, None, chain_stats(np.random.default_rng(0).normal(size=(1, 10, 2))), None)[1]
    q = GaussianApproximation(np.zeros(2), sd=np.ones(2), info={"converged": True})
    assert gate(q, "meanfield", None, None, {"dist": 0.09, "dist_se": None, "dist_floor": 0.1}) == \
        (False, ["dist 3 SE below its floor"])  # no SE: below the floor is below it


def test_two_chains_get_an_rhat():
    """R-hat needs two chains, and two are enough: finite, near 1 for iid draws; one chain gets NaN."""
    samples = np.random.default_rng(5).normal(size=(2, 200, 3))
    rhat = chain_stats(samples).rhat
    assert np.all(np.isfinite(rhat)) and np.all(np.abs(rhat - 1) < 0.05)
    assert np.all(np.isnan(chain_stats(samples[:1]).rhat))


def test_mcse_of_the_sd_scales_with_the_draws():
    """The sd's MCSE is in the draws' units: draws 100 times smaller, an MCSE 100 times smaller (the delta
    method's numerator is never floored)."""
    samples = np.random.default_rng(6).normal(size=(4, 300, 2))
    base = chain_stats(samples).mcse_sd
    np.testing.assert_allclose(chain_stats(0.01 * samples).mcse_sd, 0.01 * base, rtol=1e-10)


def test_mcse_sd_in_coordinate_chunks_equals_the_whole_array(monkeypatch):
    """Chunks of 2 coordinates (the last a short one) give the whole-array central moments."""
    import vibench.scoring.diagnostics as diagnostics

    samples = np.random.default_rng(9).standard_t(5, size=(3, 40, 5)) * np.arange(1.0, 6.0)
    ess_sd = np.linspace(50.0, 100.0, 5)
    flat = samples.reshape(-1, 5)
    var, mu4 = flat.var(axis=0), np.mean((flat - flat.mean(axis=0)) ** 4, axis=0)
    monkeypatch.setattr(diagnostics, "_MOMENT_CHUNK", 2 * flat.shape[0])
    np.testing.assert_allclose(_mcse_sd(samples, ess_sd), np.sqrt((mu4 - var**2) / (4 * var * ess_sd)), rtol=1e-12)
