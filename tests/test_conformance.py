"""Every registered method and task passes vibench.testing, and the checks catch broken plugins."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import vibench
from vibench import Budget, DrawsApproximation, GaussianApproximation, Method
from vibench.errors import VibenchError
from vibench.registry import get_registry
from vibench.testing import DEFAULT_TASK, check_method, check_task

REGISTRY = get_registry()  # whatever is installed at collection time, third-party plugins included


def _pymc_budget(method: Method) -> Budget:
    """PyMC backends compile for seconds: NUTS gets few draws; ADVI's default learning rate
    (adagrad_window, 1e-3) needs about 30,000 cheap iterations to bring the mean within 0.25 sd."""
    return Budget(300) if method.family == "mcmc" else Budget(30_000)


@pytest.fixture(scope="module")
def shared_task():
    """One task object for all methods, so PyMC compiles its model once (it caches per task)."""
    return vibench.get_task(DEFAULT_TASK[0], **DEFAULT_TASK[1])


@pytest.mark.parametrize("name", sorted(REGISTRY.methods))
def test_builtin_method_conforms(name, shared_task):
    method = REGISTRY.methods[name]
    budget = _pymc_budget(method) if name.startswith("pymc-") else None
    task = shared_task if method.supports(shared_task) is True else None  # else check_method finds one
    report = check_method(method, task=task, budget=budget)
    assert report["mean_err"] <= report["mean_tol"]


def _small_sizes(name: str) -> list[dict]:
    """The factory's defaults, and the smallest ``dim`` it accepts (edge cases live there)."""
    sizes = [{}]
    if "dim" in inspect.signature(REGISTRY.tasks[name]).parameters:
        for dim in (1, 2):
            try:
                REGISTRY.get_task(name, dim=dim)
            except VibenchError:
                continue
            sizes.append({"dim": dim})
            break
    return sizes


TASK_CASES = [(name, size) for name in sorted(REGISTRY.tasks) for size in _small_sizes(name)]


@pytest.mark.parametrize("name, size", TASK_CASES, ids=[f"{n}-{s}" for n, s in TASK_CASES])
def test_builtin_task_conforms(name, size):
    report = check_task(REGISTRY.get_task(name, **size))
    assert "batched logp, gradient vs finite differences" in report["checked"]


def test_funnel_children_are_reported_as_too_heavy_tailed_for_second_moment_tests():
    report = check_task(vibench.get_task("funnel", dim=4))
    assert report["heavy_tailed"] == [1, 2, 3]


# -- the checks catch what they claim to catch ------------------------------------------------


class _Exact(Method):
    """Returns the truth of a Gaussian task: a correct method to break one way at a time."""

    name, family = "exact", "fullrank"

    def fit(self, task, budget, rng):
        return GaussianApproximation(task.truth.mean + 1e-3 * rng.standard_normal(task.dim), task.truth.cov)


def test_a_correct_method_passes():
    assert check_method(_Exact())["steps1"] == "ok"


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(name=""), "name must be a non-empty string"),
        (dict(supports=lambda self, task: np.True_), "supports\\(\\) must return True"),
        (dict(supports=lambda self, task: "no Gaussians here"), "rejects every task offered"),
        (dict(fit=lambda self, task, budget, rng: task.truth.mean), "must return a vibench.Approximation"),
        (dict(fit=lambda self, task, budget, rng: GaussianApproximation(
            task.truth.mean + np.random.standard_normal(task.dim) * 1e-3, task.truth.cov)), "different means"),
        (dict(fit=lambda self, task, budget, rng: GaussianApproximation(
            task.truth.mean + 0.5, task.truth.cov)), "inaccurate: mean_err"),
        (dict(fit=lambda self, task, budget, rng: GaussianApproximation(
            task.truth.mean, task.truth.cov, info={"trace": object()})), "JSON-serializable"),
        (dict(fit=lambda self, task, budget, rng: DrawsApproximation(
            np.tile(task.truth.mean, (10, 1)))), "ESS"),
        (dict(fit=lambda self, task, budget, rng: GaussianApproximation(
            task.truth.mean, task.truth.cov) if budget.steps > 1 else [][0]), "raised IndexError"),
    ],
)
def test_a_broken_method_fails_with_a_clear_message(change, message):
    broken = type("Broken", (_Exact,), change)()
    with pytest.raises(AssertionError, match=message):
        check_method(broken, task=vibench.get_task("gaussian", dim=3, rho=0.5) if "supports" not in change else None)


def test_a_clear_refusal_of_a_tiny_budget_passes():
    def fit(self, task, budget, rng):
        if budget.steps < 10:
            raise ValueError("needs at least 10 steps")
        return _Exact.fit(self, task, budget, rng)

    report = check_method(type("Picky", (_Exact,), {"fit": fit})())
    assert report["steps1"] == "ValueError: needs at least 10 steps"


def _broken_task(**change):
    task = vibench.get_task("gaussian", dim=3, rho=0.5)
    for key, value in change.items():
        obj, attr = (task.truth, key[6:]) if key.startswith("truth_") else (task, key)
        setattr(obj, attr, value(getattr(obj, attr)) if callable(value) else value)
    return task


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(truth_mean=lambda m: m + 0.1), "draws disagree with truth.mean|gradient is not"),
        (dict(truth_sample=lambda s: (lambda n, rng: 1.5 * s(n, rng))), "draws disagree"),
        (dict(truth_log_evidence=lambda z: z + 1.0), "log_evidence"),
        (dict(truth_cov=None), "must give cov"),
        (dict(initial_point=lambda f: (lambda rng: np.random.uniform(-2, 2, 3))), "depend only on rng"),
        (dict(truth_sd=lambda sd: sd[:2]), "shape"),
    ],
)
def test_a_broken_task_fails_with_a_clear_message(change, message):
    with pytest.raises(AssertionError, match=message):
        check_task(_broken_task(**change))


def test_a_wrong_gradient_is_caught_by_finite_differences():
    task = vibench.get_task("banana", dim=2)
    density = task.log_density
    inner = density._logp_and_grad
    density._logp_and_grad = lambda x: (inner(x)[0], inner(x)[1] * np.array([1.0, 1.01]))
    with pytest.raises(AssertionError, match="disagrees with finite differences"):
        check_task(task)
