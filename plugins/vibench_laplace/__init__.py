"""vibench_laplace: the Laplace approximation (MAP plus Hessian) as a vibench plugin."""

from __future__ import annotations

import vibench

from .laplace import Laplace

__all__ = ["Laplace", "vibench_register_methods"]


@vibench.hookimpl
def vibench_register_methods(registry):
    """Register the ``laplace`` method."""
    registry.add_method(Laplace())
