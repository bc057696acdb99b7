"""Scoring: one yardstick for every method, KL where it is one, and the diagnostics gates.

:func:`evaluate` is the one entry point the runner calls. For every fitted
cell, whatever the method returns, it computes against the task's truth:

* the moment errors ``mean_err``, ``sd_err`` with their SEs (:mod:`.moments`);
* the distance ``dist`` to the truth's draws, with ``dist_se``, ``dist_floor``
  and ``dist_n`` (:mod:`.distance`);
* KL(q||p) only where it is a KL: ``closed-form`` for a Gaussian q against a
  Gaussian truth, ``mc`` (with ``kl_se``) for any q with a density against a
  normalized truth; empty otherwise (:mod:`.kl`). Also the inclusive
  KL(p||q) and PSIS k-hat where q has a density;
* ArviZ's R-hat and ESS of chains (:mod:`.diagnostics`), and the gates
  ``reliable`` and ``flags`` (:mod:`.gates`).

Evaluating the task's log density here is never charged to the method.
"""

from __future__ import annotations

from typing import Any

__all__ = ["METRIC_KEYS", "check_finite", "evaluate", "kl_divergence", "kl_inclusive", "psis_khat", "elbo"]

_LAZY = {"check_finite", "evaluate", "kl_divergence", "kl_inclusive", "psis_khat", "elbo"}


def __getattr__(name: str) -> Any:
    """Import the scoring code on first use (``vibench list`` must not pay for scipy and ArviZ)."""
    if name == "METRIC_KEYS":
        from ..columns import METRIC_KEYS

        return METRIC_KEYS
    if name in _LAZY:
        from . import score as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
