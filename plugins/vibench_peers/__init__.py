"""vibench_peers: the methods users pick instead of PyMC's own -- nutpie's NUTS, Pathfinder and DADVI.

Registers ``nutpie-nuts`` (mcmc), ``pathfinder`` (pathfinder, an optimization
family) and ``pymc-dadvi`` (meanfield). They need the optional extras
``pip install "vibench[peers]"`` (nutpie, pymc-extras); without them they are
still listed, with the install hint, and their cells are ``unsupported``.
Importing this package imports neither.
"""

from __future__ import annotations

import vibench

from .methods import INSTALL_HINT, NutpieNUTS, Pathfinder, PyMCDADVI

__all__ = ["INSTALL_HINT", "NutpieNUTS", "Pathfinder", "PyMCDADVI", "vibench_register_methods"]


@vibench.hookimpl
def vibench_register_methods(registry):
    """Register ``nutpie-nuts``, ``pathfinder`` and ``pymc-dadvi``."""
    registry.add_method(NutpieNUTS())
    registry.add_method(Pathfinder())
    registry.add_method(PyMCDADVI())
