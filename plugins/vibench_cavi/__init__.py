"""vibench_cavi: coordinate-ascent VI for the normal-inverse-gamma regression, as a vibench plugin."""

from __future__ import annotations

import vibench

from .cavi import CAVI
from .nig import NIGApproximation

__all__ = ["CAVI", "NIGApproximation", "vibench_register_methods"]


@vibench.hookimpl
def vibench_register_methods(registry):
    """Register the ``cavi`` method."""
    registry.add_method(CAVI())
