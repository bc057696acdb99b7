"""DADVI (deterministic ADVI, Giordano, Ingram and Broderick 2024) from pymc-extras.

``pmx.fit(method="dadvi", ...)`` = ``pymc_extras.inference.fit_dadvi``: a
mean-field Gaussian on the unconstrained space fitted to a fixed set of
``n_fixed_draws = 30`` standard-normal draws by ``scipy.optimize.minimize``,
``maxiter = Budget.steps``. On a PyMC model its default optimizer,
``trust-ncg`` with Hessian-vector products; through the black-box Op (no
second derivatives) ``L-BFGS-B`` with gradients only.

The result is the optimum's mean and log sd (``optimizer_result.x`` = means,
then log sds, in ``model.value_vars`` order -- the task's), returned as a
diagonal :class:`~vibench.GaussianApproximation` on the unconstrained space,
so it gets its KL; the constrained draws pymc-extras returns are not used.

Converged: scipy's ``success``, or the gradient's largest entry below
:data:`GTOL` (trust-ncg stops with "A bad approximation caused failure to
predict improvement" at optima where its gradient is ~1e-9).

Counts: on the Op path the task's ``LogDensity`` counts (30 evaluations per
objective). On a PyMC model ``info["n_grad"] = 30 * (nfev + nhev)``: each
objective and gradient averages 30 gradients, and each Hessian-vector product
costs about one more gradient per draw.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from vibench import pymc_bridge
from vibench.approximation import GaussianApproximation
from vibench.method import Budget
from vibench.task import Task

__all__ = ["N_FIXED_DRAWS", "GTOL", "fit_dadvi", "prepare_dadvi"]

N_FIXED_DRAWS = 30
GTOL = 1e-5


def _options(source: str) -> dict[str, Any]:
    if source == "op":
        return dict(optimizer_method="L-BFGS-B", use_grad=True, use_hessp=False, use_hess=False)
    return dict(optimizer_method="trust-ncg")


def prepare_dadvi(task: Task) -> None:
    """Build the model and fit once, briefly (compiling, cached on disk by PyTensor; first-use imports)."""
    bundle = pymc_bridge.model_for(task)

    def warm():
        _run(bundle, 2, np.random.default_rng(0))
        return True

    bundle.compiled(("dadvi", "warm"), warm)


def _run(bundle, maxiter: int, rng: np.random.Generator) -> GaussianApproximation:
    import pymc_extras as pmx

    seed = int(rng.integers(2**31))
    with pymc_bridge.quiet_pymc(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = pmx.fit(method="dadvi", model=bundle.model, n_fixed_draws=N_FIXED_DRAWS, n_draws=10,
                        random_seed=seed, progressbar=False, maxiter=int(maxiter), **_options(bundle.source))
    res = idata.optimizer_result
    x = np.asarray(res["x"].values, dtype=float)
    mean, log_sd = np.split(x, 2)
    jac = np.asarray(res["jac"].values, dtype=float) if "jac" in res else np.full(x.shape, np.nan)
    nfev = int(res["nfev"]) if "nfev" in res else 0
    nhev = int(res["nhev"]) if "nhev" in res else 0
    info: dict[str, Any] = {
        "converged": bool(bool(res["success"]) or np.max(np.abs(jac)) < GTOL),
        "iterations": int(res["nit"]) if "nit" in res else None,
        "optimizer": str(res["method"].values) if "method" in res else "",
        "message": str(res["message"].values)[:120] if "message" in res else "",
        "objective": float(res["fun"]) if "fun" in res else None,
        "seed": seed,
        "model_source": bundle.source,
    }
    if bundle.source == "pymc_model":
        info["n_grad"] = N_FIXED_DRAWS * (nfev + nhev)
    return GaussianApproximation(mean, sd=np.exp(log_sd), info=info)


def fit_dadvi(task: Task, budget: Budget, rng: np.random.Generator) -> GaussianApproximation:
    """Fit DADVI on ``task`` with at most ``budget.steps`` optimizer iterations."""
    t0 = time.perf_counter()
    bundle = pymc_bridge.model_for(task)
    setup_s = time.perf_counter() - t0
    approx = _run(bundle, budget.steps, rng)
    approx.info["setup_s"] = setup_s
    return approx
