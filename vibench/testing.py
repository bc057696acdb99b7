"""The conformance kit: checks a plugin author calls from pytest.

::

    from vibench.testing import check_method, check_task

    def test_my_method():
        check_method(MyMethod())

    def test_my_task():
        check_task(make_my_task(dim=3))

Each check raises ``AssertionError`` naming the contract clause that failed
(docs/plugins.md lists them) and returns a small report on success. Both run
in a few seconds on the small tasks they use.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
from scipy.stats import norm

from .approximation import Approximation, DrawsApproximation
from .density import LogDensity
from .errors import VibenchError
from .jsonrow import jsonable
from .method import SAMPLING_FAMILIES, Budget, Method
from .task import Task
from .truth import KINDS, Truth

__all__ = ["check_method", "check_task", "ConformanceError", "DEFAULT_TASK", "DEFAULT_STEPS", "OPTIMIZATION_MEAN_TOL", "MIN_ESS"]

#: The task ``check_method`` fits unless told otherwise: AR(1) Gaussian, d = 3, rho = 0.5.
DEFAULT_TASK = ("gaussian", {"dim": 3, "rho": 0.5})
#: ``Budget.steps`` when the caller passes no budget.
DEFAULT_STEPS = 1000
#: Bound on ``mean_err`` (posterior sds) for methods with a density; optimization reaches the exact mean.
OPTIMIZATION_MEAN_TOL = 0.25
#: Bound on ``sd_err`` (relative sd error) for methods with a density (the optimal mean-field fit has 0.23
#: on the default task).
OPTIMIZATION_SD_TOL = 0.5
#: Fewest effective draws at which a sampler's accuracy can be checked at all.
MIN_ESS = 50
#: Family-wise false-alarm rate of each group of z-tests.
ALPHA = 1e-3
#: Exception types that betray a programming error rather than a deliberate, explained refusal.
UNCLEAR_ERRORS = (AttributeError, IndexError, KeyError, NameError, TypeError, ZeroDivisionError, AssertionError)


class ConformanceError(AssertionError):
    """A contract clause that failed (an ``AssertionError``, so pytest shows it as a failed check)."""


def _fail(where: str, msg: str):
    raise ConformanceError(f"{where}: {msg}")


def _z(n_tests: int) -> float:
    """Two-sided Bonferroni z-threshold for ``n_tests`` tests at family-wise level ``ALPHA``."""
    return float(norm.isf(ALPHA / (2 * max(n_tests, 1))))


def _array(where: str, what: str, value, shape: tuple, finite: bool = True) -> np.ndarray:
    arr = np.asarray(value)
    if arr.shape != shape or not np.issubdtype(arr.dtype, np.number):
        _fail(where, f"{what} must be a numeric array of shape {shape}, got {arr.dtype} {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        _fail(where, f"{what} has NaN or inf values")
    return arr.astype(float)


def _check_approximation(where: str, approx, dim: int, finite: bool = True) -> None:
    if not isinstance(approx, Approximation):
        _fail(where, f"fit() must return a vibench.Approximation, got {type(approx).__name__}")
    _array(where, "approximation.mean", approx.mean, (dim,), finite)
    cov = _array(where, "approximation.cov", approx.cov, (dim, dim), finite)
    if finite and not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-12):
        _fail(where, "approximation.cov is not symmetric")
    if finite and np.min(np.linalg.eigvalsh(cov)) < -1e-8 * max(1.0, np.max(np.abs(cov))):
        _fail(where, "approximation.cov is not positive semi-definite")
    info = getattr(approx, "info", None)
    if not isinstance(info, dict) or not all(isinstance(k, str) for k in info):
        _fail(where, "approximation.info must be a dict with string keys")
    try:
        json.dumps(jsonable(info, "info", strict=True), allow_nan=False)
    except (TypeError, ValueError) as exc:
        _fail(where, f"approximation.info values must be JSON-serializable (numpy scalars and arrays pass): {exc}")
    for key in ("n_logp", "n_grad"):
        if key in info and not (isinstance(info[key], (int, np.integer)) and info[key] >= 0):
            _fail(where, f"info[{key!r}] must be a non-negative integer count, got {info[key]!r}")
    x = _array(where, "approximation.draws(7, rng)", approx.draws(7, np.random.default_rng(0)), (7, dim), finite)
    logpdf = approx.logpdf(x)
    if approx.has_density:
        _array(where, "approximation.logpdf(x[7, dim])", logpdf, (7,), finite)
    elif logpdf is not None:
        _fail(where, "has_density is False but logpdf() did not return None")


def _supported_task(method: Method, task: Task | None) -> Task:
    """``task``; else the default task; else the first registered task (default size) the method supports."""
    from .registry import get_registry
    from .runner import fit_view

    registry = get_registry()
    if task is not None:
        candidates = iter([task])
    else:
        rest = [name for name in registry.tasks if name != DEFAULT_TASK[0]]
        candidates = (registry.get_task(name, **(DEFAULT_TASK[1] if name == DEFAULT_TASK[0] else {}))
                      for name in [DEFAULT_TASK[0], *rest])
    reasons = []
    for candidate in candidates:
        view = fit_view(candidate)
        supports = getattr(method, "supports", None)
        if not callable(supports):  # optional: a duck-typed method supports every task
            return candidate
        ok = _hidden(f"method {method.name!r}", "supports()", view, lambda: supports(view))
        if ok is True:
            return candidate
        if not isinstance(ok, str) or not ok:
            _fail(f"method {method.name!r}", f"supports() must return True (the bool) or a reason string, got {ok!r}")
        reasons.append(f"{candidate.label}: {ok}")
    _fail(f"method {method.name!r}", "supports() rejects every task offered; pass task=. " + "; ".join(reasons))


def _hidden(where: str, what: str, view: Task, call):
    """``call()``, failing loudly if it read the view's hidden truth (even if it caught the error)."""
    from .runner import TruthAccessError

    try:
        out = call()
    except TruthAccessError as exc:
        _fail(where, f"{what} read task.truth ({exc}); a method must never use the truth it is scored against")
    if view.truth.was_read:
        _fail(where, f"{what} read task.truth (and caught the error); a method must never use the truth it is "
              "scored against")
    return out


