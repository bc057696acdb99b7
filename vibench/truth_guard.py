"""What keeps a method from its score's answer and from changing what a later cell sees.

* :class:`HiddenTruth` stands in for ``task.truth`` in the view a method gets
  (:func:`fit_view`): reading or writing it raises :class:`TruthAccessError`
  and is remembered, even if the method catches the error;
* :func:`freeze` makes a task's arrays (data, tags, truth) read-only;
* :func:`check_truth` says why a truth cannot be scored against (non-finite
  moments, a covariance that is not positive semi-definite), or ``None``.

:mod:`vibench.runner` uses them for every cell, and :mod:`vibench.testing` to
check a method the same way; both import them from ``vibench.runner`` too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .isolation import one_line
from .task import Task

__all__ = ["HiddenTruth", "TruthAccessError", "fit_view", "check_truth", "freeze"]


class TruthAccessError(RuntimeError):
    """A method read ``task.truth``: what it is scored against."""


class HiddenTruth:
    """Stands in for ``task.truth`` while a method runs: any attribute access raises and is remembered."""

    __slots__ = ("_read",)

    def __init__(self):
        object.__setattr__(self, "_read", False)

    def __getattr__(self, name):
        if name.startswith("__"):  # copy, pickle and friends probing for hooks
            raise AttributeError(name)
        object.__setattr__(self, "_read", True)
        raise TruthAccessError(f"method read task.truth.{name}: a method must not use the truth it is scored against")

    def __setattr__(self, name, value):
        object.__setattr__(self, "_read", True)
        raise TruthAccessError("method wrote task.truth: a method must not use the truth it is scored against")

    def __bool__(self):
        object.__setattr__(self, "_read", True)
        raise TruthAccessError("method read task.truth: a method must not use the truth it is scored against")

    def __repr__(self):
        return "<hidden truth>"

    def __reduce__(self):  # copies and pickles of a task view stay views, not a read of the truth
        return (HiddenTruth, ())

    @property
    def was_read(self) -> bool:
        """Whether the method touched it (even if it caught the error)."""
        return object.__getattribute__(self, "_read")


def freeze(value: Any, _depth: int = 0) -> Any:
    """Make the numpy arrays in ``value`` (and in dicts, lists and tuples inside it) read-only, in place."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif _depth < 4 and isinstance(value, dict):
        for v in value.values():
            freeze(v, _depth + 1)
    elif _depth < 4 and isinstance(value, (list, tuple)):
        for v in value:
            freeze(v, _depth + 1)
    return value


def check_truth(truth: Any, dim: int) -> str | None:
    """Why ``truth`` cannot be scored against (non-finite, wrong shape, covariance not PSD), or ``None``."""
    try:
        mean, sd = np.asarray(truth.mean, dtype=float), np.asarray(truth.sd, dtype=float)
        if mean.shape != (dim,) or sd.shape != (dim,):
            return f"truth.mean and truth.sd must have shape ({dim},), got {mean.shape} and {sd.shape}"
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(sd))):
            return "truth.mean or truth.sd is not finite"
        if np.any(sd <= 0):
            return "truth.sd must be > 0"
        precision = getattr(truth, "precision", None)
        if precision is not None:  # a banded truth: its dense cov is never built here
            band = np.asarray(getattr(precision, "band", 0.0), dtype=float)
            if not np.all(np.isfinite(band)):
                return "truth.precision is not finite"
        elif truth.cov is not None:
            cov = np.asarray(truth.cov, dtype=float)
            if cov.shape != (dim, dim) or not np.all(np.isfinite(cov)):
                return "truth.cov is not a finite (dim, dim) matrix"
            scale = max(1.0, float(np.max(np.abs(cov))))
            if not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-12 * scale):
                return "truth.cov is not symmetric"
            if dim <= 2000:
                low = float(np.min(np.linalg.eigvalsh(cov)))
                if low < -1e-8 * scale:
                    return f"truth.cov is not positive semi-definite (smallest eigenvalue {low:.3g})"
            else:
                try:
                    np.linalg.cholesky(cov + 1e-10 * scale * np.eye(dim))
                except np.linalg.LinAlgError:
                    return "truth.cov is not positive semi-definite (its Cholesky factorization fails)"
        if truth.draws is not None and not np.all(np.isfinite(np.asarray(truth.draws, dtype=float))):
            return "truth.draws are not finite"
    except Exception as exc:  # a truth this broken is its own explanation
        return f"truth cannot be checked: {one_line(exc)}"
    return None


def fit_view(task: Task, view: Task | None = None) -> Task:
    """The task as a method sees it: the same density and data (read-only), a hidden truth.

    Pass the ``view`` of an earlier cell to reset it in place rather than make
    a new one: its identity is what methods cache compiled models by, so it
    stays the same object from cell to cell, while every field a method may
    have reassigned is set back (extra attributes, a method's own caches, stay).
    """
    fields = dict(
        name=task.name, params=dict(task.params), log_density=task.log_density, truth=HiddenTruth(),
        initial_point=task.initial_point, pymc_model=task.pymc_model,
        tags=dict(task.tags), data=dict(task.data),
    )
    if view is None:
        return Task(**fields)
    for key, value in fields.items():
        setattr(view, key, value)
    return view
