"""Diagnostics gates: is a cell's measurement trustworthy enough to win, set a crossover or a floor?

Every row gets ``reliable`` (bool) and ``flags`` (short strings). The rules:

* **Sampling cells** (a family in ``SAMPLING_FAMILIES``; for a plugin's new
  family, any result given as chains) are reliable only if they ran
  ``>= 2`` chains, the largest rank-normalized split R-hat over coordinates
  is ``<= 1.01`` (Vehtari et al. 2021), the smallest bulk and the smallest
  tail ESS are ``>= 100 x min(chains, 4)`` (100 per chain for PyMC's four
  chains; an ensemble's many walkers still need only 400), and the method
  reported no divergent transitions after tuning (``info["divergences"]``;
  zero: a divergence means the sampler missed part of the posterior, and
  more draws do not make it go away). R-hat and ESS are computed here by
  ArviZ from the draws, not taken from the method.
* **Optimization cells** (everything else) are reliable only if the method
  reports ``info["converged"] is True``.
* **A distance more than 3 SE below its floor** cannot come from independent
  draws of any distribution (the floor is what exact draws score): the draws
  are not what they claim (the truth's own draws returned, a lattice, a
  wrong chains/draws layout). Such a cell is unreliable.
* **PSIS k-hat > 0.7** (Yao et al. 2018: q misses mass of p, importance
  weights would have infinite variance) is a flag, not a failure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..approximation import Approximation, DrawsApproximation
from ..method import OPTIMIZATION_FAMILIES, SAMPLING_FAMILIES
from .diagnostics import ChainStats

__all__ = ["RHAT_MAX", "ESS_PER_CHAIN", "KHAT_MAX", "uses_chain_gates", "gate"]

RHAT_MAX = 1.01
ESS_PER_CHAIN = 100
KHAT_MAX = 0.7


def uses_chain_gates(approx: Approximation, family: str | None) -> bool:
    """Whether the sampling gates apply (else the optimizer's convergence gate)."""
    if family in SAMPLING_FAMILIES:
        return True
    if family in OPTIMIZATION_FAMILIES:
        return False
    return isinstance(approx, DrawsApproximation)


def _chain_flags(stats: ChainStats | None, info: dict[str, Any]) -> list[str]:
    if stats is None:
        return ["no chains"]
    flags = []
    if stats.chains < 2:
        flags.append(f"{stats.chains} chain")
    rhat = stats.rhat_max
    if not np.isfinite(rhat):
        flags.append("rhat undefined")
    elif rhat > RHAT_MAX:
        flags.append(f"rhat {rhat:.3g}")
    need = ESS_PER_CHAIN * min(stats.chains, 4)
    for name, values in (("ess_bulk", stats.ess_bulk), ("ess_tail", stats.ess_tail)):
        finite = values[np.isfinite(values)]
        low = float(finite.min()) if finite.size else 0.0
        if low < need:
            flags.append(f"{name} {low:.0f}<{need}")
    divergences = info.get("divergences") or 0
    if divergences:
        flags.append(f"{int(divergences)} divergences")
    return flags


def gate(approx: Approximation, family: str | None, stats: ChainStats | None,
         khat: float | None, dist: dict | None = None) -> tuple[bool, list[str]]:
    """``(reliable, flags)`` for one fitted cell.

    Parameters
    ----------
    approx : Approximation
        Its ``info`` carries ``divergences`` or ``converged``.
    family : str or None
        The method's family.
    stats : ChainStats or None
        ArviZ diagnostics of the draws (``None`` for non-chain results).
    khat : float or None
        PSIS k-hat of q against p, where q has a density.
    dist : dict, optional
        ``dist``, ``dist_se`` and ``dist_floor`` of the cell.

    Returns
    -------
    reliable : bool
    flags : list of str
        Every failed rule, plus ``khat`` when above :data:`KHAT_MAX`.
    """
    info = getattr(approx, "info", {}) or {}
    if uses_chain_gates(approx, family):
        flags = _chain_flags(stats, info)
    else:
        converged = info.get("converged")
        flags = [] if converged is True else ["not converged" if converged is False else "convergence not reported"]
    if dist and dist.get("dist") is not None and dist.get("dist_floor") is not None:
        if dist["dist"] < dist["dist_floor"] - 3 * (dist.get("dist_se") or 0.0):
            flags.append("dist 3 SE below its floor")
    reliable = not flags
    if khat is not None and not np.isnan(khat) and khat > KHAT_MAX:
        flags.append(f"khat {khat:.2f}")  # "khat inf": one draw carries all the weight
    return reliable, flags
