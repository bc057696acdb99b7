"""Reference draws on a PyMC model's unconstrained space, and the ``reference`` truth they give.

:func:`to_unconstrained` applies the model's own transforms (``model.rvs_to_transforms``:
log, interval, ordered, simplex, chains of them) to constrained draws of its
free variables, through one vectorized PyTensor graph, so a bound that
depends on another parameter (garch11's ``beta1 < 1 - alpha1``) uses each
draw's own value. The result is laid out like
:func:`vibench.pymc_bridge.flat_logp_and_grad`'s flat vector: value variables in
``model.value_vars`` order, each raveled.

:func:`reference_from_draws` summarizes them as :class:`~vibench.Truth` of kind
``reference``: moments and covariance from all draws, Monte Carlo standard
errors of the means (ArviZ) and of the sds (ArviZ's formula on the squared
deviations, as in :mod:`vibench.reference`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ...truth import Truth

__all__ = ["free_variable_names", "coordinate_names", "to_unconstrained", "mcse", "ess", "reference_from_draws"]


def free_variable_names(model) -> list[str]:
    """Names of the model's free random variables, in ``model.value_vars`` order."""
    return [model.values_to_rvs[v].name for v in model.value_vars]


def coordinate_names(model) -> list[str]:
    """One name per flat unconstrained coordinate (``tau_log__``, ``beta[0]``, ...)."""
    from ...reference import coordinate_names as names

    return names(model)


def to_unconstrained(model, values: dict[str, np.ndarray]) -> np.ndarray:
    """Map constrained draws of the free variables to the model's flat unconstrained vectors.

    Parameters
    ----------
    model : pymc.Model
    values : dict
        ``{free variable name: array (n, *shape)}`` for every free variable.

    Returns
    -------
    ndarray, shape (n, dim)
        Rows in the layout of :func:`vibench.pymc_bridge.flat_logp_and_grad`.
    """
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.replace import graph_replace, vectorize_graph

    rvs = [model.values_to_rvs[v] for v in model.value_vars]
    placeholders = {rv: rv.type(name=f"{rv.name}_constrained") for rv in rvs}
    outputs = []
    for rv in rvs:
        transform = model.rvs_to_transforms.get(rv)
        out = placeholders[rv] if transform is None else transform.forward(placeholders[rv], *rv.owner.inputs)
        outputs.append(pt.as_tensor(out))
    outputs = graph_replace(outputs, placeholders, strict=False)
    batched = {p: pt.tensor(dtype=p.dtype, shape=(None,) + tuple(p.type.shape), name=p.name)
               for p in placeholders.values()}
    outputs = vectorize_graph(outputs, replace=batched)
    flat = pt.concatenate([o.reshape((o.shape[0], -1)) for o in outputs], axis=1)
    fn = pytensor.function(list(batched.values()), flat, mode="FAST_COMPILE", on_unused_input="ignore")
    args = [np.asarray(values[rv.name], dtype=float) for rv in rvs]
    return np.asarray(fn(*args), dtype=float)


def ess(samples: np.ndarray, method: str = "bulk") -> np.ndarray:
    """ArviZ's ESS per coordinate of ``samples (chains, draws, dim)``."""
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.atleast_1d(az.ess(az.convert_to_dataset({"x": samples}), method=method)["x"].values)


def mcse(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo standard errors of the mean and the sd per coordinate of ``samples (chains, draws, dim)``.

    The mean's is ArviZ's ``mcse(method="mean")``; the sd's is ArviZ's
    ``mcse(method="sd")`` formula, computed here (ArviZ's own fails under numba
    with numpy >= 2.4).
    """
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean_se = np.atleast_1d(az.mcse(az.convert_to_dataset({"x": samples}), method="mean")["x"].values)
    sq = (samples - samples.mean(axis=(0, 1))) ** 2
    var = sq.mean(axis=(0, 1))
    sd_se = np.sqrt(((sq**2).mean(axis=(0, 1)) - var**2) / ess(sq, "mean") / var / 4)
    return mean_se, sd_se


def reference_from_draws(samples: np.ndarray, provenance: dict[str, Any]) -> Truth:
    """A ``reference`` :class:`~vibench.Truth` from unconstrained draws ``(chains, draws, dim)``.

    Parameters
    ----------
    samples : ndarray, shape (chains, draws, dim)
    provenance : dict
        Stored as the truth's provenance, with the ESS added.

    Returns
    -------
    Truth
        ``draws`` holds all ``chains * draws`` rows, chain after chain.
    """
    flat = samples.reshape(-1, samples.shape[-1])
    cov = np.atleast_2d(np.cov(flat, rowvar=False))
    mean_se, sd_se = mcse(samples)
    bulk = ess(samples, "bulk")
    provenance = {**provenance, "ess_bulk": bulk.tolist(), "ess_bulk_min": float(bulk.min()),
                  "chains": int(samples.shape[0]), "draws_per_chain": int(samples.shape[1])}
    return Truth(kind="reference", mean=flat.mean(axis=0), sd=np.sqrt(np.diag(cov)), cov=cov, draws=flat,
                 mean_se=mean_se, sd_se=sd_se, provenance=provenance)
