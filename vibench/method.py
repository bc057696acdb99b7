"""``Method`` protocol and ``Budget``: what a plugin implements, and how much it may do."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import VibenchError

if TYPE_CHECKING:  # pragma: no cover
    from .approximation import Approximation
    from .task import Task

__all__ = ["Budget", "Method", "FAMILIES", "OPTIMIZATION_FAMILIES", "SAMPLING_FAMILIES"]

OPTIMIZATION_FAMILIES = ("meanfield", "fullrank", "laplace", "cavi", "pathfinder")
SAMPLING_FAMILIES = ("mcmc",)
FAMILIES = OPTIMIZATION_FAMILIES + SAMPLING_FAMILIES


@dataclass(frozen=True)
class Budget:
    """How much work a method may do.

    Parameters
    ----------
    steps : int
        Iterations or draws, in the method's own meaning (optimizer iterations
        for VI and Laplace, draws per chain after tuning for MCMC). At least 1.
    max_seconds : float, optional
        A soft wall-time limit the method should respect; the runner's
        per-cell timeout is the hard one.
    """

    steps: int
    max_seconds: float | None = None

    def __post_init__(self):
        if isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)):
            raise VibenchError(f"budget steps must be an integer, got {self.steps!r}")
        if self.steps < 1:
            raise VibenchError(f"budget steps must be >= 1, got {self.steps}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise VibenchError(f"budget max_seconds must be > 0, got {self.max_seconds!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Budget":
        """Build from a suite-file table such as ``{steps = 1000}``."""
        unknown = sorted(set(data) - {"steps", "max_seconds"})
        if unknown:
            raise VibenchError(f"budget has unknown key {unknown[0]!r}; allowed: steps, max_seconds")
        if "steps" not in data:
            raise VibenchError("budget needs 'steps'")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, as stored in result rows."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        return f"{self.steps}" if self.max_seconds is None else f"{self.steps}/{self.max_seconds}s"


class Method:
    """Base class for inference methods provided by plugins.

    Subclasses set ``name`` and ``family`` and implement :meth:`fit`.
    ``family`` is one of ``meanfield``, ``fullrank``, ``laplace``, ``cavi``
    (optimization), ``mcmc`` (sampling), or a new name of the plugin's own.

    Attributes
    ----------
    name : str
        Unique registered name, e.g. ``"laplace"``.
    family : str
        The kind of method (see above).
    steps_meaning : str
        What ``Budget.steps`` counts for this method, for docs and ``vibench list``.
    """

    name: str = ""
    family: str = ""
    steps_meaning: str = "iterations"

    def supports(self, task: "Task") -> bool | str:
        """``True`` if the method can run on ``task``, else a reason string."""
        return True

    def prepare(self, task: "Task") -> None:
        """One-time set-up for ``task`` before any fit: compile, JIT, import (optional).

        The runner calls it before it starts the fit clock and records its
        wall time as the row's ``setup_s``, not ``fit_s``. It must be cheap to
        call again on a task it has already prepared (cache by task object).
        Evaluations of ``task.log_density`` made here are not charged to the
        method. A method that can only separate set-up inside :meth:`fit` may
        instead report it as ``info["setup_s"]``, which the runner subtracts
        from the fit's time.
        """
        return None

    def fit(self, task: "Task", budget: Budget, rng: np.random.Generator) -> "Approximation":
        """Run on ``task`` within ``budget`` and return an :class:`Approximation`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ({self.family})>"
