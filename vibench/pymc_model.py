"""PyMC models as flat vectors: the quiet PyMC import, the PyTensor mode, a model's log density and its draws.

:func:`flat_logp_and_grad` and :func:`log_density_from_model` turn a PyMC model
into a numpy log density over one flat unconstrained vector (value variables
in ``model.value_vars`` order); :func:`unconstrained_draws` maps a posterior's
draws into that vector. PyMC is imported lazily, inside functions.
:mod:`vibench.pymc_bridge` re-exports all of it.

PyTensor mode: pip-installed PyTensor finds no BLAS here and its C backend
then runs dense linear algebra through slow fallbacks; ``"NUMBA"`` avoids
them. Callers pass the mode they measured best (the PyMC plugin picks per
method, see ``vibench_pymc.modes``); ``$VIBENCH_PYTENSOR_MODE`` overrides it
everywhere. The missing-BLAS warning is silenced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from typing import Callable, Iterator

import numpy as np

from .density import LogDensity

__all__ = ["MODE_ENV", "DEFAULT_MODE", "import_pymc", "pytensor_mode", "quiet_pymc", "flat_logp_and_grad",
           "log_density_from_model", "unconstrained_draws", "value_layout"]

MODE_ENV = "VIBENCH_PYTENSOR_MODE"
DEFAULT_MODE = "NUMBA"
_LOGGERS = ("pymc", "pytensor", "numba")


def pytensor_mode(preferred: str | None = None) -> str:
    """``$VIBENCH_PYTENSOR_MODE`` if set, else ``preferred``, else ``"NUMBA"``."""
    return os.environ.get(MODE_ENV, "").strip() or preferred or DEFAULT_MODE


def import_pymc():
    """Import and return ``pymc``, without the missing-BLAS warning.

    Returns
    -------
    module
        The ``pymc`` module.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
        import pymc
    return pymc


@contextlib.contextmanager
def quiet_pymc() -> Iterator[None]:
    """Silence PyMC/PyTensor logging and warnings inside the block, restoring levels after."""
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def value_layout(model, point: dict[str, np.ndarray]) -> list[tuple[str, slice, tuple[int, ...]]]:
    """``(value var name, slice in the flat vector, shape)`` in ``model.value_vars`` order."""
    layout, start = [], 0
    for var in model.value_vars:
        shape = tuple(np.shape(point[var.name]))
        size = int(np.prod(shape, dtype=int))
        layout.append((var.name, slice(start, start + size), shape))
        start += size
    return layout


def flat_logp_and_grad(model, mode: str | None = None) -> tuple[Callable, int, list]:
    """Compile a PyMC model's joint log density and gradient on one flat vector.

    Uses ``model.logp()``, ``pytensor.grad`` over ``model.value_vars`` and
    ``pymc.pytensorf.join_nonshared_inputs``, compiled once as ONE function.

    It never raises for a point outside the support: where the model's
    parameters are invalid (``ParameterValueError: sigma > 0`` from a
    ``sigma = a - b``), or the value is NaN or ``+inf``, it returns
    ``(-inf, zeros)`` -- a zero density, whose gradient carries no
    information -- as every vibench density does outside its support, so every
    method (numpy VI, Laplace, samplers) sees the same -inf and backs off.

    Parameters
    ----------
    model : pymc.Model
    mode : str, optional
        PyTensor mode; default :func:`pytensor_mode`.

    Returns
    -------
    fn : callable
        ``fn(x[dim]) -> (float, ndarray[dim])``.
    dim : int
        Length of the flat vector.
    layout : list of (name, slice, shape)
        Where each value variable sits in the flat vector (``model.value_vars`` order).
    """
    pm = import_pymc()
    import pytensor
    import pytensor.tensor as pt

    with quiet_pymc():
        point = model.initial_point()
        layout = value_layout(model, point)
        logp = model.logp()
        grads = pt.grad(logp, model.value_vars)
        grad = pt.concatenate([g.ravel() for g in grads])
        [logp_j, grad_j], flat = pm.pytensorf.join_nonshared_inputs(point, [logp, grad], model.value_vars)
        # pymc's compile adds its rewrite that turns CheckParameterValue asserts (sigma > 0) into -inf
        with model:
            fn = pm.pytensorf.compile([flat], [logp_j, grad_j], mode=mode or pytensor_mode())
    fn.trust_input = True
    dim = layout[-1][1].stop if layout else 0
    outside = _support_errors()

    def logp_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            value, g = fn(np.asarray(x, dtype="float64"))
        except outside:  # a parameter outside its support: the density is 0 there
            return -np.inf, np.zeros(dim)
        value, g = float(value), np.asarray(g, dtype=float)
        if not np.isfinite(value):  # NaN or +inf is not a density either
            return -np.inf, np.zeros(dim)
        return value, g

    return logp_and_grad, dim, layout


