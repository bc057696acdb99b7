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


#: The peers pass check_method in tests/test_peers.py, each on the task and tolerance its own claims set.
PEERS = {"nutpie-nuts", "pathfinder", "pymc-dadvi"}


@pytest.mark.parametrize("name", sorted(set(REGISTRY.methods) - PEERS))
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


def _moments(task, evaluate=None):
    """The exact mean and covariance of a Gaussian task from d + 1 gradients (its log density is quadratic),
    computed without its truth, as a method must."""
    d = task.dim
    points = np.vstack([np.zeros(d), np.eye(d)])
    _, grad = (evaluate or task.log_density.logp_and_grad)(points)
    precision = -(grad[1:] - grad[0])  # row i: -(g(e_i) - g(0)) = P e_i
    precision = (precision + precision.T) / 2
    cov = np.linalg.inv(precision)
    return cov @ grad[0], cov


class _Exact(Method):
    """Fits a Gaussian task exactly: a correct method to break one way at a time."""

    name, family = "exact", "fullrank"

    def fit(self, task, budget, rng):
        mean, cov = _moments(task)
        return GaussianApproximation(mean + 1e-3 * rng.standard_normal(task.dim), cov,
                                     info={"iterations": 1, "converged": True})


def test_a_correct_method_passes():
    report = check_method(_Exact())
    assert report["steps1"] == "ok" and report["budget_check"] == "unmeasured"  # it converges in one iteration


def _draws(task, rng, chains=4, draws=1000):
    mean, cov = _moments(task)
    return mean + rng.standard_normal((chains, draws, task.dim)) @ np.linalg.cholesky(cov).T


def _fixed_work(self, task, budget, rng):  # 200 evaluations whatever the budget
    for _ in range(200):
        task.log_density.logp(np.zeros(task.dim))
    return GaussianApproximation(*_moments(task), info={"converged": True})


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(name=""), "name must be a non-empty string"),
        (dict(supports=lambda self, task: np.True_), "supports\\(\\) must return True"),
        (dict(supports=lambda self, task: "no Gaussians here"), "rejects every task offered"),
        (dict(supports=lambda self, task: task.truth.kind == "gaussian"), "supports\\(\\) read task.truth"),
        (dict(fit=lambda self, task, budget, rng: _moments(task)[0]), "must return a vibench.Approximation"),
        (dict(fit=lambda self, task, budget, rng: GaussianApproximation(
            _moments(task)[0] + np.random.standard_normal(task.dim) * 1e-3, _moments(task)[1])), "different means"),
        (dict(fit=lambda self, task, budget, rng: GaussianApproximation(
            _moments(task)[0] + 0.5, _moments(task)[1])), "inaccurate: mean_err"),
        (dict(fit=lambda self, task, budget, rng: GaussianApproximation(
            *_moments(task), info={"trace": object()})), "JSON-serializable"),
        (dict(fit=lambda self, task, budget, rng: DrawsApproximation(
            np.tile(_moments(task)[0], (10, 1)))), "ESS"),
        (dict(fit=lambda self, task, budget, rng: GaussianApproximation(
            *_moments(task)) if budget.steps > 1 else [][0]), "raised IndexError"),
        # the misses of issue 13: each must now fail
        (dict(fit=lambda self, task, budget, rng: GaussianApproximation(task.truth.mean, task.truth.cov)),
         "fit\\(\\) read task.truth"),
        (dict(fit=lambda self, task, budget, rng: DrawsApproximation(task.truth.sample(4000, rng).reshape(4, 1000, -1))),
         "fit\\(\\) read task.truth"),
        (dict(fit=lambda self, task, budget, rng: GaussianApproximation(
            *_moments(task, evaluate=task.log_density._logp_and_grad))), "evaluated the density at 4 points but counted 0"),
        (dict(fit=_fixed_work), "ignores its budget"),
        (dict(fit=lambda self, task, budget, rng: DrawsApproximation(np.swapaxes(_draws(task, rng), 0, 1))),
         "chains and draws swapped"),
    ],
)
def test_a_broken_method_fails_with_a_clear_message(change, message):
    broken = type("Broken", (_Exact,), change)()
    with pytest.raises(AssertionError, match=message):
        check_method(broken, task=vibench.get_task("gaussian", dim=3, rho=0.5) if "supports" not in change else None)


def test_a_method_that_catches_the_truth_error_still_fails():
    def fit(self, task, budget, rng):
        try:
            task.truth.mean
        except Exception:
            pass
        return _Exact.fit(self, task, budget, rng)

    with pytest.raises(AssertionError, match="read task.truth \\(and caught the error\\)"):
        check_method(type("Sneaky", (_Exact,), {"fit": fit})())


def test_a_sampler_with_chains_kept_apart_passes():
    def fit(self, task, budget, rng):
        return DrawsApproximation(_draws(task, rng, draws=max(budget.steps, 1)), info={"iterations": budget.steps})

    report = check_method(type("Sampler", (_Exact,), {"fit": fit, "family": "mcmc"})())
    assert report["ess"] > 1000


def test_a_missing_steps_meaning_is_a_warning_not_a_failure():
    lazy = type("Lazy", (_Exact,), {"steps_meaning": ""})()
    with pytest.warns(UserWarning, match="steps_meaning is recommended"):
        check_method(lazy)


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
        (dict(truth_precision=None, truth_cov=None), "must give cov"),
        (dict(initial_point=lambda f: (lambda rng: np.random.uniform(-2, 2, 3))), "depend only on rng"),
        (dict(truth_sd=lambda sd: sd[:2]), "shape"),
    ],
)
def test_a_broken_task_fails_with_a_clear_message(change, message):
    with pytest.raises(AssertionError, match=message):
        check_task(_broken_task(**change))


def test_a_covariance_wrong_only_beyond_the_tenth_coordinate_is_caught():
    task = vibench.get_task("gaussian", dim=12, rho=0.5)
    truth = task.truth
    cov = np.array(truth.cov)
    cov[10, 11] = cov[11, 10] = 0.0  # 0.5 in truth; an exact-kind truth skips the Gaussian gradient check
    truth.precision = None
    truth.cov = cov
    truth.kind = "exact"
    with pytest.raises(AssertionError, match=r"stated covariance at \(10, 11\)"):
        check_task(task)


def test_a_wrong_gradient_is_caught_by_finite_differences():
    task = vibench.get_task("banana", dim=2)
    density = task.log_density
    inner = density._logp_and_grad
    density._logp_and_grad = lambda x: (inner(x)[0], inner(x)[1] * np.array([1.0, 1.01]))
    with pytest.raises(AssertionError, match="disagrees with finite differences"):
        check_task(task)


def test_the_task_plugin_example_in_the_docs_passes_check_task(fresh_registry):
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text()
    section = doc.split("### A task plugin, complete", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/plugins.md", "exec"), namespace)
    report = check_task(namespace["logistic"](dim=3))
    assert report["kind"] == "exact" and "exact draws vs stated moments" in report["checked"]
    get_registry().add_task("logistic", namespace["logistic"])
    task = get_registry().get_task("logistic")
    assert task.name == "logistic" and task.params == {"dim": 4}


def test_a_duck_typed_method_without_optional_attributes_passes_with_a_warning():
    class Duck:  # no base class: no supports(), no prepare(), no steps_meaning
        name, family = "duck", "fullrank"
        fit = _Exact.fit

    with pytest.warns(UserWarning, match="steps_meaning is recommended"):
        assert check_method(Duck())["steps1"] == "ok"
