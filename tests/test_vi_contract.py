"""The VI plugin's documented contract, pinned where the mutation run found it untested.

``info`` is what the docstrings promise (counts net of earlier use, the fixed-draw
ELBO's sign, the trace, the stage draws, the time), the objective's cache and
failure output, the stage schedule, that fitting raises no warnings (a misspelled
optimizer option does), and pinned trajectories: iteration and gradient counts on
fixed tasks and seeds. A pinned count changes when the algorithm does (an optimizer
setting, a stopping rule, a start); update it only with such a change, on purpose.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import vibench
from vibench_vi import MeanFieldVI
from vibench_vi.draws import balanced_draws
from vibench_vi.objective import MeanFieldObjective

from oracles import dense_kl, fit_after_earlier_use


def _fit(name, task, steps=1000, seed=0, **budget):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy warns of an unknown option: a misspelled maxiter, maxcor, gtol
        return vibench.get_method(name).fit(task, vibench.Budget(steps, **budget), np.random.default_rng(seed))


def test_meanfield_info_is_the_documented_one():
    task = vibench.get_task("gaussian", dim=10, rho=0.9)
    approx, before, wall = fit_after_earlier_use(lambda t: _fit("meanfield", t), task)  # info counts only this fit's
    info = approx.info
    assert info["n_grad"] == task.log_density.n_grad - before["n_grad"] > 0
    assert info["n_logp"] == task.log_density.n_logp - before["n_logp"] > 0
    # 64 balanced draws > dim: the fixed-draw objective is exact on a Gaussian, so the fixed-draw ELBO is log Z - KL
    kl = dense_kl(approx.mean, approx.cov, task.truth.mean, task.truth.cov)
    assert info["elbo_fixed"] == pytest.approx(task.truth.log_evidence - kl, abs=1e-8)
    assert info["elbo_trace"][-1] == pytest.approx(info["elbo_fixed"], abs=1e-12)
    assert len(info["elbo_trace"]) == 10 < info["iterations"]  # the last ten (ELBOs: the last is elbo_fixed)
    assert info["stage_draws"] == [2, 64] and info["n_draws"] == 64
    assert 0.0 <= info["seconds"] <= wall


def test_meanfield_stage_schedule():
    mf = MeanFieldVI()
    # a cheap 2-draw warm-up for the first 3/4 of the budget, then the 64-draw stage with the whole budget as cap
    assert mf.stages(10, 1000) == [(2, pytest.approx(1e-7), 750), (64, pytest.approx(0.01 * 10 / 64), 1000)]
    assert mf.stages(40, 7) == [(2, pytest.approx(4e-7), 6), (64, pytest.approx(0.01 * 40 / 64), 7)]
    assert mf.stages(10, 2) == [(2, pytest.approx(1e-7), 1), (64, pytest.approx(0.01 * 10 / 64), 2)]
    assert mf.stages(10, 3) == [(2, pytest.approx(1e-7), 2), (64, pytest.approx(0.01 * 10 / 64), 3)]
    assert mf.stages(10, 1) == [(64, pytest.approx(0.01 * 10 / 64), 1)]
    assert MeanFieldVI(warmup_draws=0).stages(10, 1000) == [(64, pytest.approx(0.01 * 10 / 64), 1000)]


def test_meanfield_says_where_the_elbo_is_not_finite():
    task = vibench.get_task("gaussian", dim=3, rho=0.5)
    flat = vibench.LogDensity(3, lambda x: np.full(x.shape[0], -np.inf),
                              lambda x: (np.full(x.shape[0], -np.inf), np.zeros(x.shape)))
    hopeless = dataclasses.replace(task, name="hopeless", params={}, log_density=flat)
    with pytest.raises(FloatingPointError, match="^meanfield: the fixed-draw ELBO is not finite anywhere tried on hopeless"):
        vibench.get_method("meanfield").fit(hopeless, vibench.Budget(20), np.random.default_rng(0))


def _objective(dim=3, draws=8):
    task = vibench.get_task("gaussian", dim=dim, rho=0.5)
    return task, MeanFieldObjective(task.log_density, balanced_draws(draws, dim, np.random.default_rng(1)))


def test_objective_caches_the_last_two_points():
    task, obj = _objective()
    a, b, c = (np.full(6, v) for v in (0.0, 0.1, 0.2))
    obj.evaluate(a)
    n = task.log_density.n_grad
    first = obj.evaluate(a)  # the same point again: no gradients
    assert task.log_density.n_grad == n
    obj.evaluate(b)
    obj.evaluate(a)  # still cached: the last two computed are kept, a hit does not reorder
    assert task.log_density.n_grad == n + 8
    obj.evaluate(c)  # [b, a] -> [c, b]: a drops out
    obj.evaluate(b)
    assert task.log_density.n_grad == n + 2 * 8
    obj.evaluate(a)
    assert task.log_density.n_grad == n + 3 * 8
    assert obj.evaluate(a)[0] != obj.evaluate(b)[0]  # the cache is keyed by the point, not shared
    assert obj.evaluate(a)[0] == first[0]


def test_objective_failure_output_and_no_warnings():
    task, obj = _objective()
    far = np.concatenate([np.zeros(3), np.full(3, 800.0)])  # sd = exp(800): draws overflow to inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, jac, curv = obj.evaluate(far)
    assert value == np.inf
    assert jac.shape == far.shape and np.all(jac == 0.0)
    assert curv.shape == (3,) and curv.dtype == float and np.all(np.isnan(curv))


def test_objective_rejects_a_non_finite_gradient_at_a_finite_value():
    base = vibench.get_task("gaussian", dim=2, rho=0.5).log_density
    ld = vibench.LogDensity(2, base.logp, lambda x: (base.logp(x), np.full(x.shape, np.nan)))
    obj = MeanFieldObjective(ld, balanced_draws(4, 2, np.random.default_rng(0)))
    value, jac, curv = obj.evaluate(np.zeros(4))
    assert value == np.inf and np.all(jac == 0.0) and np.all(np.isnan(curv))


@pytest.mark.parametrize("name, task_name, params, iterations, n_grad", [
    ("meanfield", "gaussian", {"dim": 10, "rho": 0.9}, 44, 544),
    ("meanfield", "funnel", {"dim": 5}, 19, 1170),
    ("fullrank", "gaussian", {"dim": 10, "rho": 0.9}, 1, 128),
    ("fullrank", "funnel", {"dim": 5}, 73, 3424),
])
def test_pinned_trajectories(name, task_name, params, iterations, n_grad):
    approx = _fit(name, vibench.get_task(task_name, **params))
    assert (approx.info["iterations"], approx.info["n_grad"]) == (iterations, n_grad)
    assert approx.info["converged"]


def test_fullrank_supports_up_to_max_dim():
    from types import SimpleNamespace

    from vibench_vi.fullrank import MAX_DIM, FullRankVI

    assert FullRankVI().supports(SimpleNamespace(dim=MAX_DIM)) is True
    reason = FullRankVI().supports(SimpleNamespace(dim=MAX_DIM + 1))
    assert isinstance(reason, str) and str(MAX_DIM) in reason
