"""pymc-nuts starts every chain at ``task.initial_point(rng)``, also where a transform's bounds depend
on another variable (GARCH(1,1)'s ``beta1`` on ``(0, 1 - alpha1)``), which PyMC refuses as a
transformed initial value ("Initial value of beta1 depends on other random variables")."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

import vibench
from vibench import pymc_bridge
from vibench_pymc._nuts import _constrainer, _initvals


def test_dependent_bounds_get_constrained_initial_values():
    task = vibench.get_task("posteriordb:garch-garch11")
    bundle = pymc_bridge.model_for(task)
    constrain = _constrainer(bundle.model)
    assert constrain is not None
    x = task.initial_point(np.random.default_rng(0))
    got = _initvals(bundle, x, constrain)
    u = {name: x[slc] for name, slc, _ in bundle.layout}
    # independent inverse transforms: log for alpha0, logit for alpha1 on (0, 1), scaled logit for beta1
    alpha1 = expit(u["alpha1_interval__"])
    np.testing.assert_allclose(got["alpha0"], np.exp(u["alpha0_log__"]), rtol=1e-12)
    np.testing.assert_allclose(got["alpha1"], alpha1, rtol=1e-12)
    np.testing.assert_allclose(got["beta1"], (1 - alpha1) * expit(u["beta1_interval__"]), rtol=1e-12)


def test_pymc_nuts_runs_on_garch_from_the_tasks_start():
    task = vibench.get_task("posteriordb:garch-garch11")
    approx = vibench.get_method("pymc-nuts").fit(task, vibench.Budget(30), np.random.default_rng(1))
    assert approx.samples.shape[:2] == (4, 30) and np.all(np.isfinite(approx.samples))


def test_independent_transforms_pass_unconstrained_values_unchanged():
    task = vibench.get_task("posteriordb:eight_schools-eight_schools_noncentered")
    bundle = pymc_bridge.model_for(task)
    assert _constrainer(bundle.model) is None
    x = task.initial_point(np.random.default_rng(2))
    got = _initvals(bundle, x, None)
    np.testing.assert_array_equal(np.concatenate([np.ravel(got[n]) for n, _, _ in bundle.layout]), x)
