"""NUTS through ``pm.sample`` on the task's compiled model, sequential chains on one core.

``pm.sample`` would compile ``logp_dlogp`` anew on every call; here the NUTS
step is built on the task's cached ``logp_dlogp`` function (see
:func:`vibench.pymc_bridge.model_for`) with the potential PyMC's default
``jitter+adapt_diag`` init builds, except that chains start at
``task.initial_point(rng)``. R-hat and ESS are not computed here: vibench's scoring computes them
from the draws for every sampler alike (vibench/scoring/diagnostics.py).

Set-up, not fitting (:func:`prepare_nuts`, once per task): ``import pymc``,
the model, ``logp_dlogp`` and the trace's point function compiled and called
once (NUMBA JITs on first call), and one throwaway ``pm.sample`` of
:data:`WARM_STEPS` tuning and draws per chain, so
the first-use imports and JIT of sampling are not charged to the
first cell. What ``pm.sample`` still compiles on every call (one initial-point
function per chain) is timed -- from the call until it sets up the chains'
traces -- and reported as ``info["setup_s"]``.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from vibench import pymc_bridge
from vibench.approximation import DrawsApproximation
from vibench.method import Budget
from vibench.task import Task

from .modes import mode_for

__all__ = ["CHAINS", "WARM_STEPS", "fit_nuts", "prepare_nuts"]

#: ``pm.sample``'s default on a machine with 4 or more cores: ``chains = max(2, cores)``.
CHAINS = 4
#: Tuning iterations and draws per chain, and chains, of the throwaway ``pm.sample`` in :func:`prepare_nuts`.
WARM_STEPS, WARM_CHAINS = 10, 2


class _Monitor:
    """A ``pm.sample`` callback: counts iterations and leapfrog steps of every chain and,
    given ``seconds``, interrupts chain ``c`` of ``n`` after ``(c + 1) / n`` of them."""

    def __init__(self, start: float, seconds: float | None, chains: int):
        self.start, self.seconds, self.chains = start, seconds, chains
        self.iterations = 0
        self.leapfrog = 0

    def __call__(self, trace, draw) -> None:
        self.iterations += 1
        self.leapfrog += int(draw.stats[0]["tree_size"])
        if self.seconds and time.perf_counter() > self.start + self.seconds * (draw.chain + 1) / self.chains:
            raise KeyboardInterrupt  # pm.sample ends this chain and keeps its draws


@functools.lru_cache(maxsize=None)
def _trace_class():
    """``NDArray`` whose copies reuse its compiled point function (``pm.sample`` copies one per chain)."""
    from pymc.backends.ndarray import NDArray

    class SharedFnTrace(NDArray):
        """A trace template: ``copy`` gives an empty trace on the same compiled function,
        and the template remembers when ``pm.sample`` first copied it."""

        copied_at: float | None = None

        def __copy__(self):
            if self.copied_at is None:
                self.copied_at = time.perf_counter()
            return type(self)(
                model=self.model, vars=self.vars, fn=self.fn, var_shapes=self.var_shapes, var_dtypes=self.var_dtypes
            )

    return SharedFnTrace


@dataclass
class _Prepared:
    """What every fit on one task reuses."""

    logp_dlogp: Any
    trace: Any
    initial_point: dict
    mode: str
    constrain: Any = None


def _constrainer(model) -> Any:
    """A compiled map from the value variables to every free RV's constrained value, or ``None``.

    ``None`` when no transform's bounds depend on another variable: then the
    unconstrained values go to ``pm.sample`` as they are.
    """
    import pytensor
    from pytensor.graph.traversal import ancestors

    free = set(model.free_RVs)
    dependent = [rv for rv in model.free_RVs
                 if model.rvs_to_transforms.get(rv) is not None
                 and free & set(ancestors(rv.owner.inputs))]
    if not dependent:
        return None
    outputs = model.replace_rvs_by_values(model.free_RVs)
    fn = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
    names = [rv.name for rv in model.free_RVs]
    return lambda values: dict(zip(names, fn(*values)))


def _initvals(bundle: pymc_bridge.PyMCBundle, x: np.ndarray, constrain=None) -> dict[str, np.ndarray]:
    """``pm.sample`` initial values for flat unconstrained ``x``.

    Keyed by value-variable name (``"tau_log__"``): PyMC maps them back through
    their transforms. Where a transform's bounds depend on another variable
    (GARCH's ``beta1`` on ``(0, 1 - alpha1)``) PyMC refuses that ("Initial value
    of beta1 depends on other random variables"), so ``constrain`` (from
    :func:`_constrainer`) gives the constrained values, keyed by RV name.
    """
    values = {name: np.reshape(x[slc], shape) for name, slc, shape in bundle.layout}
    if constrain is None:
        return values
    return constrain([values[v.name] for v in bundle.model.value_vars])


def prepare_nuts(task: Task) -> None:
    """Compile and warm everything :func:`fit_nuts` uses on ``task`` (cached per task object).

    Parameters
    ----------
    task : Task
    """
    _prepared(task)


def _prepared(task: Task) -> _Prepared:
    bundle = pymc_bridge.model_for(task)
    mode = mode_for("nuts", bundle.source)

    def build() -> _Prepared:
        model = bundle.model
        point = model.initial_point()
        trace = _trace_class()(model=model, test_point=point)  # compiles the trace's point function
        prepared = _Prepared(bundle.logp_dlogp(mode), trace, point, mode, _constrainer(model))
        # A throwaway run pays pm.sample's and ArviZ's first-use imports and JIT.
        _sample(task, bundle, prepared, WARM_STEPS, WARM_CHAINS, np.random.default_rng(0), None)
        return prepared

    return bundle.compiled(("nuts", mode), build)


def _sample(task, bundle, prepared: _Prepared, steps: int, chains: int, rng, max_seconds) -> dict[str, Any]:
    """One ``pm.sample`` run: draws ``(chains, draws, dim)``, diagnostics and counts in a dict."""
    pm = pymc_bridge.import_pymc()
    from pymc.step_methods.hmc.quadpotential import QuadPotentialDiagAdapt

    t_fit = time.perf_counter()
    seed = int(rng.integers(2**31))
    starts = np.array([task.initial_point(rng) for _ in range(chains)], dtype=float)
    monitor = _Monitor(t_fit, max_seconds, chains)
    with pymc_bridge.quiet_pymc():
        step_rng = np.random.default_rng(seed)
        potential = QuadPotentialDiagAdapt(
            bundle.dim, starts.mean(axis=0), np.ones(bundle.dim), 10, rng=step_rng.spawn(1)[0]
        )
        step = pm.NUTS(
            model=bundle.model,
            potential=potential,
            logp_dlogp_func=prepared.logp_dlogp,
            initial_point=prepared.initial_point,
            rng=step_rng,
        )
        prepared.trace.copied_at = None
        t_call = time.perf_counter()
        trace = pm.sample(
            draws=steps,
            tune=steps,
            chains=chains,
            cores=1,
            step=step,
            initvals=[_initvals(bundle, s, prepared.constrain) for s in starts],
            random_seed=seed,
            model=bundle.model,
            trace=prepared.trace,
            progressbar=False,
            compute_convergence_checks=False,
            discard_tuned_samples=False,
            return_inferencedata=False,
            callback=monitor,
        )
    presample_s = (prepared.trace.copied_at or t_call) - t_call
    n_tune = min(steps, len(trace))
    if len(trace) <= n_tune:
        raise RuntimeError(
            f"pymc-nuts: no draws after tuning within max_seconds={max_seconds} "
            f"({len(trace)} of {steps} tuning iterations done)"
        )
    values = {name: np.stack(trace.get_values(name, combine=False)) for name, _, _ in bundle.layout}
    flat = np.concatenate([v.reshape(v.shape[:2] + (-1,)) for v in values.values()], axis=-1)
    samples = flat[:, n_tune:]
    tree_size = np.stack(trace.get_sampler_stats("tree_size", combine=False))
    diverging = np.stack(trace.get_sampler_stats("diverging", combine=False))[:, n_tune:]
    info: dict[str, Any] = {
        "chains": int(samples.shape[0]),
        "tune": int(n_tune),
        "draws": int(samples.shape[1]),
        "divergences": int(diverging.sum()),
        "n_steps": monitor.leapfrog,
        "mean_tree_size": float(tree_size[:, n_tune:].mean()),
        "stopped_early": bool(samples.shape[1] < steps or samples.shape[0] < chains),
        "seed": seed,
        "pytensor_mode": prepared.mode,
        "model_source": bundle.source,
        "presample_s": presample_s,
    }
    if bundle.source == "pymc_model":
        # Each NUTS iteration evaluates its start point once, then one gradient per leapfrog step.
        info["n_grad"] = monitor.leapfrog + monitor.iterations
    return {"samples": samples, "info": info}


def fit_nuts(task: Task, budget: Budget, rng: np.random.Generator, chains: int = CHAINS) -> DrawsApproximation:
    """Sample ``task`` with PyMC's NUTS: ``chains`` chains of ``budget.steps`` tuning and draws each.

    Parameters
    ----------
    task : Task
    budget : Budget
        ``steps`` draws per chain after ``steps`` tuning iterations;
        ``max_seconds`` is best effort (see :class:`~vibench_pymc.PyMCNUTS`).
    rng : numpy.random.Generator
        Seeds ``pm.sample`` and the chains' starting points.
    chains : int

    Returns
    -------
    DrawsApproximation
        Draws ``(chains, draws, dim)`` on the task's unconstrained vector.
        ``info["setup_s"]`` is the set-up this call did: :func:`prepare_nuts`
        when it had not run on ``task``, and ``pm.sample``'s per-call
        compiling before its first draw.
    """
    t0 = time.perf_counter()
    bundle = pymc_bridge.model_for(task)
    compiled = ("nuts", mode_for("nuts", bundle.source)) not in bundle.extras
    prepared = _prepared(task)
    setup_s = time.perf_counter() - t0
    out = _sample(task, bundle, prepared, int(budget.steps), chains, rng, budget.max_seconds)
    info = out["info"]
    info["compiled"] = compiled  # True when this call had to prepare (no prepare_nuts before)
    info["setup_s"] = setup_s + info.pop("presample_s")
    return DrawsApproximation(out["samples"], info=info)