class _Harness:
    """The task as the kit's fits see it: truth hidden, fields reset before each fit, and a density
    that also counts the rows it computes however it is called, to catch uncounted evaluations."""

    def __init__(self, task: Task):
        from .runner import fit_view

        self.task, self.raw = task, 0
        inner = task.log_density

        def logp(x):
            self.raw += len(x)
            return inner.logp(x)

        def logp_and_grad(x):
            self.raw += len(x)
            return inner.logp_and_grad(x)

        self.density = LogDensity(inner.dim, logp, logp_and_grad)
        self.view = fit_view(task)
        self.view.log_density = self.density

    def fresh(self) -> Task:
        from .runner import fit_view

        fit_view(self.task, self.view)
        self.view.log_density = self.density
        self.density.reset_counts()
        self.raw = 0
        return self.view

    def cost(self, approx) -> dict[str, Any]:
        """Counted evaluations (``info`` counts win, as in the runner), uncounted ones, iterations."""
        info = getattr(approx, "info", None) or {}
        counted = sum(int(info.get(k, getattr(self.density, k))) for k in ("n_logp", "n_grad"))
        iterations = info.get("iterations")
        iterations = int(iterations) if isinstance(iterations, (int, np.integer)) and not isinstance(iterations, bool) else None
        return {"counted": counted, "raw": self.raw, "iterations": iterations}


def _fit(where: str, method: Method, harness: _Harness, budget: Budget, seed: int, global_seed: int):
    """Fit under ``default_rng(seed)``, with numpy's legacy global state seeded to ``global_seed``;
    return the approximation and its cost."""
    view = harness.fresh()
    saved = np.random.get_state()
    np.random.seed(global_seed)
    try:
        approx = _hidden(where, "fit()", view, lambda: method.fit(view, budget, np.random.default_rng(seed)))
    finally:
        np.random.set_state(saved)
    return approx, harness.cost(approx)


def _check_counted(where: str, cost: dict[str, Any]) -> None:
    raw, counted = cost["raw"], cost["counted"]
    if raw > 0 and counted == 0 or raw > 2 * counted + 10:
        _fail(where, f"fit() evaluated the density at {raw} points but counted {counted}: evaluate through "
              "task.log_density.logp / logp_and_grad (they count), or report the evaluations made elsewhere "
              "as info['n_logp'] / info['n_grad']")


def _check_layout(where: str, approx) -> None:
    if isinstance(approx, DrawsApproximation):
        chains, draws = approx.samples.shape[:2]
        if chains > draws:
            _fail(where, f"samples have {chains} chains of {draws} draws: DrawsApproximation takes "
                  "(chains, draws, dim); are chains and draws swapped?")


