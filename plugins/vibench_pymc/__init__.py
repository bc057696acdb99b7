"""vibench_pymc: PyMC's ADVI, full-rank ADVI and NUTS as vibench methods.

Registers ``pymc-advi`` (meanfield), ``pymc-fullrank-advi`` (fullrank) and
``pymc-nuts`` (mcmc). They run on every task: on ``task.pymc_model()`` when
the task has one, otherwise on a black-box PyTensor Op over the task's
``LogDensity`` (see :mod:`vibench.pymc_bridge`). Importing this package does
not import PyMC; the first ``fit`` does.
"""

from __future__ import annotations

import vibench

from .methods import PyMCADVI, PyMCFullRankADVI, PyMCNUTS

__all__ = ["PyMCADVI", "PyMCFullRankADVI", "PyMCNUTS", "vibench_register_methods"]


@vibench.hookimpl
def vibench_register_methods(registry):
    """Register ``pymc-advi``, ``pymc-fullrank-advi`` and ``pymc-nuts``."""
    registry.add_method(PyMCADVI())
    registry.add_method(PyMCFullRankADVI())
    registry.add_method(PyMCNUTS())
