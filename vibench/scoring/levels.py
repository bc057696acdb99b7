"""Accuracy levels: the thresholds a verdict is stated at, on the common yardstick.

A level is a metric and a threshold:

* ``moments <= t``: ``mean_err <= t`` and ``sd_err <= t`` -- every coordinate's
  posterior mean and sd within ``t`` posterior sds (default 0.1: the DADVI
  paper's reading of "accurate");
* ``dist <= t``: the sliced W1 to the truth's draws within ``t`` posterior sds
  (defaults 0.1 and 0.2). A projection shifted by ``t`` sd, or with its sd
  off by ``t sqrt(pi / 2)`` (12.5 % at 0.1), sits at ``t``. 0.1 asks for a
  typical projection as accurate as 0.1 sd; 0.2 is "roughly right". Both are
  resolvable with a few hundred effective draws (the floor of 400 exact
  draws against 4,000 truth draws is 0.068); 0.05 would need about 1,500;
* ``kl <= t``: KL(q||p) in nats, for methods with a density only (defaults
  0.1 and 1.0): a comparison among optimization methods, since samplers have
  no KL.

A suite sets them with a table ``thresholds = {moments = [0.1], dist = [0.1,
0.2], kl = [0.1, 1.0]}``; a plain list is read as KL thresholds (the old
form), the other metrics keeping their defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

__all__ = ["Level", "METRICS", "DEFAULT_LEVELS", "parse_levels", "levels_to_dict"]

METRICS = ("moments", "dist", "kl")
DEFAULT_LEVELS: dict[str, tuple[float, ...]] = {"moments": (0.1,), "dist": (0.1, 0.2), "kl": (0.1, 1.0)}


@dataclass(frozen=True, order=True)
class Level:
    """One threshold on one metric."""

    metric: str
    threshold: float

    @property
    def label(self) -> str:
        """``moments<=0.1``, ``dist<=0.2``, ``KL<=1``."""
        name = "KL" if self.metric == "kl" else self.metric
        return f"{name}<={self.threshold:g}"


def _numbers(key: str, value: Any) -> tuple[float, ...]:
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"thresholds.{key} must be finite numbers > 0, got {v!r}")
        out.append(float(v))
    return tuple(sorted(set(out)))


def parse_levels(value: Any = None) -> list[Level]:
    """The levels of a suite's ``thresholds`` value (a table, a list of KL thresholds, or ``None``).

    Raises
    ------
    ValueError
        Unknown metric names, non-numbers, values <= 0 or not finite.
    """
    chosen = {k: v for k, v in DEFAULT_LEVELS.items()}
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(METRICS))
        if unknown:
            raise ValueError(f"thresholds has unknown metric {unknown[0]!r}; allowed: {', '.join(METRICS)}")
        chosen.update({k: _numbers(k, v) for k, v in value.items()})
    elif value is not None:
        chosen["kl"] = _numbers("kl", value)
    return [Level(m, t) for m in METRICS for t in chosen[m]]


def levels_to_dict(levels: Iterable[Level]) -> dict[str, list[float]]:
    """The plain-data form stored in ``run.json``: ``{"moments": [0.1], ...}``."""
    out: dict[str, list[float]] = {}
    for level in levels:
        out.setdefault(level.metric, []).append(level.threshold)
    return out
