"""Which PyTensor mode each PyMC method compiles with, and why.

Pip-installed PyTensor finds no BLAS here, so its C backend (``"FAST_RUN"``)
runs dense linear algebra through slow fallbacks; ``"NUMBA"`` does not, but
compiles slower (2-3 s per graph per process for graphs with the black-box
Op, whose object-mode call NUMBA cannot cache on disk; C modules are cached).
Measured on gaussian(dim=100, rho=0.9), minimum over repeats with warm
caches, microseconds per ADVI iteration or per NUTS gradient evaluation,
through the black-box Op and through an equivalent ``pm.MvNormal`` model:

==============  =============  ===========
method          C: Op / PyMC   NUMBA: Op / PyMC
==============  =============  ===========
meanfield ADVI  33 / 33        36 / 90
fullrank ADVI   225 / 230      100 / 150
NUTS            34 / 29        38 / 25
==============  =============  ===========

Hence the table below. ``$VIBENCH_PYTENSOR_MODE`` overrides it everywhere.
"""

from __future__ import annotations

from vibench import pymc_bridge

__all__ = ["MODES", "mode_for"]

#: Best measured mode per (method kind, model source).
MODES = {
    ("advi", "op"): "FAST_RUN",
    ("advi", "pymc_model"): "FAST_RUN",
    ("fullrank_advi", "op"): "NUMBA",
    ("fullrank_advi", "pymc_model"): "NUMBA",
    ("nuts", "op"): "FAST_RUN",
    ("nuts", "pymc_model"): "NUMBA",
}


def mode_for(kind: str, source: str) -> str:
    """The PyTensor mode for method ``kind`` on a model from ``source`` (``"op"`` or ``"pymc_model"``)."""
    return pymc_bridge.pytensor_mode(MODES.get((kind, source)))
