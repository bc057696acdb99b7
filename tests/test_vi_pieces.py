"""The VI plugin's shared pieces (vibench_vi.objective, vibench_vi.draws) against what their docstrings promise.

Written from the survivors of the mutation run: the fresh ELBO's draws and count (chunked draws are the
same numbers as one call), its failure value, its silence on overflow; the stopping rule's stall test and
deadline; the balanced draws' edge cases.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import vibench
from vibench.density import LogDensity
from vibench_vi import objective
from vibench_vi.draws import balanced_draws
from vibench_vi.objective import ENTROPY_CONST, Stopper, fresh_elbo


def _task():
    return vibench.get_task("banana")


@pytest.mark.parametrize("full", [True, False])
def test_fresh_elbo_is_the_mean_log_density_of_documented_draws_plus_the_entropy(full, monkeypatch):
    """``x = mean + z C^T`` (or ``mean + z * sd``) for ``z = rng.standard_normal((n, d))``, in chunks of
    ``CHUNK_ELEMENTS // d`` rows that draw the same numbers as one call; ``n`` value-only evaluations."""
    monkeypatch.setattr(objective, "CHUNK_ELEMENTS", 20)  # d = 2: chunks of 10 rows, the last one short
    task = _task()
    ld, n = task.log_density, 25
    mean = np.array([0.3, -0.2])
    chol = np.array([[0.8, 0.0], [0.3, 0.5]]) if full else np.array([0.8, 0.5])
    before = ld.counts()
    elbo, se = fresh_elbo(ld, mean, chol, np.random.default_rng(4), n)
    assert ld.n_logp - before["n_logp"] == n and ld.n_grad == before["n_grad"]
    z = np.random.default_rng(4).standard_normal((n, 2))
    x = mean + (z @ chol.T if full else z * chol)
    logp = task.log_density.logp(x)
    log_diag = np.log(np.diag(chol) if full else chol)
    assert elbo == pytest.approx(np.mean(logp) + np.sum(log_diag) + 2 * ENTROPY_CONST, rel=1e-13)
    assert se == pytest.approx(np.std(logp, ddof=1) / np.sqrt(n), rel=1e-12)  # unbiased variance


def test_fresh_elbo_of_a_q_outside_the_support_is_minus_infinity_without_a_warning():
    def logp(x):
        v = np.exp(1000.0 * np.abs(x[:, 0]) + 1000.0)  # overflows to inf, then inf - inf is invalid
        return np.where(x[:, 0] > 0, -np.inf, -(v - v))

    ld = LogDensity(1, logp, lambda x: (logp(x), np.zeros_like(x)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        elbo, se = fresh_elbo(ld, np.zeros(1), np.ones(1), np.random.default_rng(0), 50)
    assert elbo == -np.inf and np.isnan(se)


def test_stopper_detects_a_stall_over_its_window():
    stop = Stopper(10, None)
    assert [stop.update(3.0, 1e-3) for _ in range(3)] == [False, False, True]  # needs window + 1 = 3 values
    assert stop.iterations == stop.stage_iterations == 3 and not stop.exhausted and stop.out_of_time is False
    stop.new_stage()
    assert stop.stage_iterations == 0
    assert [stop.update(v, 1e-3) for v in (2.0, 1.0, 0.0)] == [False, False, False]  # improving by 1 nat a step


def test_stopper_deadline_is_max_seconds_from_now():
    stop = Stopper(10, 60.0)
    stop.update(1.0, 0.0)
    assert not stop.out_of_time and not stop.exhausted
    late = Stopper(10, 0.0)
    late.update(1.0, 0.0)
    assert late.out_of_time and late.exhausted
    assert Stopper(2, None).remaining == 2


def test_balanced_draws_reject_fewer_than_two():
    with pytest.raises(ValueError, match=r"^need at least 2 draws, got 1$"):
        balanced_draws(1, 3, np.random.default_rng(0))


@pytest.mark.parametrize("n, d", [(2, 5), (3, 2), (4, 4), (5, 3), (6, 20)])
def test_balanced_draws_have_their_moments_at_every_size(n, d):
    """Zero sample mean and unit second moments always; the identity second-moment matrix when n > d.

    n = d is the edge: the centred draws have rank n - 1 < d there, so no whitening to the identity exists.
    """
    z = balanced_draws(n, d, np.random.default_rng(n * d))
    assert z.shape == (n, d)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose((z**2).mean(axis=0), 1.0, rtol=1e-12)
    if n > d:
        np.testing.assert_allclose(z.T @ z / n, np.eye(d), atol=1e-12)
    if n == 2:
        np.testing.assert_array_equal(np.abs(z), 1.0)
        np.testing.assert_array_equal(z[0], -z[1])


@pytest.mark.parametrize("bad", [dict(n_draws=1), dict(warmup_draws=-1), dict(n_elbo=1)])
def test_meanfield_rejects_each_setting_beyond_its_bound(bad):
    from vibench_vi.meanfield import MeanFieldVI

    with pytest.raises(ValueError, match=r"^need n_draws >= 2, warmup_draws >= 0 and n_elbo >= 2$"):
        MeanFieldVI(**bad)


@pytest.mark.parametrize(
    ("n_draws", "warmup_draws", "kept"),
    # the documented rule: a warm-up below 2 draws, or not below n_draws, is skipped
    [(2, 0, 0), (8, 1, 0), (8, 2, 2), (8, 7, 7), (8, 8, 0), (8, 9, 0)],
)
def test_meanfield_keeps_a_warmup_stage_only_between_2_and_n_draws(n_draws, warmup_draws, kept):
    from vibench_vi.meanfield import MeanFieldVI

    method = MeanFieldVI(n_draws=n_draws, warmup_draws=warmup_draws, n_elbo=2)
    assert method.warmup_draws == kept and method.n_draws == n_draws and method.n_elbo == 2
    stages = method.stages(dim=4, steps=100)
    assert [s[0] for s in stages] == ([kept] if kept else []) + [n_draws]


def test_meanfield_reports_the_elbo_on_its_n_elbo_fresh_draws():
    """Value-only evaluations are the reported ELBO's fresh draws: ``n_elbo`` (256 by default) of them."""
    from vibench_vi.meanfield import MeanFieldVI

    task = vibench.get_task("gaussian", dim=3, rho=0.5)
    for method, n in ((MeanFieldVI(), 256), (MeanFieldVI(n_elbo=40), 40)):  # fresh instances, not the registry's
        before = task.log_density.counts()
        info = method.fit(task, vibench.Budget(200), np.random.default_rng(0)).info
        assert info["n_logp"] == task.log_density.n_logp - before["n_logp"] == n
