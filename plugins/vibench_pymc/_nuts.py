"""NUTS through ``pm.sample`` on the task's compiled model, sequential chains on one core.

``pm.sample`` would compile ``logp_dlogp`` anew on every call; here the NUTS
step is built on the task's cached ``logp_dlogp`` function (see
:func:`vibench.pymc_bridge.model_for`) with the potential PyMC's default
``jitter+adapt_diag`` init builds, except that chains start at
``task.initial_point(rng)``. Diagnostics come from ArviZ.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from vibench import pymc_bridge
from vibench.approximation import DrawsApproximation
from vibench.method import Budget
from vibench.task import Task

from .modes import mode_for

__all__ = ["fit_nuts", "diagnostics"]


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


def _json_float(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _initvals(bundle: pymc_bridge.PyMCBundle, x: np.ndarray) -> dict[str, np.ndarray]:
    """``pm.sample`` initial values for flat unconstrained ``x``: constrained space, keyed by RV name."""
    import pytensor.tensor as pt

    model, out = bundle.model, {}
    values = {name: np.reshape(x[slc], shape) for name, slc, shape in bundle.layout}
    for rv in model.free_RVs:
        val = values[model.rvs_to_values[rv].name]
        transform = model.rvs_to_transforms.get(rv)
        if transform is not None:
            val = transform.backward(pt.as_tensor(val), *rv.owner.inputs).eval()
        out[rv.name] = np.asarray(val)
    return out


def diagnostics(samples: np.ndarray) -> dict[str, Any]:
    """ArviZ bulk/tail ESS minima and the R-hat maximum over coordinates.

    Parameters
    ----------
    samples : ndarray, shape (chains, draws, dim)

    Returns
    -------
    dict
        ``ess_bulk_min``, ``ess_tail_min``, ``rhat_max`` (``None`` when ArviZ
        cannot compute them, e.g. with very few draws).
    """
    import arviz as az

    out: dict[str, Any] = {"ess_bulk_min": None, "ess_tail_min": None, "rhat_max": None}
    if samples.shape[1] < 4:
        return out
    data = az.convert_to_dataset({"x": samples})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["ess_bulk_min"] = _json_float(np.nanmin(az.ess(data, method="bulk")["x"].values))
        out["ess_tail_min"] = _json_float(np.nanmin(az.ess(data, method="tail")["x"].values))
        out["rhat_max"] = _json_float(np.nanmax(az.rhat(data)["x"].values))
    return out


def fit_nuts(task: Task, budget: Budget, rng: np.random.Generator, chains: int = 2) -> DrawsApproximation:
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
    """
    t0 = time.perf_counter()
    bundle = pymc_bridge.model_for(task)  # the first call also pays ``import pymc``, counted as compile
    pm = pymc_bridge.import_pymc()
    from pymc.step_methods.hmc.quadpotential import QuadPotentialDiagAdapt

    mode = mode_for("nuts", bundle.source)
    logp_dlogp = bundle.logp_dlogp(mode)
    compile_s = bundle.take_compile_s()
    t_fit = time.perf_counter()

    seed = int(rng.integers(2**31))
    starts = np.array([task.initial_point(rng) for _ in range(chains)], dtype=float)
    steps = int(budget.steps)
    monitor = _Monitor(t_fit, budget.max_seconds, chains)
    with pymc_bridge.quiet_pymc():
        step_rng = np.random.default_rng(seed)
        potential = QuadPotentialDiagAdapt(
            bundle.dim, starts.mean(axis=0), np.ones(bundle.dim), 10, rng=step_rng.spawn(1)[0]
        )
        step = pm.NUTS(model=bundle.model, potential=potential, logp_dlogp_func=logp_dlogp, rng=step_rng)
        trace = pm.sample(
            draws=steps,
            tune=steps,
            chains=chains,
            cores=1,
            step=step,
            initvals=[_initvals(bundle, s) for s in starts],
            random_seed=seed,
            model=bundle.model,
            progressbar=False,
            compute_convergence_checks=False,
            discard_tuned_samples=False,
            return_inferencedata=False,
            callback=monitor,
        )
    n_tune = min(steps, len(trace))
    if len(trace) <= n_tune:
        raise RuntimeError(
            f"pymc-nuts: no draws after tuning within max_seconds={budget.max_seconds} "
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
        "mean_tree_size": _json_float(tree_size[:, n_tune:].mean()),
        "stopped_early": bool(samples.shape[1] < steps or samples.shape[0] < chains),
        "seed": seed,
        "compile_s": compile_s,
        "compiled": compile_s > 0,
        "pytensor_mode": mode,
        "model_source": bundle.source,
    }
    info.update(diagnostics(samples))
    if bundle.source == "pymc_model":
        # Each NUTS iteration evaluates its start point once, then one gradient per leapfrog step.
        info["n_grad"] = monitor.leapfrog + monitor.iterations
    info["fit_s"] = time.perf_counter() - t_fit
    info["total_s"] = time.perf_counter() - t0
    return DrawsApproximation(samples, info=info)
