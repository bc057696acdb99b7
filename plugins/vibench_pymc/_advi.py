"""ADVI and full-rank ADVI through PyMC's ``Inference.fit``, compiled once per task.

``pm.fit`` builds and compiles a new step function on every call. Here the
``pm.ADVI``/``pm.FullRankADVI`` object is built once per task by
:func:`prepare_advi` (``fit(n=0)`` compiles its step function; it and the
moments function are called once so NUMBA JITs them, and a throwaway
:data:`WARM_STEPS`-iteration fit warms ``refine``), and every fit restores the
step function's shared state (variational parameters, optimizer accumulators)
to its initial values, reseeds its random generators from the fit's ``rng``,
sets the mean to ``task.initial_point(rng)`` and runs
``Inference.refine(steps)`` -- the same loop ``pm.fit`` runs, with the same
defaults (adagrad_window optimizer, learning rate 1e-3, one Monte Carlo draw
per iteration) -- until ``pm.callbacks.CheckParametersConvergence`` stops it,
as ``pm.fit``'s users stop it, or ``steps`` run out.

The check's settings were measured on the smoke suite's tasks (one Monte
Carlo draw per step keeps the parameters jittering: at stationarity they
move about 0.005 per 100 iterations and 0.01-0.03 per 1,000, in the largest
coordinate). PyMC's defaults (``every=100, tolerance=1e-3, diff="relative"``)
stopped 2 of 18 tasks within 100,000 iterations (relative change is
unbounded near a zero parameter, and 1e-3 is below the jitter); ``every=100,
tolerance=0.01, absolute`` stops all, but early (linear_regression dim=2:
KL 0.50 where 100,000 iterations reach 0.023); ``every=1000,
tolerance=0.02, absolute`` stops 16 of 18 (meanfield) and 15 of 18
(fullrank) after 10,000-70,000 iterations with KL within about 0.3 nats
(mostly 0.05) of where 100,000 iterations end. It does not stop within
100,000 on funnel dim=10 and centered eight schools (both still drifting)
or, fullrank, gaussian dim=50 (1,275 Cholesky entries, still improving).
pm.fit's learning rate (1e-3) is why it takes that many: 1e-2 gets there
~10x sooner but noisier, 1e-1 is noisier still; the default is kept, as
pm.fit's users keep it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vibench import pymc_bridge
from vibench.approximation import GaussianApproximation
from vibench.method import Budget
from vibench.task import Task

from .modes import mode_for

__all__ = ["fit_advi", "prepare_advi"]

#: Monte Carlo draws per ADVI iteration (pm.fit's default).
OBJ_N_MC = 1
#: Iterations averaged for ``info["elbo_tail"]``.
ELBO_TAIL = 100
#: Iterations of the throwaway fit in :func:`prepare_advi`.
WARM_STEPS = 10
#: ``CheckParametersConvergence(every=CHECK_EVERY, tolerance=CHECK_TOLERANCE, diff=CHECK_DIFF)``
#: (absolute change of every parameter over ``every`` iterations, infinity norm);
#: see the module docstring for how they were chosen.
CHECK_EVERY = 1000
CHECK_TOLERANCE = 0.02
CHECK_DIFF = "absolute"


class _Deadline:
    """A ``pm.fit`` callback that counts iterations and stops at a wall-clock deadline."""

    def __init__(self):
        self.deadline: float | None = None
        self.count = 0

    def __call__(self, approx, losses, i) -> None:
        self.count += 1
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise StopIteration("vibench: budget max_seconds reached")


class _Convergence:
    """A ``pm.callbacks.CheckParametersConvergence`` that remembers the iteration it stopped at."""

    def __init__(self, check):
        self.check = check
        self.stopped_at: int | None = None

    def reset(self) -> None:
        """Forget the previous fit's parameters and stop."""
        self.check.prev = None
        self.stopped_at = None

    def __call__(self, approx, losses, i) -> None:
        try:
            self.check(approx, losses, i)
        except StopIteration:
            self.stopped_at = int(i)
            raise


@dataclass
class _Compiled:
    """One task's compiled ADVI: the Inference object and what resets it."""

    inference: Any
    callback: _Deadline
    convergence: _Convergence
    mu: Any
    snapshot: dict = field(default_factory=dict)
    rngs: list = field(default_factory=list)
    moments: Any = None
    order: np.ndarray | None = None


def _compile(bundle: pymc_bridge.PyMCBundle, kind: str, mode: str) -> _Compiled:
    """Build the Inference object, compile its step and moment functions, snapshot its state."""
    pm = pymc_bridge.import_pymc()
    import pytensor
    from pytensor.tensor.random.type import RandomGeneratorType

    cls = {"advi": pm.ADVI, "fullrank_advi": pm.FullRankADVI}[kind]
    callback = _Deadline()
    check = pm.callbacks.CheckParametersConvergence(every=CHECK_EVERY, tolerance=CHECK_TOLERANCE, diff=CHECK_DIFF)
    convergence = _Convergence(check)
    inference = cls(model=bundle.model)
    # Callbacks given here are the ones every ``refine`` runs: the deadline first (it counts).
    inference.fit(n=0, progressbar=False, callbacks=[callback, convergence], compile_kwargs={"mode": mode})
    group = inference.approx.groups[0]
    second = group.L if kind == "fullrank_advi" else group.std
    moments = pytensor.function([], [group.mean, second], mode=mode)
    step = inference.state.step
    shared = step.get_shared()
    rngs = [v for v in shared if isinstance(v.type, RandomGeneratorType)]
    snapshot = {v: v.get_value(borrow=False) for v in shared if not isinstance(v.type, RandomGeneratorType)}
    step()  # first calls JIT-compile under NUMBA; every fit restores the snapshot
    moments()
    order = np.empty(bundle.dim, dtype=int)  # where each task coordinate sits in ADVI's vector
    for name, slc, _ in bundle.layout:
        advi_slice = group.ordering[name][1]
        order[slc] = np.arange(advi_slice.start, advi_slice.stop)
    return _Compiled(inference, callback, convergence, group.params_dict["mu"], snapshot, rngs, moments, order)


