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

The flat-vector side (the quiet import, the PyTensor mode, a model's log
density and draws) lives in :mod:`vibench.pymc_model` and is re-exported here.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .density import LogDensity
from .pymc_model import (DEFAULT_MODE, MODE_ENV, flat_logp_and_grad, import_pymc, log_density_from_model,
                         pytensor_mode, quiet_pymc, unconstrained_draws, value_layout)

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
        layout = value_layout(model, model.initial_point())
    dim = layout[-1][1].stop if layout else 0
    if dim != task.dim:
        raise ValueError(f"task {task.label}: pymc_model has {dim} unconstrained values, task.dim is {task.dim}")
    bundle = PyMCBundle(model, source, task.log_density, dim, layout)
    _CACHE[id(task)] = bundle
    weakref.finalize(task, _CACHE.pop, id(task), None)
    return bundle
