"""PyMC <-> vibench: one compiled PyMC model per task, and flat log densities from PyMC models.

This is the only core module that imports PyMC, and it does so lazily (inside
functions): ``import vibench`` and ``vibench.registry`` never pay the ~2.5 s
``import pymc``.

Every task gets a PyMC model over its unconstrained vector:

- ``task.pymc_model()`` when the task provides one;
- otherwise a ``pm.Flat`` vector ``"x"`` of length ``task.dim`` plus a
  ``pm.Potential`` whose value comes from :class:`LogpGradOp`, a PyTensor
  ``Op`` with two outputs (log density and gradient) computed by ONE call of
  ``task.log_density.logp_and_grad``. Its gradient reuses the second output
  of the same node, so a compiled "logp and dlogp" graph calls the task once
  per point, and the task's ``LogDensity`` counts every gradient evaluation.

:func:`model_for` compiles the model's flat ``logp_dlogp`` function once per
task object (the cache is keyed by the task's identity and dropped when the
task is garbage collected) and times it (``compile_s``); methods keep their own
compiled pieces (ADVI step functions) in :attr:`PyMCBundle.extras`, so a
repeated seed or budget never recompiles.

PyTensor mode: pip-installed PyTensor finds no BLAS here and its C backend
then falls back to slow non-BLAS code for dot products and solves. The
default mode is therefore ``"NUMBA"`` (``pytensor.config.mode`` names also
work); set the environment variable ``VIBENCH_PYTENSOR_MODE`` (e.g. ``FAST_RUN``
for the C backend) to override. The missing-BLAS warning is silenced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
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
    "flat_logp_and_grad",
    "log_density_from_model",
    "clear_cache",
]

MODE_ENV = "VIBENCH_PYTENSOR_MODE"
#: Measured faster than the BLAS-less C backend here (see module docstring).
DEFAULT_MODE = "NUMBA"
_LOGGERS = ("pymc", "pytensor", "numba")


def pytensor_mode() -> str:
    """The PyTensor compile mode vibench uses: ``$VIBENCH_PYTENSOR_MODE`` or ``"NUMBA"``."""
    return os.environ.get(MODE_ENV, "").strip() or DEFAULT_MODE


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
    """Build the ``LogpGradOp`` class (needs pytensor, so it is built lazily)."""
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

        def connection_pattern(self, node):
            return [[True, True]]

        def __str__(self) -> str:
            return f"LogpGradOp(dim={self.log_density.dim})"

    return LogpGradOp


_OP_CLASS = None


def logp_grad_op(log_density: LogDensity):
    """A PyTensor ``Op`` computing log density and gradient of ``log_density`` in one call.

    Parameters
    ----------
    log_density : LogDensity

    Returns
    -------
    Op
        Applied to a float64 vector, it returns ``(logp, grad)``.
    """
    global _OP_CLASS
    import_pymc()
    if _OP_CLASS is None:
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
        fn = pytensor.function([flat], [logp_j, grad_j], mode=mode or pytensor_mode())
    fn.trust_input = True
    dim = layout[-1][1].stop if layout else 0

    def logp_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, g = fn(np.asarray(x, dtype="float64"))
        return float(value), np.asarray(g)

    return logp_and_grad, dim, layout


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


@dataclass
class PyMCBundle:
    """A task's PyMC model, compiled once, and what methods need to use it.

    Attributes
    ----------
    model : pymc.Model
    source : {"pymc_model", "op"}
        Whether the model came from ``task.pymc_model()`` or the black-box Op.
    dim : int
    layout : list of (name, slice, shape)
        Value variables in the flat vector's (the task's) order.
    mode : str
        PyTensor mode everything was compiled with.
    logp_dlogp : pymc ValueGradFunction
        ``model.logp_dlogp_function(ravel_inputs=True)``, for NUTS.
    compile_s : float
        Seconds spent building the model and compiling ``logp_dlogp``.
    extras : dict
        Method-owned compiled objects (e.g. ADVI step functions), by key.
    """

    model: Any
    source: str
    dim: int
    layout: list
    mode: str
    logp_dlogp: Any
    compile_s: float
    extras: dict = field(default_factory=dict)
    _unused_compile_s: float = 0.0

    def take_compile_s(self) -> float:
        """Compile seconds not yet reported by a fit (returned once, then 0)."""
        out, self._unused_compile_s = self._unused_compile_s, 0.0
        return out

    def add_compile_s(self, seconds: float) -> None:
        """Record compile seconds spent by a method (e.g. an ADVI step function)."""
        self.compile_s += seconds
        self._unused_compile_s += seconds

    def flatten(self, values: dict[str, np.ndarray], lead: int = 0) -> np.ndarray:
        """Concatenate value-variable arrays into the flat vector (keeping ``lead`` leading axes)."""
        parts = []
        for name, _, shape in self.layout:
            arr = np.asarray(values[name], dtype=float)
            parts.append(arr.reshape(arr.shape[:lead] + (-1,)))
        return np.concatenate(parts, axis=-1)

    def unflatten(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Split a flat vector into ``{value var name: array}``."""
        return {name: np.asarray(x[slc]).reshape(shape) for name, slc, shape in self.layout}

    def initvals(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """``pm.sample`` initial values (constrained space, keyed by RV name) for flat ``x``."""
        import pytensor.tensor as pt

        values = self.unflatten(x)
        model = self.model
        out = {}
        for rv in model.free_RVs:
            value_var = model.rvs_to_values[rv]
            val = values[value_var.name]
            transform = model.rvs_to_transforms.get(rv)
            if transform is not None:
                val = transform.backward(pt.as_tensor(val), *rv.owner.inputs).eval()
            out[rv.name] = np.asarray(val)
        return out


_CACHE: dict[tuple[int, str], PyMCBundle] = {}


def clear_cache() -> None:
    """Forget every compiled bundle (tests)."""
    _CACHE.clear()


def model_for(task: "Task", mode: str | None = None) -> PyMCBundle:
    """The task's PyMC model, compiled once per task object and PyTensor mode.

    Parameters
    ----------
    task : Task
    mode : str, optional
        PyTensor mode; default :func:`pytensor_mode`.

    Returns
    -------
    PyMCBundle
        Cached: a second call with the same task returns the same object.
        :meth:`PyMCBundle.take_compile_s` hands the compile time to the first
        fit that asks.
    """
    mode = mode or pytensor_mode()
    key = (id(task), mode)
    bundle = _CACHE.get(key)
    if bundle is not None:
        return bundle
    pm = import_pymc()
    t0 = time.perf_counter()
    with quiet_pymc():
        if task.pymc_model is not None:
            model, source = task.pymc_model(), "pymc_model"
        else:
            model, source = op_model(task.log_density), "op"
        point = model.initial_point()
        layout = _value_layout(model, point)
        dim = layout[-1][1].stop if layout else 0
        if dim != task.dim:
            raise ValueError(f"task {task.label}: pymc_model has {dim} unconstrained values, task.dim is {task.dim}")
        logp_dlogp = model.logp_dlogp_function(ravel_inputs=True, mode=mode)
        logp_dlogp.trust_input = True
    del pm
    seconds = time.perf_counter() - t0
    bundle = PyMCBundle(model, source, dim, layout, mode, logp_dlogp, seconds, _unused_compile_s=seconds)
    _CACHE[key] = bundle
    weakref.finalize(task, _CACHE.pop, key, None)
    return bundle
