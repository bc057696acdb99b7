"""``Cell``: one (task, size, method, budget, seed) — plain, picklable, with a stable key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from .method import Budget

__all__ = ["Cell", "size_label"]


def size_label(params: dict[str, Any]) -> str:
    """``dim=10,rho=0.9``: the size parameters as a short sorted string."""
    return ",".join(f"{k}={v}" for k, v in sorted(params.items()))


@dataclass(frozen=True)
class Cell:
    """One unit of work. Everything downstream of the suite works on cells.

    Attributes
    ----------
    task : str
    params : tuple of (name, value) pairs, sorted by name
    method : str
    budget : Budget
    seed : int
    """

    task: str
    params: tuple[tuple[str, Any], ...]
    method: str
    budget: Budget
    seed: int

    @classmethod
    def make(cls, task: str, params: dict[str, Any], method: str, budget: Budget, seed: int) -> "Cell":
        """Build a cell from a params dict."""
        return cls(task, tuple(sorted(params.items())), method, budget, int(seed))

    @property
    def params_dict(self) -> dict[str, Any]:
        """The size parameters as a dict."""
        return dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        """The identifying fields, as stored in each row."""
        return {
            "task": self.task,
            "params": self.params_dict,
            "method": self.method,
            "budget": self.budget.to_dict(),
            "seed": self.seed,
        }

    @property
    def key(self) -> str:
        """A stable 16-hex-digit hash of the identifying fields (same on every machine)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def rngs(self) -> tuple[np.random.Generator, np.random.Generator]:
        """Independent generators for fitting and for evaluation, from the seed alone."""
        fit, evaluate = np.random.SeedSequence(self.seed).spawn(2)
        return np.random.default_rng(fit), np.random.default_rng(evaluate)

    def __str__(self) -> str:
        return f"{self.task}({size_label(self.params_dict)}) {self.method}[{self.budget}] seed={self.seed}"
