"""Bring your own model: a user's PyMC model as a vibench task with a reference truth.

::

    task = vibench.tasks.from_pymc.from_pymc(model, name="my_model")

The task's unconstrained vector is the model's value variables, flattened in
``model.value_vars`` order (``tau_log__`` for a positive ``tau``); its log
density is the model's ``model.logp()`` compiled once with its gradient
(:func:`vibench.pymc_bridge.log_density_from_model`); its truth is a
reference from long, checked NUTS runs (:mod:`vibench.reference`), computed on
first use and stored under a key that includes a fingerprint of the log
density, so a changed model or data gets a new reference; PyMC methods run on
the model itself.

A suite names such a task as ``"module:function"`` (or
``"path/to/file.py:function"``): ``function(**params)`` returns a
``pymc.Model`` (or a finished :class:`~vibench.Task`), and its keyword
arguments are the task's size parameters. The module is imported with the
current directory on ``sys.path``, as ``python -m`` would.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import VibenchError
from ..reference import (ReferenceRefused, ReferenceSettings, RefusedTruth, parse_settings, reference_from_idata,
                         reference_truth)
from ..task import Task, TaskFactory
from ..truth import Truth

__all__ = ["from_pymc", "user_task_factory"]


def from_pymc(model, name: str | None = None, *, params: dict[str, Any] | None = None,
              settings: ReferenceSettings | None = None, jitter: float = 1.0, truth=None,
              refused: str = "raise") -> Task:
    """Turn a PyMC model into a :class:`~vibench.Task` whose truth is a stored NUTS reference (or yours).

    Parameters
    ----------
    model : pymc.Model
        With at least one free (continuous) random variable.
    name : str, optional
        The task's name (default: ``model.name`` or ``"pymc_model"``); with
        ``params`` and the model's fingerprint it keys the stored reference.
    params : dict, optional
        Size parameters to record (a suite's ``module:function`` fills them).
    settings : ReferenceSettings, optional
        Reference run settings; default those of the enclosing
        :func:`vibench.reference.using` block, else ``ReferenceSettings()``.
    jitter : float
        ``initial_point(rng)`` is the model's initial point plus ``uniform(-jitter, jitter)``
        on every unconstrained coordinate (PyMC's ``jitter+adapt_diag`` init).
    truth : arviz.InferenceData or vibench.Truth, optional
        Bring your own truth: draws of the posterior (your long NUTS run,
        posteriordb's reference draws) in an ``InferenceData`` whose
        ``posterior`` holds every free variable, constrained (``tau``) or
        unconstrained (``tau_log__``), with dims ``(chain, draw, ...)``; they are
        mapped to the unconstrained space and summarized with their MCSEs
        (:func:`vibench.reference.reference_from_idata`). No NUTS reference is
        run or stored. A :class:`~vibench.Truth` on the unconstrained vector is used as it is.
    refused : {"raise", "task"}
        What a refused reference does: raise :class:`~vibench.reference.ReferenceRefused`,
        or (suites) return the task with a :class:`~vibench.reference.RefusedTruth`,
        whose cells become error rows naming the failed checks.

    Returns
    -------
    Task

    Raises
    ------
    VibenchError
        A model without free variables, or a reference run that fails its checks.
    """
    from ..pymc_bridge import import_pymc, log_density_from_model

    pm = import_pymc()
    if not isinstance(model, pm.Model):
        raise VibenchError(f"from_pymc needs a pymc.Model, got {type(model).__name__}")
    if not model.value_vars:
        raise VibenchError("from_pymc: the model has no free random variables to infer")
    name = name or model.name or "pymc_model"
    params = dict(params or {})
    point = model.initial_point()
    start = np.concatenate([np.ravel(point[v.name]) for v in model.value_vars]).astype(float)
    density = log_density_from_model(model)
    label = f"{name}({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})"
    if not np.isfinite(density.logp(start)):
        raise VibenchError(f"task {label}: the model's log density is not finite at its initial point")
    density.reset_counts()
    if truth is not None:
        truth = _own_truth(model, truth, label, start.size)
    else:
        command = None if ":" in name else (f"from_pymc(model, name={name!r}) inside "
                                            "vibench.reference.using(refresh=True)")
        try:
            truth = reference_truth(name, params, density, lambda: model, settings=settings, command=command)
        except ReferenceRefused as exc:
            if refused != "task":
                raise
            truth = RefusedTruth(str(exc))

    def initial_point(rng: np.random.Generator) -> np.ndarray:
        return start + rng.uniform(-jitter, jitter, start.size)

    return Task(name=name, params=params, log_density=density, truth=truth, initial_point=initial_point,
                pymc_model=lambda: model, tags={"user_model": True})


def _own_truth(model, truth, label: str, dim: int) -> Truth:
    """A user's truth: a :class:`Truth` as given, or a reference from an InferenceData's posterior."""
    if isinstance(truth, Truth):
        if truth.dim != dim:
            raise VibenchError(f"task {label}: the truth has dim {truth.dim}, the model's unconstrained vector {dim}")
        return truth
    if not (hasattr(truth, "posterior") or hasattr(truth, "data_vars")):
        raise VibenchError(f"task {label}: truth= takes an arviz.InferenceData or a vibench.Truth, "
                           f"got {type(truth).__name__}")
    ref = reference_from_idata(model, truth, label)
    ref.provenance["task"] = label
    return ref.truth()


class _UserTask(Task):
    """A suite's user-model task: its ``params`` leave out ``reference`` when the suite set none."""

    @property
    def params(self) -> dict[str, Any]:
        return self._params

    @params.setter
    def params(self, value: dict[str, Any]) -> None:
        self._params = {k: v for k, v in dict(value).items() if not (k == "reference" and v is None)}


def _import(module: str, spec: str):
    """Import ``module`` (a dotted name, or a ``.py`` file path) with the current directory importable."""
    try:
        if module.endswith(".py"):
            path = Path(module).resolve()
            if not path.is_file():
                raise FileNotFoundError(f"no file {module}")
            found = importlib.util.spec_from_file_location(f"vibench_user_{path.stem}", path)
            loaded = importlib.util.module_from_spec(found)
            found.loader.exec_module(loaded)
            return loaded
        cwd = str(Path.cwd())
        if cwd not in sys.path and "" not in sys.path:
            sys.path.append(cwd)
        return importlib.import_module(module)
    except Exception as exc:
        raise VibenchError(f"task {spec!r}: cannot import {module!r}: {type(exc).__name__}: {exc}") from None


def user_task_factory(spec: str) -> TaskFactory:
    """The task factory of a ``"module:function"`` name (see the module docstring).

    Parameters
    ----------
    spec : str
        ``"module:function"`` or ``"path/to/file.py:function"``.

    Returns
    -------
    callable
        With ``function``'s signature (so its keyword arguments are the size
        parameters); returns a :class:`~vibench.Task` named ``spec``.

    Raises
    ------
    VibenchError
        When the module cannot be imported or has no such function.
    """
    module, _, attr = spec.rpartition(":")
    if not module or not attr:
        raise VibenchError(f"task {spec!r}: a user task is named 'module:function'")
    function: Callable[..., Any] | None = getattr(_import(module, spec), attr, None)
    if not callable(function):
        raise VibenchError(f"task {spec!r}: module {module!r} has no function {attr!r}")

    signature = inspect.signature(function)
    if "reference" in signature.parameters:
        raise VibenchError(f"task {spec!r}: 'reference' is the suite's [tasks.reference] table; "
                           f"rename {attr}()'s parameter")

    @functools.wraps(function)
    def factory(reference: str | None = None, **params: Any) -> Task:
        from ..pymc_bridge import import_pymc

        settings = parse_settings(reference, where=f"task {spec!r}: [tasks.reference]")
        built = function(**params)
        if isinstance(built, Task):
            return built
        if not isinstance(built, import_pymc().Model):
            raise VibenchError(f"task {spec!r}: {attr}() returned {type(built).__name__}, "
                               "not a pymc.Model or a vibench.Task")
        # a refused reference becomes the task's truth, so each of its cells is an error row naming the
        # failed checks and the run goes on; the reference settings key the stored reference, not the name
        task = from_pymc(built, name=spec, params=params, settings=settings, refused="task")
        return _UserTask(**{f.name: getattr(task, f.name) for f in dataclasses.fields(Task)})

    # the suite's [tasks.reference] table arrives as the keyword-only parameter ``reference``
    extra = inspect.Parameter("reference", inspect.Parameter.KEYWORD_ONLY, default=None)
    kept = [p for p in signature.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    tail = [p for p in signature.parameters.values() if p.kind == inspect.Parameter.VAR_KEYWORD]
    factory.__signature__ = signature.replace(parameters=kept + [extra] + tail)
    return factory
