"""``LogDensity``: batched, counted, and ``uncounted()`` for evaluations that are not a method's cost."""

from __future__ import annotations

import numpy as np
import pytest

import vibench
from vibench import LogDensity
from vibench.reference import fingerprint
from vibench.testing import check_task


def _quadratic(dim: int = 2) -> LogDensity:
    calls = {"rows": 0}

    def logp(x):
        calls["rows"] += len(x)
        return -0.5 * np.sum(x**2, axis=1)

    def logp_and_grad(x):
        calls["rows"] += len(x)
        return -0.5 * np.sum(x**2, axis=1), -x

    density = LogDensity(dim, logp, logp_and_grad)
    density.calls = calls  # an independent tally of the rows the functions computed
    return density


def test_every_row_is_counted_by_kind():
    ld = _quadratic()
    ld.logp(np.zeros((3, 2)))
    ld.logp(np.zeros(2))
    ld.logp_and_grad(np.ones((5, 2)))
    assert ld.counts() == {"n_logp": 4, "n_grad": 5} and ld.calls["rows"] == 9
    ld.reset_counts()
    assert ld.counts() == {"n_logp": 0, "n_grad": 0}


def test_uncounted_evaluates_but_does_not_charge():
    ld = _quadratic()
    ld.logp(np.zeros((2, 2)))
    with ld.uncounted() as same:
        assert same is ld
        value = ld.logp(np.ones((3, 2)))
        _, grad = ld.logp_and_grad(np.ones((4, 2)))
        assert ld.counts() == {"n_logp": 5, "n_grad": 4}  # counted inside the block, as usual
    np.testing.assert_allclose(value, -1.0)
    np.testing.assert_allclose(grad, -1.0)
    assert ld.counts() == {"n_logp": 2, "n_grad": 0} and ld.calls["rows"] == 9


def test_uncounted_restores_the_counters_when_the_block_raises_and_nests():
    ld = _quadratic()
    ld.logp_and_grad(np.zeros((1, 2)))
    with pytest.raises(RuntimeError, match="boom"):
        with ld.uncounted():
            ld.logp(np.zeros((6, 2)))
            with ld.uncounted():
                ld.logp_and_grad(np.zeros((2, 2)))
            assert ld.counts() == {"n_logp": 6, "n_grad": 1}  # the inner block restored its own entry state
            raise RuntimeError("boom")
    assert ld.counts() == {"n_logp": 0, "n_grad": 1}


def test_a_fingerprint_is_not_charged():
    ld = _quadratic()
    ld.logp(np.zeros((2, 2)))
    first = fingerprint(ld)
    assert ld.counts() == {"n_logp": 2, "n_grad": 0} and ld.calls["rows"] == 2 + 3
    assert fingerprint(ld) == first


def test_the_hierarchical_truths_logpdf_is_not_charged():
    task = vibench.get_task("eight_schools_noncentered")
    density = task.log_density
    density.reset_counts()
    x = task.truth.sample(5, np.random.default_rng(0))
    lp = task.truth.logpdf(x)
    assert density.counts() == {"n_logp": 0, "n_grad": 0}
    with density.uncounted():
        np.testing.assert_allclose(lp, density.logp(x) - task.truth.log_evidence, rtol=1e-10)


def test_check_task_leaves_the_counters_as_it_found_them_even_when_it_fails():
    task = vibench.get_task("gaussian", dim=3, rho=0.5)
    task.log_density.logp(np.zeros((7, 3)))
    check_task(task)
    assert task.log_density.counts() == {"n_logp": 7, "n_grad": 0}
    task.truth.log_evidence += 1.0  # fails late, after every density evaluation
    with pytest.raises(AssertionError, match="log_evidence"):
        check_task(task)
    assert task.log_density.counts() == {"n_logp": 7, "n_grad": 0}
