"""``check_method``: a method against the Method and Approximation contracts (docs/plugins.md)."""

from __future__ import annotations

import json
import warnings
from typing import Any, Callable

import numpy as np

from ..approximation import Approximation, DrawsApproximation
from ..density import LogDensity
from ..errors import VibenchError
from ..jsonrow import jsonable
from ..method import Budget, Method
from ..task import Task
from ._common import ConformanceError, as_array, fail
from .accuracy import check_accuracy

__all__ = ["check_method", "DEFAULT_TASK", "DEFAULT_STEPS", "UNCLEAR_ERRORS"]

#: The task ``check_method`` fits unless told otherwise: AR(1) Gaussian, d = 3, rho = 0.5.
DEFAULT_TASK = ("gaussian", {"dim": 3, "rho": 0.5})
#: ``Budget.steps`` when the caller passes no budget.
DEFAULT_STEPS = 1000
#: Exception types that betray a programming error rather than a deliberate, explained refusal.
UNCLEAR_ERRORS = (AttributeError, IndexError, KeyError, NameError, TypeError, ZeroDivisionError, AssertionError)


def _check_approximation(where: str, approx, dim: int, finite: bool = True) -> None:
    if not isinstance(approx, Approximation):
        fail(where, f"fit() must return a vibench.Approximation, got {type(approx).__name__}")
    as_array(where, "approximation.mean", approx.mean, (dim,), finite)
    cov = as_array(where, "approximation.cov", approx.cov, (dim, dim), finite)
    if finite and not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-12):
        fail(where, "approximation.cov is not symmetric")
    if finite and np.min(np.linalg.eigvalsh(cov)) < -1e-8 * max(1.0, np.max(np.abs(cov))):
        fail(where, "approximation.cov is not positive semi-definite")
    info = getattr(approx, "info", None)
    if not isinstance(info, dict) or not all(isinstance(k, str) for k in info):
        fail(where, "approximation.info must be a dict with string keys")
    try:
        json.dumps(jsonable(info, "info", strict=True), allow_nan=False)
    except (TypeError, ValueError) as exc:
        fail(where, f"approximation.info values must be JSON-serializable (numpy scalars and arrays pass): {exc}")
    for key in ("n_logp", "n_grad"):
        if key in info and not (isinstance(info[key], (int, np.integer)) and info[key] >= 0):
            fail(where, f"info[{key!r}] must be a non-negative integer count, got {info[key]!r}")
    x = as_array(where, "approximation.draws(7, rng)", approx.draws(7, np.random.default_rng(0)), (7, dim), finite)
    logpdf = approx.logpdf(x)
    if approx.has_density:
        as_array(where, "approximation.logpdf(x[7, dim])", logpdf, (7,), finite)
    elif logpdf is not None:
        fail(where, "has_density is False but logpdf() did not return None")


def _supported_task(method: Method, task: Task | None) -> Task:
    """``task``; else the default task; else the first registered task (default size) the method supports."""
    from ..registry import get_registry
    from ..runner import fit_view

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
            fail(f"method {method.name!r}", f"supports() must return True (the bool) or a reason string, got {ok!r}")
        reasons.append(f"{candidate.label}: {ok}")
    fail(f"method {method.name!r}", "supports() rejects every task offered; pass task=. " + "; ".join(reasons))


def _hidden(where: str, what: str, view: Task, call: Callable[[], Any]):
    """``call()``, failing loudly if it read the view's hidden truth (even if it caught the error)."""
    from ..runner import TruthAccessError

    try:
        out = call()
    except TruthAccessError as exc:
        fail(where, f"{what} read task.truth ({exc}); a method must never use the truth it is scored against")
    if view.truth.was_read:
        fail(where, f"{what} read task.truth (and caught the error); a method must never use the truth it is "
             "scored against")
    return out


class _Harness:
    """The task as the kit's fits see it: truth hidden, fields reset before each fit, and a density
    that also counts the rows it computes however it is called, to catch uncounted evaluations."""

    def __init__(self, task: Task):
        from ..runner import fit_view

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
        from ..runner import fit_view

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
        fail(where, f"fit() evaluated the density at {raw} points but counted {counted}: evaluate through "
             "task.log_density.logp / logp_and_grad (they count), or report the evaluations made elsewhere "
             "as info['n_logp'] / info['n_grad']")


