"""Pathfinder (Zhang et al. 2022) from pymc-extras, on the task's PyMC model or the black-box Op.

``pmx.fit(method="pathfinder", ...)`` = ``pymc_extras.inference.fit_pathfinder``
with its defaults -- 4 paths, 1,000 draws per path, 1,000 draws returned
after Pareto-smoothed importance sampling (``importance_sampling="psis"``,
which returns unique draws: "psir" resamples with replacement, and duplicates
would act as a smaller sample), ``jitter=2.0`` around the model's initial
point (uniform on (-2, 2) around 0 for an Op model, like vibench's
``initial_point``), ``maxcor = max(5, ceil(3 log d))`` -- except:

- ``maxiter = Budget.steps`` (L-BFGS iterations per path; its default is 1,000);
- ``concurrent=None``: paths run one after another in this process (one cell
  per core; worker processes would also lose the Op's evaluation counts);
- no progress bar or summary.

Settings checked (AR(1) Gaussian, d = 10, rho = 0.9; sd ratio q/p per
coordinate): the defaults give 0.44-0.86 with mean error 0.26 sd and PSIS k
0.9; 16 paths 0.49-0.83; ``psir`` 0.44-0.91 with 447 unique draws of 1,000;
``maxcor=20`` and tolerances 1e-10 0.50-0.92. No setting removes the
underdispersion (the L-BFGS inverse-Hessian estimate at the ELBO-best point
of a short path), so the defaults are kept, as users run them, and the
yardstick shows it. ``info["pareto_k"]`` is pathfinder's own PSIS k.

Converged: every path's L-BFGS status is ``CONVERGED`` (``info["converged"]``;
the runner gates optimization families on it); ``info["paths_succeeded"]``
counts paths whose ELBO-best point is past the start (on an isotropic Gaussian
L-BFGS stops after two steps and the best point is the start: ``ELBO_ARGMAX_AT_ZERO``).

Counts: on the Op path the task's ``LogDensity`` counts every evaluation (the
Op computes value and gradient together, also for the ELBO and importance
draws). On a PyMC model, ``info["n_grad"]`` counts the L-BFGS value-and-gradient
evaluations (cache misses of pathfinder's own ``LRUCache1``) and
``info["n_logp"]`` the log densities of the ELBO draws
(``num_elbo_draws`` per accepted L-BFGS step) and of the draws per path.

Set-up: pathfinder compiles its graphs on every call; its own
``compile_time`` is reported as ``info["setup_s"]`` (subtracted from
``fit_s``); ``prepare`` runs it once on the task to pay first-use imports.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any, Iterator

import numpy as np

from vibench import pymc_bridge
from vibench.approximation import DrawsApproximation
from vibench.method import Budget
from vibench.scoring.distance import distinct_rows
from vibench.task import Task

__all__ = ["SETTINGS", "fit_pathfinder", "prepare_pathfinder"]

#: What vibench passes to ``pmx.fit(method="pathfinder")`` besides the model, seed and ``maxiter``.
SETTINGS = dict(num_paths=4, num_draws=1000, num_draws_per_path=1000, importance_sampling="psis",
                concurrent=None, progressbar=False, display_summary=False)


@contextlib.contextmanager
def _counting() -> Iterator[list]:
    """Count pathfinder's L-BFGS value-and-gradient evaluations (cache misses), whatever it clears."""
    from pymc_extras.inference.pathfinder import pathfinder as module

    original = module.LRUCache1
    misses = [0]

    class Counting(original):
        def __call__(self, x, *args):
            before = self.cache_misses
            out = super().__call__(x, *args)
            misses[0] += self.cache_misses - before
            return out

    module.LRUCache1 = Counting
    try:
        yield misses
    finally:
        module.LRUCache1 = original


def prepare_pathfinder(task: Task) -> None:
    """Build the task's PyMC model and run pathfinder once, briefly (first-use imports; cached per task)."""
    bundle = pymc_bridge.model_for(task)

    def warm():
        _run(task, bundle, 5, np.random.default_rng(0))
        return True

    bundle.compiled(("pathfinder", "warm"), warm)


def _run(task: Task, bundle, maxiter: int, rng: np.random.Generator) -> dict[str, Any]:
    import pymc_extras as pmx

    seed = int(rng.integers(2**31))
    with pymc_bridge.quiet_pymc(), warnings.catch_warnings(), _counting() as lbfgs_evals:
        warnings.simplefilter("ignore")
        idata = pmx.fit(method="pathfinder", model=bundle.model, random_seed=seed, maxiter=int(maxiter), **SETTINGS)
    post = idata.posterior
    samples = pymc_bridge.unconstrained_draws(bundle.model, idata.posterior).reshape(-1, bundle.dim)
    stats = idata.sample_stats

    def count(var: str, status: str) -> int:
        if var not in stats:
            return 0
        arr = stats[var]
        value = arr.sel(status=status).values if status in arr["status"].values else 0
        return int(np.nan_to_num(value))

    paths = SETTINGS["num_paths"]
    lbfgs_converged = count("lbfgs_status_counts", "CONVERGED")
    succeeded = count("path_status_counts", "SUCCESS")
    niter = np.asarray(stats["paths_lbfgs_niter"].values, dtype=float) if "paths_lbfgs_niter" in stats else np.array([])
    info: dict[str, Any] = {
        "converged": bool(lbfgs_converged == paths),
        "paths_converged": lbfgs_converged,
        "paths_succeeded": succeeded,
        "iterations": int(np.nanmax(niter)) if niter.size else None,
        "lbfgs_niter_mean": float(np.nanmean(niter)) if niter.size else None,
        "pareto_k": float(stats["pareto_k"]) if "pareto_k" in stats else None,
        "unique_draws": distinct_rows(samples),
        "seed": seed,
        "model_source": bundle.source,
        "setup_s": float(stats["compile_time"]) if "compile_time" in stats else 0.0,
    }
    if bundle.source == "pymc_model":
        info["n_grad"] = int(lbfgs_evals[0])
        info["n_logp"] = int(np.nansum(niter) * 10 + paths * SETTINGS["num_draws_per_path"])  # num_elbo_draws=10
    return {"samples": samples, "info": info}


def fit_pathfinder(task: Task, budget: Budget, rng: np.random.Generator) -> DrawsApproximation:
    """Run pathfinder on ``task`` with ``maxiter = budget.steps``; draws as one chain of iid-ish draws."""
    t0 = time.perf_counter()
    bundle = pymc_bridge.model_for(task)
    setup_s = time.perf_counter() - t0
    out = _run(task, bundle, budget.steps, rng)
    info = out["info"]
    info["setup_s"] = info["setup_s"] + setup_s
    return DrawsApproximation(out["samples"][None], info=info)