def _support_errors() -> tuple[type[BaseException], ...]:
    """What a compiled PyMC log density raises outside the support (pymc's ParameterValueError, and
    floating-point errors an ``errstate(raise)`` would make): :func:`flat_logp_and_grad` returns -inf."""
    errors: list[type[BaseException]] = [FloatingPointError, ZeroDivisionError]
    try:
        from pymc.logprob.utils import ParameterValueError

        errors.append(ParameterValueError)
    except ImportError:  # pragma: no cover - older or newer PyMC
        pass
    return tuple(errors)


def log_density_from_model(model, mode: str | None = None) -> LogDensity:
    """A batched, counting :class:`~vibench.LogDensity` from a PyMC model's unconstrained space.

    Parameters
    ----------
    model : pymc.Model
    mode : str, optional
        PyTensor mode; default :func:`pytensor_mode`.

    Returns
    -------
    LogDensity
        Rows of ``x`` are flat vectors in ``model.value_vars`` order.
    """
    fn, dim, _ = flat_logp_and_grad(model, mode)

    def logp_and_grad(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = [fn(row) for row in x]
        return np.array([v for v, _ in out]), np.array([g for _, g in out]).reshape(len(x), dim)

    return LogDensity(dim, lambda x: logp_and_grad(x)[0], logp_and_grad)


def unconstrained_draws(model, posterior) -> np.ndarray:
    """``(chains, draws, dim)`` draws on ``model``'s unconstrained vector from a posterior ``Dataset``.

    Each free variable is read by its value variable's name where the
    posterior has it (``tau_log__``: nutpie, pathfinder, PyMC with transformed
    variables kept), else by its own name (``tau``, constrained) and mapped
    through the model's transform (``transform.forward(value, *rv.owner.inputs)``),
    evaluated with the other variables' values of the same draw, so bounds
    that depend on parameters work. Coordinates follow ``model.value_vars``.

    Raises
    ------
    ValueError
        A free variable missing from the posterior, or shapes that do not match.
    """
    import_pymc()
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.replace import graph_replace

    point = model.initial_point()
    free = list(model.free_RVs)
    given = {}
    for rv in free:
        value = model.rvs_to_values[rv]
        for key in (value.name, rv.name):
            if key in posterior:
                given[rv] = (key == value.name, np.asarray(posterior[key].values, dtype=float))
                break
        else:
            raise ValueError(f"the posterior has neither {value.name!r} nor {rv.name!r}; it has "
                             f"{', '.join(map(str, posterior.data_vars))}")
    chains, draws = next(iter(given.values()))[1].shape[:2]
    for rv, (is_value, a) in given.items():
        # a constrained draw may have another shape than its value variable (a simplex of K has K - 1
        # free coordinates): only draws of the value variable itself must match it exactly
        shape = tuple(np.shape(point[model.rvs_to_values[rv].name])) if is_value else a.shape[2:]
        if a.shape != (chains, draws) + shape:
            raise ValueError(f"{rv.name} has shape {a.shape}, expected {(chains, draws) + shape} (chain, draw, ...)")
    arrays = [given[rv][1].reshape((chains * draws,) + given[rv][1].shape[2:]) for rv in free]
    if all(is_value or model.rvs_to_transforms.get(rv) is None for rv, (is_value, _) in given.items()):
        flat = np.concatenate([a.reshape(chains * draws, -1) for a in arrays], axis=1)
        return flat.reshape(chains, draws, -1)
    with quiet_pymc():
        inputs = [rv.type() for rv in free]
        outs = []
        for rv, x in zip(free, inputs):
            transform = model.rvs_to_transforms.get(rv)
            if transform is None or given[rv][0]:
                outs.append(x.ravel())
            else:
                outs.append(transform.forward(x, *rv.owner.inputs).ravel())
        flat = graph_replace(pt.concatenate(outs), dict(zip(free, inputs)), strict=False)
        fn = pytensor.function(inputs, flat, on_unused_input="ignore", mode="FAST_COMPILE")
    rows = np.stack([fn(*[a[i] for a in arrays]) for i in range(chains * draws)])
    return rows.reshape(chains, draws, -1)