def _check_layout(where: str, approx) -> None:
    if isinstance(approx, DrawsApproximation):
        chains, draws = approx.samples.shape[:2]
        if chains > draws:
            fail(where, f"samples have {chains} chains of {draws} draws: DrawsApproximation takes "
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
        fail(where, f"ignores its budget: Budget(steps={small_steps}) cost as much as Budget(steps={budget.steps}) "
             f"({name} {small[measure]} vs {full[measure]}); budget.steps must bound the work")
    return "ok"


def _check_attributes(method: Method) -> None:
    where = f"method {getattr(method, 'name', method)!r}"
    for attr in ("name", "family"):
        if not isinstance(getattr(method, attr, None), str) or not getattr(method, attr):
            fail(where, f"{attr} must be a non-empty string, got {getattr(method, attr, None)!r}")
    if not isinstance(getattr(method, "steps_meaning", None), str) or not method.steps_meaning:
        warnings.warn(f"{where}: steps_meaning is recommended (what Budget.steps counts); "
                      "vibench shows 'iterations'", stacklevel=3)
    if not callable(getattr(method, "fit", None)):
        fail(where, "needs a callable fit()")
    try:
        Budget(steps=0)
    except VibenchError:
        pass
    else:
        fail(where, "Budget(steps=0) was accepted: an invalid budget must raise VibenchError")


def _small_budgets(where: str, method: Method, harness: _Harness, budget: Budget, seed: int, dim: int,
                   cost: dict[str, Any], report: dict[str, Any]) -> None:
    """``Budget(steps=1)`` gives a well-formed approximation or a clear refusal; a smaller budget costs less."""
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
                fail(where, f"fit with Budget(steps=1) raised {type(exc).__name__}: {exc}; refuse a budget that is "
                     "too small with ValueError or VibenchError and a message naming the smallest budget accepted")
            continue
        except Exception as exc:  # a deliberate refusal: it must say why
            if not str(exc).strip():
                fail(where, f"fit with Budget(steps={steps}) raised {type(exc).__name__} without a message")
            if steps == 1:
                report["steps1"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
            continue
        if steps == 1:
            _check_approximation(f"{where} (steps=1)", small, dim, finite=False)
            report["steps1"] = "ok"
        _check_counted(f"{where} (steps={steps})", small_cost)
        report["budget_check"] = _check_budget(where, budget, steps, small_cost, cost)
        break
    report.setdefault("steps1", "not run (budget has 1 step)")


def check_method(method: Method, *, task: Task | None = None, budget: Budget | None = None, seed: int = 0,
                 mean_tol: float | None = None, exact_draws: float | None = None) -> dict[str, Any]:
    """Check a method against the Method and Approximation contracts (docs/plugins.md).

    Checks the attributes, ``supports()``, that ``Budget(steps=0)`` raises
    :class:`VibenchError`, the approximation's shapes and types, determinism
    (two fits under ``default_rng(seed)`` and different numpy global states
    give the same mean), accuracy, and that ``Budget(steps=1)`` gives a
    well-formed approximation or a clear exception. The method sees the task
    as the runner shows it: with its truth hidden (reading ``task.truth``
    fails the check). Every density evaluation must be counted; draws must be
    laid out ``(chains, draws, dim)``; and a smaller budget must cost less.

    Accuracy is held to what the method's answer claims
    (:mod:`vibench.testing.accuracy`): draws to their ESS (every coordinate's
    mean and sd within ``z`` Monte Carlo standard errors of the truth's, ``z``
    Bonferroni over ``2 * dim`` tests at level 1e-3, ESS >= :data:`MIN_ESS`);
    a Gaussian approximation on a Gaussian truth to its family's closed-form
    optimum (exact for full-rank and Laplace, the mean-field optimum for
    mean-field families): excess KL at most 1e-6 nats per coordinate when the
    fit does not depend on the seed, else at most what the family's fit to
    ``exact_draws`` exact draws exceeds with probability 1e-3; anything else
    to sanity bounds (``mean_err <= 0.25``, ``sd_err <= 0.5``).

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
        Override the bound on ``mean_err`` (in posterior standard deviations)
        of the draws and sanity rules; under the KL rule, an extra bound.
    exact_draws : float, optional
        How many exact draws a seed-dependent fit's answer claims to be worth
        (default :data:`~vibench.testing.accuracy.EXACT_DRAWS`, 200): it sets
        the excess KL allowed to a stochastic optimizer on a Gaussian truth.

    Returns
    -------
    dict
        ``task``, ``budget``, ``mean_err``, ``sd_err``, ``kl``, ``kl_estimator``,
        ``ess`` (samplers), ``rule`` (``"ess"``, ``"closed-form"``,
        ``"exact-draws"`` or ``"sanity"``) with its tolerances (``mean_tol``,
        ``sd_tol``, ``z``; or ``kl_floor``, ``kl_excess``, ``kl_tol``,
        ``seed_kl``), ``steps1`` (what ``Budget(steps=1)`` did: ``"ok"`` or
        the error) and ``budget_check`` (``"ok"``, or ``"unmeasured"`` when the
        method shows neither counted evaluations nor ``info["iterations"]``,
        or refused every small budget).

    Raises
    ------
    AssertionError
        Naming the clause that failed.
    """
    from ..scoring.score import evaluate

    _check_attributes(method)
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
        fail(where, f"two fits with default_rng({seed}) gave different means: draw all randomness from the "
             "rng passed to fit(), never from numpy's global state or a fresh seed")
    report: dict[str, Any] = {"task": task.label, "budget": str(budget), "ess": None}
    try:
        row = evaluate(approx, task, np.random.default_rng(seed + 1), family=method.family)
    except Exception as exc:
        fail(where, f"vibench.evaluate failed on the approximation: {type(exc).__name__}: {exc}")
    report.update({key: row[key] for key in ("mean_err", "sd_err", "kl", "kl_estimator")})

    def refit() -> Approximation:
        other, other_cost = _fit(where, method, harness, budget, seed + 1, global_seed=1)
        _check_approximation(f"{where} (seed {seed + 1})", other, task.dim)
        return other

    report.update(check_accuracy(where, method.family, approx, row, task.truth, refit, exact_draws=exact_draws,
                                 mean_tol=mean_tol))
    _small_budgets(where, method, harness, budget, seed, task.dim, cost, report)
    return report