def _prepared(task: Task, kind: str) -> _Compiled:
    bundle = pymc_bridge.model_for(task)
    mode = mode_for(kind, bundle.source)

    def build() -> _Compiled:
        compiled = _compile(bundle, kind, mode)
        _run(task, bundle, compiled, Budget(steps=WARM_STEPS), np.random.default_rng(0), kind)  # warms refine
        return compiled

    return bundle.compiled((kind, mode), build)


def prepare_advi(task: Task, kind: str = "advi") -> None:
    """Compile and warm everything :func:`fit_advi` uses on ``task`` (cached per task object).

    Parameters
    ----------
    task : Task
    kind : {"advi", "fullrank_advi"}
    """
    _prepared(task, kind)


def _run(task: Task, bundle, compiled: _Compiled, budget: Budget, rng: np.random.Generator, kind: str):
    """Reset ``compiled`` to a fresh start, refine up to ``budget.steps`` and return the approximation."""
    pm = pymc_bridge.import_pymc()
    t_fit = time.perf_counter()
    seed = int(rng.integers(2**31))
    x0 = np.asarray(task.initial_point(rng), dtype=float)
    for var, value in compiled.snapshot.items():
        var.set_value(value)  # copies (borrow=False)
    pm.pytensorf.reseed_rngs(compiled.rngs, seed)
    mu = np.empty(bundle.dim)
    mu[compiled.order] = x0
    compiled.mu.set_value(mu.astype(compiled.mu.dtype))

    inference, callback = compiled.inference, compiled.callback
    inference.hist = np.asarray(())
    inference.state = inference.state._replace(i=0)  # refine numbers iterations on from the last fit's
    callback.count = 0
    compiled.convergence.reset()
    # PyMC's interrupt message indexes past the loss history when n < 10.
    use_deadline = budget.max_seconds is not None and budget.steps >= 10
    callback.deadline = t_fit + budget.max_seconds if use_deadline else None
    with pymc_bridge.quiet_pymc():
        inference.refine(budget.steps, progressbar=False)
    callback.deadline = None

    mean_a, second = compiled.moments()
    order = compiled.order
    mean = np.asarray(mean_a)[order]
    losses = np.asarray(inference.hist, dtype=float)
    iterations = int(callback.count)
    converged = compiled.convergence.stopped_at is not None
    info: dict[str, Any] = {
        "iterations": iterations,
        "converged": converged,
        "stopped_early": iterations < budget.steps,
        "elbo_tail": float(-np.mean(losses[-ELBO_TAIL:])) if losses.size else None,  # NaN -> null by the runner
        "obj_n_mc": OBJ_N_MC,
        "seed": seed,
        "pytensor_mode": mode_for(kind, bundle.source),
        "model_source": bundle.source,
    }
    if bundle.source == "pymc_model":
        info["n_grad"] = iterations * OBJ_N_MC
    if kind == "fullrank_advi":
        chol = np.asarray(second)
        cov = (chol @ chol.T)[np.ix_(order, order)]
        return GaussianApproximation(mean, cov=cov, info=info)
    return GaussianApproximation(mean, sd=np.asarray(second)[order], info=info)


def fit_advi(task: Task, budget: Budget, rng: np.random.Generator, kind: str = "advi") -> GaussianApproximation:
    """Run PyMC (full-rank) ADVI on ``task`` until its convergence check stops it or ``budget.steps`` run out.

    Parameters
    ----------
    task : Task
    budget : Budget
        At most ``steps`` iterations; ``max_seconds`` stops early (checked every iteration).
    rng : numpy.random.Generator
        Seeds PyMC's random draws and the starting mean.
    kind : {"advi", "fullrank_advi"}

    Returns
    -------
    GaussianApproximation
        On the task's unconstrained vector, in the task's coordinate order.
        ``info["converged"]`` is ``True`` only when ``CheckParametersConvergence``
        stopped the fit; ``info["setup_s"]`` is the time spent preparing
        ``task`` (:func:`prepare_advi`) when nobody had, else 0.
    """
    t0 = time.perf_counter()
    bundle = pymc_bridge.model_for(task)
    built = (kind, mode_for(kind, bundle.source)) not in bundle.extras
    compiled = _prepared(task, kind)
    setup_s = time.perf_counter() - t0
    approx = _run(task, bundle, compiled, budget, rng, kind)
    approx.info["compiled"] = built
    approx.info["setup_s"] = setup_s
    return approx
