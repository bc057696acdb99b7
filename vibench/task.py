"""``Task``: one posterior at one size, and the helpers task factories use."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .density import LogDensity
from .errors import VibenchError
from .truth import Truth

__all__ = ["Task", "TaskFactory", "require", "call_factory", "resolve_params"]


@dataclass
class Task:
    """A posterior at one size, with its known truth.

    Attributes
    ----------
    name : str
        The registered task name (``"gaussian"``).
    params : dict
        The size parameters it was built with, defaults filled in.
    log_density : LogDensity
        The unnormalized log posterior on unconstrained ``R^dim``.
    truth : Truth
        What is known exactly about the posterior.
    initial_point : callable
        ``initial_point(rng) -> [dim]``: a starting point for optimizers and
        samplers (a draw from a broad distribution around the prior's centre).
    pymc_model : callable, optional
        ``pymc_model() -> pymc.Model`` over the same unconstrained vector, with
        one free vector variable. Tasks without one are bridged through a
        PyTensor Op by ``vibench.pymc_bridge``.
    tags : dict
        Free-form facts (``{"multimodal": True}``) that methods may consult.
    data : dict
        The task's data and prior constants (``X``, ``y``, hyperparameters),
        for methods that exploit model structure (CAVI) and for PyMC models.
    """

    name: str
    params: dict[str, Any]
    log_density: LogDensity
    truth: Truth
    initial_point: Callable[[np.random.Generator], np.ndarray]
    pymc_model: Callable[[], Any] | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        """Dimension of the unconstrained space."""
        return self.log_density.dim

    @property
    def label(self) -> str:
        """``name(k=v, ...)``: a short human label for tables."""
        inner = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}({inner})"


TaskFactory = Callable[..., Task]


def require(condition: bool, message: str) -> None:
    """Raise :class:`VibenchError` with ``message`` unless ``condition`` holds.

    Task factories use it to reject impossible sizes (``dim < 1``) with a
    message the CLI shows as one line.
    """
    if not condition:
        raise VibenchError(message)


def resolve_params(name: str, factory: TaskFactory, params: dict[str, Any]) -> dict[str, Any]:
    """The factory's full parameters for ``params``, checked against its signature, without building.

    Defaults are filled in; a whole float for an integer parameter becomes an
    ``int`` and an integer for a float parameter a ``float``.

    Parameters
    ----------
    name : str
        The task name, for messages.
    factory : callable
        The registered factory; its keyword arguments are the size parameters.
    params : dict
        The requested parameters.

    Returns
    -------
    dict
        What :func:`call_factory` passes to ``factory``.

    Raises
    ------
    VibenchError
        For an unknown, missing or ill-typed parameter.
    """
    sig = inspect.signature(factory)
    accepted = [p for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY or p.kind == p.POSITIONAL_OR_KEYWORD]
    names = [p.name for p in accepted]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise VibenchError(
            f"task {name!r} has no parameter {unknown[0]!r}; its parameters are: {', '.join(names) or '(none)'}"
        )
    full = {p.name: p.default for p in accepted if p.default is not inspect.Parameter.empty}
    full.update(params)
    missing = [n for n in names if n not in full]
    if missing:
        raise VibenchError(f"task {name!r} needs parameter {missing[0]!r}")
    for pname, value in list(full.items()):
        default = sig.parameters[pname].default
        if isinstance(default, bool) or default is inspect.Parameter.empty or default is None:
            continue
        if isinstance(default, int) and not isinstance(value, bool):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, (int, np.integer)):
                raise VibenchError(f"task {name!r}: parameter {pname!r} must be an integer, got {value!r}")
            full[pname] = int(value)
        elif isinstance(default, float):
            if not isinstance(value, (int, float, np.number)) or isinstance(value, bool):
                raise VibenchError(f"task {name!r}: parameter {pname!r} must be a number, got {value!r}")
            full[pname] = float(value)
    return full


def call_factory(name: str, factory: TaskFactory, params: dict[str, Any]) -> Task:
    """Build a task, turning unknown or ill-typed parameters into clear errors (see :func:`resolve_params`).

    Parameters
    ----------
    name : str
        The task name, for messages.
    factory : callable
        The registered factory; its keyword arguments are the size parameters.
    params : dict
        The requested parameters.

    Returns
    -------
    Task
    """
    full = resolve_params(name, factory, params)
    task = factory(**full)
    task.params = dict(full)
    task.name = name
    return task
