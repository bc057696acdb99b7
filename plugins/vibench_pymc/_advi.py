"""ADVI and full-rank ADVI through PyMC's ``Inference.fit``, compiled once per task.

``pm.fit`` builds and compiles a new step function on every call. Here the
``pm.ADVI``/``pm.FullRankADVI`` object is built once per task (``fit(n=0)``
compiles its step function, timed as compile), and every later fit restores
the step function's shared state (variational parameters, optimizer
accumulators) to its initial values, reseeds its random generators from the
fit's ``rng``, sets the mean to ``task.initial_point(rng)`` and runs
``Inference.refine(steps)`` -- the same loop ``pm.fit`` runs, with the same
defaults (adagrad_window optimizer, one Monte Carlo draw per iteration).
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

__all__ = ["fit_advi"]

#: Monte Carlo draws per ADVI iteration (pm.fit's default).
OBJ_N_MC = 1
#: Iterations averaged for ``info["elbo_tail"]``.
ELBO_TAIL = 100


class _Deadline:
    """A ``pm.fit`` callback that counts iterations and stops at a wall-clock deadline."""

    def __init__(self):
        self.deadline: float | None = None
        self.count = 0

    def __call__(self, approx, losses, i) -> None:
        self.count += 1
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise StopIteration("vibench: budget max_seconds reached")


@dataclass
class _Compiled:
    """One task's compiled ADVI: the Inference object and what resets it."""

    inference: Any
    callback: _Deadline
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
    inference = cls(model=bundle.model)
    inference.fit(n=0, progressbar=False, callbacks=[callback], compile_kwargs={"mode": mode})
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
    return _Compiled(inference, callback, group.params_dict["mu"], snapshot, rngs, moments, order)


def _json_float(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def fit_advi(task: Task, budget: Budget, rng: np.random.Generator, kind: str = "advi") -> GaussianApproximation:
    """Run PyMC (full-rank) ADVI on ``task`` for ``budget.steps`` iterations.

    Parameters
    ----------
    task : Task
    budget : Budget
        ``steps`` iterations; ``max_seconds`` stops early (checked every iteration).
    rng : numpy.random.Generator
        Seeds PyMC's random draws and the starting mean.
    kind : {"advi", "fullrank_advi"}

    Returns
    -------
    GaussianApproximation
        On the task's unconstrained vector, in the task's coordinate order.
    """
    t0 = time.perf_counter()
    bundle = pymc_bridge.model_for(task)  # the first call also pays ``import pymc``, counted as compile
    pm = pymc_bridge.import_pymc()
    mode = mode_for(kind, bundle.source)
    compiled: _Compiled = bundle.compiled((kind, mode), lambda: _compile(bundle, kind, mode))
    compile_s = bundle.take_compile_s()
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
    callback.count = 0
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
    info: dict[str, Any] = {
        "iterations": iterations,
        "stopped_early": iterations < budget.steps,
        "elbo_tail": _json_float(-np.mean(losses[-ELBO_TAIL:])) if losses.size else None,
        "obj_n_mc": OBJ_N_MC,
        "seed": seed,
        "compile_s": compile_s,
        "compiled": compile_s > 0,
        "pytensor_mode": mode,
        "model_source": bundle.source,
    }
    if bundle.source == "pymc_model":
        info["n_grad"] = iterations * OBJ_N_MC
    if kind == "fullrank_advi":
        chol = np.asarray(second)
        cov = (chol @ chol.T)[np.ix_(order, order)]
        approx = GaussianApproximation(mean, cov=cov, info=info)
    else:
        approx = GaussianApproximation(mean, sd=np.asarray(second)[order], info=info)
    approx.info["fit_s"] = time.perf_counter() - t_fit
    approx.info["total_s"] = time.perf_counter() - t0
    return approx
