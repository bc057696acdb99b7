"""PyMC backends: pymc-advi, pymc-fullrank-advi, pymc-nuts (plugin vibench_pymc) and vibench.pymc_bridge.

Compiling costs seconds, so tasks are module-scoped and each compiled model
is reused across the tests that fit on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

import vibench
from vibench.scoring.diagnostics import chain_stats
from vibench import Budget, DrawsApproximation, GaussianApproximation, Task
from vibench.truth import gaussian_truth

import pymc  # noqa: E402,F401  (a hard dependency: a missing PyMC fails, never skips)

from vibench import pymc_bridge  # noqa: E402
from vibench_pymc._advi import CHECK_EVERY  # noqa: E402
from vibench_pymc.modes import mode_for  # noqa: E402

from oracles import dense_kl  # noqa: E402


def kl_to_truth(approx, task: Task) -> float:
    return dense_kl(approx.mean, approx.cov, task.truth.mean, task.truth.cov)


@pytest.fixture(scope="module")
def task5() -> Task:
    """gaussian(dim=5, rho=0.5), bridged to PyMC through the black-box Op."""
    return vibench.get_task("gaussian", dim=5, rho=0.5)


MODEL_MEAN = np.array([-2.0, -1.0, 1.0, 2.0, 0.5])
MODEL_SD = np.array([0.5, 1.0, 2.0, 0.7, 0.3])


def _blocks_model():
    """Independent blocks ``a`` (2), ``b`` (2) and a log-normal ``s`` (log-transformed)."""
    pm = pymc_bridge.import_pymc()
    with pm.Model() as model:
        pm.Normal("a", MODEL_MEAN[:2], MODEL_SD[:2])
        pm.Normal("b", MODEL_MEAN[2:4], MODEL_SD[2:4])
        pm.LogNormal("s", MODEL_MEAN[4], MODEL_SD[4])
    return model


@pytest.fixture(scope="module")
def model_task() -> Task:
    """A task whose ``pymc_model`` has three variables, one transformed; flat order a, b, log(s)."""
    density = pymc_bridge.log_density_from_model(_blocks_model())
    return Task(
        name="blocks",
        params={},
        log_density=density,
        truth=gaussian_truth(MODEL_MEAN, np.diag(MODEL_SD**2)),
        initial_point=lambda rng: rng.uniform(-1, 1, 5),
        pymc_model=_blocks_model,
    )


def fit(name: str, task: Task, steps: int, seed: int = 0, **kw):
    task.log_density.reset_counts()
    return vibench.get_method(name).fit(task, Budget(steps=steps, **kw), np.random.default_rng(seed))


def assert_moments_agree(approx: DrawsApproximation, truth, z: float = 4.0) -> None:
    """Sample means within ``z`` Monte Carlo standard errors (from the smallest bulk ESS) of the truth."""
    ess = float(np.min(chain_stats(approx.samples).ess_bulk))
    assert ess > 100
    se = truth.sd / np.sqrt(ess)
    np.testing.assert_array_less(np.abs(approx.mean - truth.mean), z * se)
    # sd's Monte Carlo error is about sd / sqrt(2 ess) for near-Gaussian draws
    np.testing.assert_array_less(np.abs(approx.sd - truth.sd), z * truth.sd / np.sqrt(2 * ess) + 0.02)


def test_importing_vibench_and_plugin_does_not_import_pymc():
    code = (
        "import sys, vibench, vibench_pymc, vibench.pymc_bridge\n"
        "from vibench.registry import get_registry\n"
        "reg = get_registry()\n"
        "assert {'pymc-advi', 'pymc-fullrank-advi', 'pymc-nuts'} <= set(reg.methods)\n"
        "bad = sorted(m for m in ('pymc', 'pytensor', 'arviz') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_methods_registered_with_families():
    families = {name: vibench.get_method(name).family for name in ("pymc-advi", "pymc-fullrank-advi", "pymc-nuts")}
    assert families == {"pymc-advi": "meanfield", "pymc-fullrank-advi": "fullrank", "pymc-nuts": "mcmc"}


def test_nuts_moments_agree_with_truth(task5):
    approx = fit("pymc-nuts", task5, steps=500)
    assert isinstance(approx, DrawsApproximation)
    assert approx.samples.shape == (4, 500, 5)
    info = approx.info
    json.dumps(info, allow_nan=False)
    assert info["chains"] == 4 and info["tune"] == 500 and info["draws"] == 500
    stats = chain_stats(approx.samples)
    assert stats.rhat_max < 1.05 and info["divergences"] == 0
    assert np.min(stats.ess_tail) > 100
    assert_moments_agree(approx, task5.truth)
    # Op path: every gradient goes through the task's LogDensity, one per leapfrog
    # step plus one per iteration (the start of each trajectory); no info["n_grad"].
    assert "n_grad" not in info and task5.log_density.n_logp == 0
    assert task5.log_density.n_grad == info["n_steps"] + 4 * 1000


def test_nuts_budget_1000_is_pm_sample_defaults():
    method = vibench.get_method("pymc-nuts")
    assert method.chains == 4 and "1000" in method.steps_meaning


def test_prepare_compiles_once_per_task():
    """After ``prepare`` a fit compiles nothing; preparing again is free; info has no cost bookkeeping."""
    task5 = vibench.get_task("gaussian", dim=5, rho=0.5)  # its own task: nothing compiled for it yet
    for name in ("pymc-advi", "pymc-nuts"):
        method = vibench.get_method(name)
        t0 = time.perf_counter()
        method.prepare(task5)
        prepare_s = time.perf_counter() - t0
        extras = dict(pymc_bridge.model_for(task5).extras)
        method.prepare(task5)
        # preparing again compiles nothing: the very same compiled objects, none added
        assert pymc_bridge.model_for(task5).extras.keys() == extras.keys()
        assert all(pymc_bridge.model_for(task5).extras[k] is v for k, v in extras.items())
        info = fit(name, task5, steps=50, seed=3).info
        # relative to the compile, since wall times on a loaded machine scale together
        assert info["compiled"] is False and info["setup_s"] < prepare_s / 3
        assert not {"compile_s", "fit_s", "total_s"} & set(info)
    assert pymc_bridge.model_for(task5) is pymc_bridge.model_for(task5)


def test_fit_without_prepare_reports_setup():
    task = vibench.get_task("gaussian", dim=3, rho=0.5)
    info = fit("pymc-advi", task, steps=20).info
    assert info["compiled"] is True and info["setup_s"] > 0


def test_advi_meanfield(task5):
    approx = fit("pymc-advi", task5, steps=100_000, seed=0)
    assert isinstance(approx, GaussianApproximation)
    assert vibench.get_method("pymc-advi").family == "meanfield"
    np.testing.assert_allclose(approx.cov, np.diag(np.diag(approx.cov)))
    info = approx.info
    json.dumps(info, allow_nan=False)
    # CheckParametersConvergence stopped it (at a multiple of its period) before the budget ran out
    assert info["converged"] and info["stopped_early"] and info["iterations"] % CHECK_EVERY == 0
    assert task5.log_density.n_grad == info["iterations"]  # one gradient per iteration (obj_n_mc = 1)
    optimum = task5.tags["meanfield_kl"]
    assert optimum - 1e-9 <= kl_to_truth(approx, task5) < optimum + 0.25


def test_advi_fits_are_reproducible_and_independent(task5):
    """Each fit starts from scratch: the same seed gives the same answer whatever ran before."""
    a = fit("pymc-advi", task5, steps=500, seed=7)
    fit("pymc-advi", task5, steps=800, seed=8)
    b = fit("pymc-advi", task5, steps=500, seed=7)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.cov, b.cov)
    assert a.info["converged"] is False and a.info["iterations"] == 500  # ran out of steps


def test_advi_convergence_check_is_reset_between_fits(task5):
    """The check's memory of the last parameters (and PyMC's iteration count) start afresh each fit."""
    a = fit("pymc-advi", task5, steps=100_000, seed=4)
    fit("pymc-advi", task5, steps=3 * CHECK_EVERY + 17, seed=5)
    b = fit("pymc-advi", task5, steps=100_000, seed=4)
    assert a.info["converged"] and a.info["iterations"] == b.info["iterations"] < 100_000
    np.testing.assert_array_equal(a.mean, b.mean)


def test_fullrank_advi_close_to_truth(task5):
    approx = fit("pymc-fullrank-advi", task5, steps=100_000, seed=0)
    assert isinstance(approx, GaussianApproximation) and approx.info["converged"]
    assert np.max(np.abs(approx.mean - task5.truth.mean) / task5.truth.sd) < 0.3
    assert kl_to_truth(approx, task5) < 0.2
    assert abs(approx.cov[0, 1] - task5.truth.cov[0, 1]) < 0.2  # the correlation is captured


def test_advi_max_seconds_stops_early(task5):
    t0 = time.perf_counter()
    approx = fit("pymc-advi", task5, steps=10_000_000, seed=0, max_seconds=0.2)
    assert time.perf_counter() - t0 < 5
    assert approx.info["stopped_early"] and 0 < approx.info["iterations"] < 10_000_000
    assert approx.info["converged"] is False  # the deadline stopped it, not the convergence check


def test_nuts_max_seconds_is_a_clear_error_when_tuning_cannot_finish(task5):
    with pytest.raises(RuntimeError, match="max_seconds"):
        fit("pymc-nuts", task5, steps=1_000_000, seed=0, max_seconds=0.3)


def _counting(fn):
    """``fn`` wrapped so that every call is counted in ``wrapper.calls``."""

    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return fn(*args, **kwargs)

    wrapper.calls = 0
    return wrapper


def test_pymc_model_path_order_and_counts(model_task, monkeypatch):
    """A task with its own pymc_model: several variables, one transformed, flat order kept; the reported
    ``n_grad`` equals the gradient evaluations counted independently, at the compiled functions."""
    nuts_method = vibench.get_method("pymc-nuts")
    nuts_method.prepare(model_task)
    bundle = pymc_bridge.model_for(model_task)
    # NUTS evaluates logp and gradient through the compiled logp_dlogp function's PyTensor function
    logp_dlogp = bundle.extras[("logp_dlogp", mode_for("nuts", "pymc_model"))]
    counter = _counting(logp_dlogp._pytensor_function)
    monkeypatch.setattr(logp_dlogp, "_pytensor_function", counter)
    nuts = fit("pymc-nuts", model_task, steps=500, seed=1)
    assert nuts.info["model_source"] == "pymc_model"
    assert_moments_agree(nuts, model_task.truth)
    assert counter.calls > 4 * 1000 and nuts.info["n_grad"] == counter.calls
    assert model_task.log_density.n_grad == 0  # PyMC never called the task's LogDensity

    # ADVI: one step of the compiled optimizer is one gradient of a one-draw ELBO (pm.fit's obj_n_mc = 1)
    vibench.get_method("pymc-fullrank-advi").prepare(model_task)
    inference = bundle.extras[("fullrank_advi", mode_for("fullrank_advi", "pymc_model"))].inference
    step = _counting(inference.state.step)
    monkeypatch.setattr(inference, "state", inference.state._replace(step=step))
    advi = fit("pymc-fullrank-advi", model_task, steps=100_000, seed=1)
    assert advi.info["converged"] and 0 < step.calls < 100_000 and advi.info["n_grad"] == step.calls
    np.testing.assert_allclose(advi.mean, MODEL_MEAN, atol=0.3)
    np.testing.assert_allclose(advi.sd, MODEL_SD, rtol=0.3)


def test_bridge_flat_logp_matches_task(task5):
    """The Op model's compiled logp and gradient equal the task's, through one call per point."""
    bundle = pymc_bridge.model_for(task5)
    assert bundle.source == "op" and bundle.dim == 5
    fn = bundle.logp_dlogp("FAST_RUN")
    x = np.random.default_rng(0).normal(size=5)
    task5.log_density.reset_counts()
    value, grad = fn(x)
    assert task5.log_density.n_grad == 1
    want_value, want_grad = task5.log_density.logp_and_grad(x)
    np.testing.assert_allclose(value, want_value)
    np.testing.assert_allclose(grad, want_grad)
