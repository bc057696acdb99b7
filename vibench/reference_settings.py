"""``ReferenceSettings``: how a reference truth is sampled and checked, and its suite-file form.

:func:`parse_settings` reads a suite's ``[tasks.reference]`` table (or the
string :func:`format_settings` makes of it); :meth:`ReferenceSettings.key` is
the settings' part of a stored reference's file name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from .errors import VibenchError

__all__ = ["ReferenceSettings", "parse_settings", "format_settings"]


@dataclass(frozen=True)
class ReferenceSettings:
    """How a reference is sampled and what it must pass (see :mod:`vibench.reference`).

    Attributes
    ----------
    chains, draws, tune, seed, target_accept
        ``pm.sample`` arguments (chains run one after another, on one core).
    keep : int
        Evenly thinned draws stored with the reference (moments use all draws).
    max_rhat, min_ess_bulk, min_ess_tail, max_divergences, min_bfmi
        The checks: R-hat ``< max_rhat``, ESS ``>=`` its minimum for every
        coordinate, divergences ``<=`` :meth:`allowed_divergences`, every chain's E-BFMI ``>= min_bfmi``.
    max_divergence_rate : float
        Divergent transitions allowed per post-tuning draw (all chains):
        0.001, i.e. 0.1 %; ``0`` with ``max_divergences = 0`` is posteriordb's
        zero-divergence rule.
    """

    chains: int = 4
    draws: int = 5000
    tune: int = 1000
    seed: int = 0
    target_accept: float = 0.9
    keep: int = 4000
    max_rhat: float = 1.01
    min_ess_bulk: float = 1000.0
    min_ess_tail: float = 1000.0
    max_divergences: int = 0
    min_bfmi: float = 0.3
    max_divergence_rate: float = 0.001

    def __post_init__(self):
        if self.chains < 1 or self.draws < 10 or self.tune < 0 or self.keep < 1:
            raise VibenchError(f"reference settings need chains >= 1, draws >= 10, tune >= 0, keep >= 1: {self}")
        if not 0.0 < self.target_accept < 1.0:
            raise VibenchError(f"reference target_accept must be in (0, 1), got {self.target_accept}")
        if self.max_divergences < 0 or not 0.0 <= self.max_divergence_rate < 1.0:
            raise VibenchError("reference max_divergences must be >= 0 and max_divergence_rate in [0, 1), got "
                               f"{self.max_divergences} and {self.max_divergence_rate}")

    def allowed_divergences(self) -> int:
        """Divergent transitions after tuning a run may have: ``max_divergences`` or the rate's share, the larger."""
        return max(int(self.max_divergences), int(self.max_divergence_rate * self.chains * self.draws))

    def key(self) -> str:
        """A short hash of the settings, part of the file name.

        ``max_divergence_rate`` enters only when it is not its default, so
        references stored before it existed (which had no divergences) keep their key.
        """
        data = asdict(self)
        if data["max_divergence_rate"] == ReferenceSettings.max_divergence_rate:
            del data["max_divergence_rate"]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]


def parse_settings(text: str | dict[str, Any] | None, where: str = "reference") -> ReferenceSettings | None:
    """``ReferenceSettings`` from a suite's ``[tasks.reference]`` table or its :func:`format_settings` string.

    Parameters
    ----------
    text : str or dict or None
        ``{"draws": 20000, "target_accept": 0.95}`` or ``"draws=20000,target_accept=0.95"``; ``None`` or
        ``""`` gives ``None`` (the defaults).
    where : str
        For messages.

    Raises
    ------
    VibenchError
        Unknown keys, values of the wrong type, or settings :class:`ReferenceSettings` refuses.
    """
    if text is None or text == "" or text == {}:
        return None
    if isinstance(text, str):
        items = {}
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise VibenchError(f"{where}: expected key=value, got {part!r}")
            try:
                items[key.strip()] = json.loads(value)
            except ValueError:
                raise VibenchError(f"{where}: {key.strip()} must be a number, got {value!r}") from None
        text = items
    if not isinstance(text, dict):
        raise VibenchError(f"{where}: the reference settings must be a table, got {text!r}")
    fields = {f.name: f.type for f in dataclasses.fields(ReferenceSettings)}
    unknown = sorted(set(text) - set(fields))
    if unknown:
        raise VibenchError(f"{where}: unknown reference setting {unknown[0]!r}; allowed: {', '.join(fields)}")
    values = {}
    for key, value in text.items():
        integer = fields[key] in (int, "int")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
            raise VibenchError(f"{where}: {key} must be {'an integer' if integer else 'a number'}, got {value!r}")
        values[key] = int(value) if integer else float(value)
    return ReferenceSettings(**values)


def format_settings(table: dict[str, Any]) -> str:
    """The canonical string of a ``[tasks.reference]`` table (sorted ``key=value``, checked by :func:`parse_settings`)."""
    parse_settings(table)
    return ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(table.items()))
