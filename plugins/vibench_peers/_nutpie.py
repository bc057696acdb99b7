"""nutpie's NUTS on a task: its PyMC model compiled by nutpie, or its numpy density as a Python function.

Two ways in, chosen by the task:

- ``task.pymc_model`` (user models, posteriordb translations, tasks that ship one):
  ``nutpie.compile_pymc_model(model)`` (numba backend). nutpie never calls the
  task's ``LogDensity``, so ``info["n_grad"]`` is the sum of ``n_steps`` over
  ``sample_stats`` and ``warmup_sample_stats`` (leapfrog steps = gradient
  evaluations; each chain's initial point and step-size search, about 16
  evaluations per chain, are not in it: on a numpy density the counters see
  n_steps + 65 for 4 chains of 200 draws).
- otherwise: ``nutpie.compiled_pyfunc.from_pyfunc`` with a log density
  function that calls ``task.log_density.logp_and_grad`` on one row, so the
  task's counters see every gradient and the sampler pays the numpy density's
  per-gradient cost (plus nutpie's Python callback, about 40 us) instead of a
  PyTensor graph around a black-box Op.

Draws: nutpie stores the constrained values and, by name, the value variables
(``tau_log__``) in ``posterior``; the unconstrained vector is assembled from
those names in ``model.value_vars`` order (the task's), so no transform is
inverted here. On the Python-function path the one variable ``x`` is the vector.

Starting points: every chain starts at ``task.initial_point(rng)``, through
nutpie's initial-point function (its per-chain seed and the fit's seed give
the generator), like every vibench method. Set-up (``prepare``): compiling
and a throwaway run of :data:`WARM_STEPS` draws, cached per task object.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vibench import pymc_bridge
from vibench.approximation import DrawsApproximation
from vibench.method import Budget
from vibench.task import Task

__all__ = ["CHAINS", "WARM_STEPS", "prepare_nutpie", "fit_nutpie"]

#: Chains, as pm.sample's default on 4 cores; they run on one core (``cores=1``).
CHAINS = 4
#: Tuning steps and draws of the throwaway run in :func:`prepare_nutpie`.
WARM_STEPS = 10
_KEY = "nutpie"


@dataclass
class _Compiled:
    """A task's compiled nutpie model and how to start and read it."""

    model: Any
    source: str                     # "pymc_model" or "pyfunc"
    layout: list                    # (name, slice, shape) of the unconstrained vector
    holder: dict                    # {"density": LogDensity, "start": callable}: what the callbacks use
    setup_s: float = 0.0


def _pyfunc_model(task: Task, holder: dict):
    from nutpie.compiled_pyfunc import from_pyfunc

    dim = task.dim

    def make_logp_fn():
        def logp(x):
            value, grad = holder["density"].logp_and_grad(np.asarray(x, dtype=np.float64)[None])
            value = float(value[0])
            if not np.isfinite(value):  # nutpie treats a non-finite value as a divergence: keep it -inf
                return -np.inf, np.zeros(dim)
            return value, np.asarray(grad[0], dtype=np.float64)

        return logp

    def make_expand_fn(seed1, seed2, chain):
        return lambda x: {"x": np.array(x, dtype=np.float64)}

    return from_pyfunc(
        ndim=dim, make_logp_fn=make_logp_fn, make_expand_fn=make_expand_fn,
        expanded_dtypes=[np.dtype("float64")], expanded_shapes=[(dim,)], expanded_names=["x"],
        make_initial_point_fn=lambda seed: holder["start"](seed),
    )


def _compile(task: Task) -> _Compiled:
    import nutpie

    holder: dict[str, Any] = {"density": task.log_density, "start": lambda seed: np.zeros(task.dim)}
    if task.pymc_model is not None:
        bundle = pymc_bridge.model_for(task)
        with pymc_bridge.quiet_pymc():
            compiled = nutpie.compile_pymc_model(bundle.model)
        # every chain starts where the task says, through nutpie's initial-point hook
        compiled = dataclasses.replace(compiled, initial_point_func=lambda seed: holder["start"](seed))
        return _Compiled(compiled, "pymc_model", bundle.layout, holder)
    return _Compiled(_pyfunc_model(task, holder), "pyfunc", [("x", slice(0, task.dim), (task.dim,))], holder)


def _prepared(task: Task) -> _Compiled:
    cache = task.__dict__.setdefault("_vibench_peers", {})
    found = cache.get(_KEY)
    if found is None:
        t0 = time.perf_counter()
        found = _compile(task)
        with task.log_density.uncounted():
            _sample(task, found, WARM_STEPS, 2, np.random.default_rng(0), None)
        found.setup_s = time.perf_counter() - t0
        cache[_KEY] = found
    return found


