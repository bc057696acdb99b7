"""vibench_rwm: random-walk Metropolis as a third-party vibench plugin.

The package registers one method, ``rwm``, through the ``vibench``
entry-point group declared in pyproject.toml.
"""

from __future__ import annotations

import vibench

from .rwm import RandomWalkMetropolis

__all__ = ["RandomWalkMetropolis", "vibench_register_methods"]


@vibench.hookimpl
def vibench_register_methods(registry):
    """Register the ``rwm`` method."""
    registry.add_method(RandomWalkMetropolis())