def _check_budget(where: str, budget: Budget, small_steps: int, small: dict[str, Any], full: dict[str, Any]) -> str:
    """A smaller budget must cost less, unless the method stopped on its own within it.

    By ``info["iterations"]`` where the method reports it (a fit that converged
    in no more iterations than the small budget allows proves nothing), else by
    counted evaluations.
    """
    if full["iterations"] is not None and small["iterations"] is not None:
        if full["iterations"] <= small_steps:
            return "unmeasured"
        measure = "iterations"
    elif full["counted"]:
        measure = "counted"
    else:
        return "unmeasured"
    if small[measure] >= full[measure]:
        name = "evaluations" if measure == "counted" else measure
        _fail(where, f"ignores its budget: Budget(steps={small_steps}) cost as much as Budget(steps={budget.steps}) "
              f"({name} {small[measure]} vs {full[measure]}); budget.steps must bound the work")
    return "ok"


def check_method(method: Method, *, task: Task | None = None, budget: Budget | None = None, seed: int = 0,
                 mean_tol: float | None = None) -> dict[str, Any]:
    """Check a method against the Method and Approximation contracts (docs/plugins.md).

    Checks the attributes, ``supports()``, that ``Budget(steps=0)`` raises
    :class:`VibenchError`, the approximation's shapes and types, determinism
    (two fits under ``default_rng(seed)`` and different numpy global states
    give the same mean), accuracy, and that ``Budget(steps=1)`` gives a
    well-formed approximation or a clear exception. Accuracy: a sampler needs
    ESS >= :data:`MIN_ESS` and ``mean_err``, ``sd_err`` below ``z / sqrt(ESS)``
    (``z``: Bonferroni over ``2 * dim`` tests at level 1e-3); any other method
    ``mean_err < 0.25`` and ``sd_err < log 2``. The method sees the task as
    the runner shows it: with its truth hidden (reading ``task.truth`` fails
    the check). Every density evaluation must be counted; draws must be laid
    out ``(chains, draws, dim)``; and a smaller budget must cost less.

    Parameters
    ----------
    method : vibench.Method
    task : vibench.Task, optional
        Default: ``gaussian(dim=3, rho=0.5)`` or, if the method does not support
        it, the first registered task (at its default size) that it supports.
    budget : vibench.Budget, optional
        The budget of the accuracy fit; default ``Budget(steps=1000)``. Pass a
        smaller one for slow methods, a larger one for slowly converging ones.
    seed : int
        Seed of the fits' ``numpy.random.default_rng``.
    mean_tol : float, optional
        Override the bound on ``mean_err`` (in posterior standard deviations).

    Returns
    -------
    dict
        ``task``, ``budget``, ``mean_err``, ``sd_err``, ``kl``, ``kl_estimator``,
        ``ess`` (samplers), ``mean_tol``, ``sd_tol``, ``steps1`` (what
        ``Budget(steps=1)`` did: ``"ok"`` or the error) and ``budget_check``
        (``"ok"``, or ``"unmeasured"`` when the method shows neither counted
        evaluations nor ``info["iterations"]``, or refused every small budget).

    Raises
    ------
    AssertionError
        Naming the clause that failed.
    """
    from .scoring.diagnostics import chain_stats
    from .scoring.score import evaluate

    where = f"method {getattr(method, 'name', method)!r}"
    for attr in ("name", "family"):
        if not isinstance(getattr(method, attr, None), str) or not getattr(method, attr):
            _fail(where, f"{attr} must be a non-empty string, got {getattr(method, attr, None)!r}")
    if not isinstance(getattr(method, "steps_meaning", None), str) or not method.steps_meaning:
        warnings.warn(f"{where}: steps_meaning is recommended (what Budget.steps counts); "
                      "vibench shows 'iterations'", stacklevel=2)
    if not callable(getattr(method, "fit", None)):
        _fail(where, "needs a callable fit()")
    try:
        Budget(steps=0)
    except VibenchError:
        pass
    else:
        _fail(where, "Budget(steps=0) was accepted: an invalid budget must raise VibenchError")
    task = _supported_task(method, task)
    budget = budget if budget is not None else Budget(steps=DEFAULT_STEPS)
    where = f"method {method.name!r} on {task.label} with budget {budget}"
    harness = _Harness(task)
    prepare = getattr(method, "prepare", None)
    if callable(prepare):
        _hidden(where, "prepare()", harness.fresh(), lambda: prepare(harness.view))

    (approx, cost), (again, _) = (_fit(where, method, harness, budget, seed, global_seed) for global_seed in (1, 2))
    _check_approximation(where, approx, task.dim)
    _check_counted(where, cost)
    _check_layout(where, approx)
    if not np.array_equal(np.asarray(approx.mean), np.asarray(again.mean)):
        _fail(where, f"two fits with default_rng({seed}) gave different means: draw all randomness from the "
              "rng passed to fit(), never from numpy's global state or a fresh seed")
    report: dict[str, Any] = {"task": task.label, "budget": str(budget), "ess": None}
    if isinstance(approx, DrawsApproximation) or method.family in SAMPLING_FAMILIES:
        samples = approx.samples if isinstance(approx, DrawsApproximation) else approx.draws(1000, np.random.default_rng(0))[None]
        report["ess"] = float(chain_stats(samples).ess_min)
        if not report["ess"] >= MIN_ESS:
            _fail(where, f"ESS {report['ess']:.0f} < {MIN_ESS}: too few effective draws to check accuracy; "
                  "pass a larger budget=")
        report["mean_tol"] = report["sd_tol"] = _z(2 * task.dim) / float(np.sqrt(report["ess"]))
    else:
        report.update(mean_tol=OPTIMIZATION_MEAN_TOL, sd_tol=OPTIMIZATION_SD_TOL)
    try:
        row = evaluate(approx, task, np.random.default_rng(seed + 1), family=method.family)
    except Exception as exc:
        _fail(where, f"vibench.evaluate failed on the approximation: {type(exc).__name__}: {exc}")
    report.update({key: row[key] for key in ("mean_err", "sd_err", "kl", "kl_estimator")})
    if mean_tol is not None:
        report["mean_tol"] = mean_tol
    for key, tol in (("mean_err", "mean_tol"), ("sd_err", "sd_tol")):
        if not row[key] <= report[tol]:
            ess = f" at ESS {report['ess']:.0f}" if report["ess"] else ""
            _fail(where, f"inaccurate: {key} = {row[key]:.3g} > {report[tol]:.3g}{ess}; a larger budget= may help")

    report["budget_check"] = "unmeasured"
    for steps in (1, 10, 100):
        if steps >= budget.steps:
            break
        try:
            small, small_cost = _fit(where, method, harness, Budget(steps=steps), seed, global_seed=1)
        except ConformanceError:
            raise
        except UNCLEAR_ERRORS as exc:
            if steps == 1:
                _fail(where, f"fit with Budget(steps=1) raised {type(exc).__name__}: {exc}; refuse a budget that is "
                      "too small with ValueError or VibenchError and a message naming the smallest budget accepted")
            continue
        except Exception as exc:  # a deliberate refusal: it must say why
            if not str(exc).strip():
                _fail(where, f"fit with Budget(steps={steps}) raised {type(exc).__name__} without a message")
            if steps == 1:
                report["steps1"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
            continue
        if steps == 1:
            _check_approximation(f"{where} (steps=1)", small, task.dim, finite=False)
            report["steps1"] = "ok"
        _check_counted(f"{where} (steps={steps})", small_cost)
        report["budget_check"] = _check_budget(where, budget, steps, small_cost, cost)
        break
    report.setdefault("steps1", "not run (budget has 1 step)")
    return report


def _check_density(where: str, density: LogDensity, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched logp and gradient agree with each other, with single points and with finite differences."""
    n, dim = x.shape
    lp = _array(where, "log_density.logp(x[n, dim])", density.logp(x), (n,))
    value, grad = density.logp_and_grad(x)
    value, grad = _array(where, "logp_and_grad(x)[0]", value, (n,)), _array(where, "logp_and_grad(x)[1]", grad, (n, dim))
    tol = 1e-8 * np.maximum(1.0, np.abs(lp))
    if np.any(np.abs(value - lp) > tol):
        _fail(where, "logp_and_grad(x)[0] disagrees with logp(x)")
    single = np.asarray(density.logp(x[0]))
    if single.shape != () or abs(float(single) - lp[0]) > tol[0]:
        _fail(where, "logp of one point (shape (dim,)) must be a scalar equal to its batched value")
    if np.any(np.abs(density.logp(x[::-1])[::-1] - lp) > tol):
        _fail(where, "logp of a row depends on the other rows of the batch")
    h = 1e-5 * np.maximum(1.0, np.abs(x))
    shift = (h[:, :, None] * np.eye(dim)).reshape(n * dim, dim)
    base = np.repeat(x, dim, axis=0)
    fd = ((density.logp(base + shift) - density.logp(base - shift)).reshape(n, dim)) / (2 * h)
    err = np.abs(fd - grad) / np.maximum(1.0, np.max(np.abs(grad), axis=1, keepdims=True))
    if np.max(err) > 1e-4:
        i, j = np.unravel_index(np.argmax(err), err.shape)
        _fail(where, f"gradient {grad[i, j]:.6g} disagrees with finite differences {fd[i, j]:.6g} "
              f"at point {i}, coordinate {j}")
    return lp, grad


def _check_moments(where: str, truth: Truth, x: np.ndarray, mean_se=None) -> list[int]:
    """z-test draws against the stated mean and covariance; return coordinates too heavy-tailed to test."""
    n, dim = x.shape
    se = truth.sd / np.sqrt(n) if mean_se is None else np.maximum(mean_se, truth.sd / np.sqrt(n))
    zm = np.abs(x.mean(axis=0) - truth.mean) / se
    if np.max(zm) > _z(dim):
        _fail(where, f"draws disagree with truth.mean at coordinate {np.argmax(zm)}: z = {np.max(zm):.1f}")
    y = x - truth.mean
    kurtosis = np.mean(y**4, axis=0) / np.mean(y**2, axis=0) ** 2
    heavy = [int(i) for i in np.flatnonzero(100 * kurtosis > n)]  # too few draws for a CLT on y_i^2
    keep = np.array([i for i in range(dim) if i not in heavy], dtype=int)
    if keep.size == 0:
        return heavy
    cov = truth.cov
    if cov is None:  # only the marginal variances are stated
        rows = cols = keep
    else:
        rows, cols = _pairs(keep, np.random.default_rng(0))
    stated = truth.sd[rows] ** 2 if cov is None else np.asarray(cov)[rows, cols]
    z = np.empty(len(rows))
    for start in range(0, len(rows), 1000):  # bounded temporaries: n x 1000
        part = slice(start, start + 1000)
        prod = y[:, rows[part]] * y[:, cols[part]]
        z[part] = np.abs(prod.mean(axis=0) - stated[part]) / np.maximum(prod.std(axis=0) / np.sqrt(n), 1e-300)
    if np.max(z) > _z(len(rows)):
        k = int(np.argmax(z))
        _fail(where, f"draws disagree with the stated covariance at ({rows[k]}, {cols[k]}): z = {z[k]:.1f}")
    return heavy


#: Most covariance entries ``check_task`` z-tests (all of them up to this many; else a sample).
MAX_PAIRS = 5000


def _pairs(keep: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Covariance entries to test: every (i, j) with i <= j; beyond :data:`MAX_PAIRS`, the diagonal,
    the first off-diagonal and a random sample of the rest, so every coordinate is covered."""
    i, j = np.triu_indices(len(keep))
    if len(i) > MAX_PAIRS:
        near = j - i <= 1
        rest = np.flatnonzero(~near)
        pick = np.sort(rng.choice(rest, size=max(0, MAX_PAIRS - int(near.sum())), replace=False)) \
            if MAX_PAIRS > near.sum() else np.array([], dtype=int)
        chosen = np.concatenate([np.flatnonzero(near), pick])
        i, j = i[chosen], j[chosen]
    return keep[i], keep[j]


def check_task(task: Task, *, n_draws: int = 4000, seed: int = 0) -> dict[str, Any]:
    """Check a task against the Task and Truth contracts (docs/plugins.md).

    Checks field types and shapes; ``initial_point(rng)``; batched ``logp``
    and ``logp_and_grad`` against each other, single points and central finite
    differences; that the truth's kind gives what it promises and matches the
    density (``logp - logpdf = log_evidence``; a ``gaussian`` gradient is
    ``-cov^-1 (x - mean)``); and that exact or reference draws agree with the
    stated moments (Bonferroni z-tests at level 1e-3). Coordinates with sample
    kurtosis above ``n_draws / 100`` are too heavy-tailed for a z-test of their
    second moments: they are reported in ``heavy_tailed``, not tested. The
    task's evaluation counters are restored.

    Parameters
    ----------
    task : vibench.Task
    n_draws : int
        Exact draws used to test the stated moments.
    seed : int
        Seed of every ``numpy.random.default_rng`` used.

    Returns
    -------
    dict
        ``task``, ``dim``, ``kind``, ``heavy_tailed`` and the ``checked`` clauses.

    Raises
    ------
    AssertionError
        Naming the clause that failed.
    """
    where = f"task {getattr(task, 'label', task)!r}"
    if not isinstance(task, Task) or not isinstance(task.log_density, LogDensity) or not isinstance(task.truth, Truth):
        _fail(where, "must be a vibench.Task with a vibench.LogDensity and a vibench.Truth")
    if not (isinstance(task.name, str) and task.name and all(isinstance(a, dict) for a in (task.params, task.tags, task.data))):
        _fail(where, "name must be a non-empty string; params, tags and data dicts")
    density, truth, dim = task.log_density, task.truth, task.dim
    if truth.kind not in KINDS or truth.dim != dim:
        _fail(where, f"truth.kind must be one of {KINDS} and truth.dim ({truth.dim}) equal task.dim ({dim})")
    saved, checked, heavy = density.counts(), ["types"], []
    try:
        mean, sd = _array(where, "truth.mean", truth.mean, (dim,)), _array(where, "truth.sd", truth.sd, (dim,))
        if np.any(sd <= 0):
            _fail(where, "truth.sd must be > 0")
        if truth.cov is not None:
            cov = _array(where, "truth.cov", truth.cov, (dim, dim))
            if not (np.allclose(cov, cov.T) and np.allclose(np.diag(cov), sd**2, rtol=1e-6)):
                _fail(where, "truth.cov must be symmetric with diagonal truth.sd**2")
            if np.min(np.linalg.eigvalsh(cov)) <= 0:
                _fail(where, "truth.cov must be positive definite")
        if truth.kind == "gaussian" and truth.cov is None:
            _fail(where, "a truth of kind 'gaussian' must give cov")
        if truth.kind == "exact" and (truth.logpdf is None or truth.sample is None):
            _fail(where, "a truth of kind 'exact' must give a normalized logpdf and an exact sample(n, rng)")
        points = np.array([_array(where, "initial_point(rng)", task.initial_point(np.random.default_rng(seed + i)),
                                  (dim,)) for i in range(4)])
        if not np.array_equal(points[0], task.initial_point(np.random.default_rng(seed))):
            _fail(where, "initial_point(rng) must depend only on rng")
        if truth.sample is not None:
            draws = _array(where, "truth.sample(n, rng)", truth.sample(n_draws, np.random.default_rng(seed)), (n_draws, dim))
            if not np.array_equal(draws[:5], truth.sample(n_draws, np.random.default_rng(seed))[:5]):
                _fail(where, "truth.sample(n, rng) must depend only on rng")
            heavy = _check_moments(f"{where}: truth.sample", truth, draws)
            points = np.concatenate([points, draws[:4]])
            checked.append("exact draws vs stated moments")
        if truth.draws is not None:
            ref = _array(where, "truth.draws", truth.draws, (np.shape(truth.draws)[0], dim))
            heavy = _check_moments(f"{where}: truth.draws", truth, ref, mean_se=truth.mean_se)
            checked.append("reference draws vs stated moments")
        lp, grad = _check_density(where, density, points)
        checked.append("batched logp, gradient vs finite differences")
        if truth.kind == "gaussian":
            expected = -np.linalg.solve(truth.cov, (points - mean).T).T
            if np.max(np.abs(expected - grad)) > 1e-6 * max(1.0, np.max(np.abs(grad))):
                _fail(where, "truth of kind 'gaussian' but the gradient is not -cov^-1 (x - mean)")
            checked.append("gaussian truth vs density")
        if truth.logpdf is not None:
            diff = lp - _array(where, "truth.logpdf(x)", truth.logpdf(points), (len(points),))
            tol = 1e-6 * max(1.0, np.max(np.abs(lp)))
            if np.ptp(diff) > tol:
                _fail(where, "logp - truth.logpdf is not constant: they are not one density up to log Z")
            if truth.log_evidence is not None and abs(diff[0] - truth.log_evidence) > tol:
                _fail(where, f"truth.log_evidence is {truth.log_evidence:.6g} but logp - truth.logpdf is {diff[0]:.6g}")
            checked.append("logpdf vs logp and log_evidence")
    finally:
        density.n_logp, density.n_grad = saved["n_logp"], saved["n_grad"]
    return {"task": task.label, "dim": dim, "kind": truth.kind, "heavy_tailed": heavy, "checked": checked}