def prepare_nutpie(task: Task) -> None:
    """Compile ``task`` for nutpie and run it once (cached per task object)."""
    _prepared(task)


def _flat(compiled: _Compiled, bundle_model, posterior, chains: int, draws: int) -> np.ndarray:
    """``(chains, draws, dim)`` unconstrained draws from nutpie's posterior, in the task's order."""
    if compiled.source == "pyfunc":
        return np.asarray(posterior["x"].values, dtype=float).reshape(chains, draws, -1)
    return pymc_bridge.unconstrained_draws(bundle_model, posterior)


def _sample(task: Task, compiled: _Compiled, steps: int, chains: int, rng: np.random.Generator,
            max_seconds: float | None) -> dict[str, Any]:
    import nutpie

    seed = int(rng.integers(2**31))
    base = int(rng.integers(2**31))
    compiled.holder["density"] = task.log_density
    compiled.holder["start"] = lambda s: np.asarray(task.initial_point(np.random.default_rng([base, int(s)])),
                                                    dtype=np.float64)
    kwargs = dict(draws=steps, tune=steps, chains=chains, cores=1, seed=seed, progress_bar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if max_seconds:
            sampler = nutpie.sample(compiled.model, blocking=False, **kwargs)
            try:
                trace, stopped = sampler.wait(timeout=max_seconds), False
            except TimeoutError:  # keep what the chains drew so far
                trace, stopped = sampler.abort(), True
        else:
            trace, stopped = nutpie.sample(compiled.model, **kwargs), False
    post = trace.posterior
    n_chains, n_draws = int(post.sizes.get("chain", 0)), int(post.sizes.get("draw", 0))
    if n_draws == 0:
        raise RuntimeError(f"nutpie-nuts: no draws after tuning within max_seconds={max_seconds}")
    model = pymc_bridge.model_for(task).model if compiled.source == "pymc_model" else None
    samples = _flat(compiled, model, post, n_chains, n_draws)
    if stopped:  # interrupted chains are padded with NaN: keep the chains with draws, cut to the shortest
        per_chain = np.isfinite(samples).all(axis=2).sum(axis=1)
        if not np.any(per_chain):
            raise RuntimeError(f"nutpie-nuts: no draws after tuning within max_seconds={max_seconds}")
        samples = samples[per_chain > 0][:, : int(per_chain[per_chain > 0].min())]
        n_chains, n_draws = samples.shape[:2]
    n_steps = int(np.nansum(trace.sample_stats["n_steps"].values))
    if "warmup_sample_stats" in trace.groups():
        n_steps += int(np.nansum(trace.warmup_sample_stats["n_steps"].values))
    info: dict[str, Any] = {
        "chains": n_chains,
        "draws": n_draws,
        "tune": int(trace.warmup_sample_stats.sizes.get("draw", 0)) if "warmup_sample_stats" in trace.groups() else 0,
        "divergences": int(np.nansum(np.asarray(trace.sample_stats["diverging"].values, dtype=float))),
        "n_steps": n_steps,
        "mean_tree_size": float(np.nanmean(trace.sample_stats["n_steps"].values)),
        "stopped_early": bool(stopped or n_draws < steps or n_chains < chains),
        "seed": seed,
        "model_source": compiled.source,
    }
    if compiled.source == "pymc_model":
        info["n_grad"] = n_steps  # nutpie's compiled graph never calls the task's LogDensity
    return {"samples": samples, "info": info}


def fit_nutpie(task: Task, budget: Budget, rng: np.random.Generator, chains: int = CHAINS) -> DrawsApproximation:
    """``chains`` nutpie chains of ``budget.steps`` tuning steps and draws each, on one core.

    Returns
    -------
    DrawsApproximation
        ``(chains, draws, dim)`` on the task's unconstrained vector; ``info["setup_s"]``
        is the compiling this call did when nobody had prepared the task.
    """
    t0 = time.perf_counter()
    cache = task.__dict__.get("_vibench_peers", {})
    compiled_now = _KEY not in cache
    compiled = _prepared(task)
    setup_s = time.perf_counter() - t0 if compiled_now else 0.0
    out = _sample(task, compiled, int(budget.steps), chains, rng, budget.max_seconds)
    info = out["info"]
    info["compiled"] = compiled_now
    info["setup_s"] = setup_s
    return DrawsApproximation(out["samples"], info=info)
