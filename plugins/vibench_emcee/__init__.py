"""vibench_emcee: the affine-invariant ensemble sampler (emcee) as a vibench plugin."""

from __future__ import annotations

import vibench

from .sampler import Emcee

__all__ = ["Emcee", "vibench_register_methods"]


@vibench.hookimpl
def vibench_register_methods(registry):
    """Register the ``emcee`` method."""
    registry.add_method(Emcee())
