"""The plugin's own tests: vibench's conformance kit does the heavy lifting."""

from __future__ import annotations

import numpy as np

import vibench
from vibench.testing import check_method
from vibench_rwm import RandomWalkMetropolis


def test_rwm_passes_the_vibench_conformance_checks():
    report = check_method(RandomWalkMetropolis())
    assert report["ess"] > 100


def test_rwm_is_registered_through_the_entry_point():
    assert vibench.get_method("rwm").family == "mcmc"


def test_warmup_tunes_the_acceptance_rate():
    task = vibench.get_task("gaussian", dim=10, rho=0.5)
    approx = RandomWalkMetropolis().fit(task, vibench.Budget(2000), np.random.default_rng(0))
    assert abs(approx.info["acceptance"] - 0.234) < 0.05
    assert approx.samples.shape == (4, 2000, 10)
    assert task.log_density.n_grad == 0  # a gradient-free method: its cost is n_logp
