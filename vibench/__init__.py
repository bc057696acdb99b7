"""vibench: does optimization beat sampling on this posterior, at this size?

The public API::

    task = vibench.get_task("gaussian", dim=100, rho=0.9)
    method = vibench.get_method("laplace")
    approx = method.fit(task, vibench.Budget(steps=200), np.random.default_rng(0))
    row = vibench.evaluate(approx, task, np.random.default_rng(1))
    df = vibench.load("results/smoke-20261125-101500")
"""

from __future__ import annotations

from typing import Any

from .approximation import Approximation, DrawsApproximation, GaussianApproximation
from .density import LogDensity
from .errors import VibenchError
from .hookspecs import hookimpl
from .method import Budget, Method
from .task import Task, require
from .truth import Truth, gaussian_truth

__version__ = "0.1.0"

__all__ = [
    "Approximation",
    "Budget",
    "DrawsApproximation",
    "GaussianApproximation",
    "LogDensity",
    "Method",
    "Task",
    "Truth",
    "VibenchError",
    "evaluate",
    "gaussian_truth",
    "get_method",
    "get_task",
    "hookimpl",
    "load",
    "require",
]


def get_task(name: str, **params: Any) -> Task:
    """Build the registered task ``name`` at size ``params``.

    Parameters
    ----------
    name : str
        A registered task name (``vibench list tasks``).
    **params
        Size parameters, e.g. ``dim=100, rho=0.9``; omitted ones take defaults.

    Returns
    -------
    Task
    """
    from .registry import get_registry

    return get_registry().get_task(name, **params)


def get_method(name: str) -> Method:
    """The registered method ``name`` (``vibench list methods``)."""
    from .registry import get_registry

    return get_registry().get_method(name)


def evaluate(approximation: Approximation, task: Task, rng, family: str | None = None) -> dict[str, Any]:
    """Score an approximation against the task's truth; see :func:`vibench.scoring.evaluate`."""
    from .scoring.score import evaluate as _evaluate

    return _evaluate(approximation, task, rng, family=family)


def load(run_dir):
    """A run as a DataFrame, from its directory, ``cells.jsonl`` or ``results.parquet`` (:func:`vibench.store.load`)."""
    from .store import load as _load

    return _load(run_dir)
