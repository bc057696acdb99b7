"""PyMC <-> vibench: one compiled PyMC model per task, and flat log densities from PyMC models.

This is the only core module that imports PyMC, and it does so lazily (inside
functions): ``import vibench`` and ``vibench.registry`` never pay the ~2.5 s
``import pymc``.

Every task gets a PyMC model over its unconstrained vector: ``task.pymc_model()``
when the task has one, otherwise a ``pm.Flat`` vector ``"x"`` plus a
``pm.Potential`` of a PyTensor ``Op`` whose two outputs, log density and
gradient, come from ONE ``task.log_density.logp_and_grad`` call (its gradient
is the second output of the same node), so the task's ``LogDensity`` counts
every gradient evaluation. :func:`model_for` builds it once per task object;
compiled functions live in :attr:`PyMCBundle.extras` and are reused across
seeds and budgets. Methods build them in ``Method.prepare``, whose time the
runner records as ``setup_s``, never as ``fit_s``.

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
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from .density import LogDensity

if TYPE_CHECKING:  # pragma: no cover
    from .task import Task

__all__ = [
    "MODE_ENV",
    "DEFAULT_MODE",
    "PyMCBundle",
    "import_pymc",
    "pytensor_mode",
    "quiet_pymc",
    "model_for",
    "op_model",
    "logp_grad_op",
    "flat_logp_and_grad",
    "log_density_from_model",
    "unconstrained_draws",
    "clear_cache",
]

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


def _make_op_class():
    """Build the ``LogpGradOp`` class (it needs pytensor, so it is built lazily)."""
    import pytensor.tensor as pt
    from pytensor.gradient import DisconnectedType, grad_not_implemented
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    class LogpGradOp(Op):
        """``x[dim] -> (logp, grad[dim])`` from one ``LogDensity.logp_and_grad`` call.

        Instances compare by identity (no ``__props__``), so graphs of two
        tasks never merge their Ops.
        """

        def __init__(self, log_density: LogDensity):
            self.log_density = log_density

        def make_node(self, x):
            x = pt.as_tensor_variable(x).astype("float64")
            if x.ndim != 1:
                raise ValueError(f"LogpGradOp takes a vector, got ndim={x.ndim}")
            return Apply(self, [x], [pt.dscalar(), pt.dvector()])

        def perform(self, node, inputs, outputs):
            value, grad = self.log_density.logp_and_grad(inputs[0])
            outputs[0][0] = np.asarray(value, dtype="float64")
            outputs[1][0] = np.asarray(grad, dtype="float64")

        def infer_shape(self, fgraph, node, shapes):
            return [(), shapes[0]]

        def L_op(self, inputs, outputs, output_grads):
            g_value, g_grad = output_grads
            if not isinstance(g_grad.type, DisconnectedType):
                return [grad_not_implemented(self, 0, inputs[0], "second derivatives of a black-box log density")]
            return [g_value * outputs[1]]

        def __str__(self) -> str:
            return f"LogpGradOp(dim={self.log_density.dim})"

    return LogpGradOp


_OP_CLASS = None


def logp_grad_op(log_density: LogDensity):
    """A PyTensor ``Op``: float64 vector ``x -> (logp, grad)`` from one ``log_density.logp_and_grad`` call."""
    global _OP_CLASS
    if _OP_CLASS is None:
        import_pymc()
        _OP_CLASS = _make_op_class()
    return _OP_CLASS(log_density)


def op_model(log_density: LogDensity):
    """A PyMC model: ``pm.Flat("x", shape=dim)`` plus ``pm.Potential`` of the black-box density.

    Parameters
    ----------
    log_density : LogDensity

    Returns
    -------
    pymc.Model
    """
    pm = import_pymc()
    op = logp_grad_op(log_density)
    with pm.Model() as model:
        x = pm.Flat("x", shape=(log_density.dim,))
        pm.Potential("logp", op(x)[0])
    return model


def _value_layout(model, point: dict[str, np.ndarray]) -> list[tuple[str, slice, tuple[int, ...]]]:
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
        layout = _value_layout(model, point)
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


@dataclass
class PyMCBundle:
    """A task's PyMC model, built once, and the compiled pieces methods reuse.

    Attributes
    ----------
    model : pymc.Model
    source : {"pymc_model", "op"}
        Whether the model came from ``task.pymc_model()`` or the black-box Op.
    log_density : LogDensity
        The task's density (its counters are kept unchanged by warm-up calls).
    dim : int
    layout : list of (name, slice, shape)
        Value variables in the flat vector's (the task's) order.
    extras : dict
        Compiled objects by key: ``("logp_dlogp", mode)`` and method-owned
        ones (ADVI step functions).
    """

    model: Any
    source: str
    log_density: LogDensity
    dim: int
    layout: list
    extras: dict = field(default_factory=dict)

    def uncounted(self) -> contextlib.AbstractContextManager:
        """Evaluate inside the block without changing the task's ``LogDensity`` counters."""
        return self.log_density.uncounted()

    def compiled(self, key: Any, build: Callable[[], Any]) -> Any:
        """``extras[key]``, built on first use (quietly, its evaluations uncounted)."""
        if key not in self.extras:
            with quiet_pymc(), self.uncounted():
                self.extras[key] = build()
        return self.extras[key]

    def logp_dlogp(self, mode: str):
        """``model.logp_dlogp_function(ravel_inputs=True)`` compiled in ``mode`` (once), for NUTS."""

        def build():
            fn = self.model.logp_dlogp_function(ravel_inputs=True, mode=mode)
            fn.trust_input = True
            fn.set_extra_values({})
            fn(np.zeros(self.dim))  # the first call JIT-compiles under NUMBA
            return fn

        return self.compiled(("logp_dlogp", mode), build)


_CACHE: dict[int, PyMCBundle] = {}


def clear_cache() -> None:
    """Forget every model and compiled function (tests)."""
    _CACHE.clear()


def model_for(task: "Task") -> PyMCBundle:
    """The task's PyMC model, built once per task object, with its compiled functions.

    Parameters
    ----------
    task : Task

    Returns
    -------
    PyMCBundle
        Cached by the task's identity (dropped when the task is garbage
        collected): a second call with the same task returns the same object,
        so compiled functions in it are reused across seeds and budgets.
    """
    bundle = _CACHE.get(id(task))
    if bundle is not None:
        return bundle
    with quiet_pymc():
        if task.pymc_model is not None:
            model, source = task.pymc_model(), "pymc_model"
        else:
            model, source = op_model(task.log_density), "op"
        layout = _value_layout(model, model.initial_point())
    dim = layout[-1][1].stop if layout else 0
    if dim != task.dim:
        raise ValueError(f"task {task.label}: pymc_model has {dim} unconstrained values, task.dim is {task.dim}")
    bundle = PyMCBundle(model, source, task.log_density, dim, layout)
    _CACHE[id(task)] = bundle
    weakref.finalize(task, _CACHE.pop, id(task), None)
    return bundle
