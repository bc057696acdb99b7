"""vibench_vi: mean-field and full-rank Gaussian VI (numpy/scipy) as a vibench plugin.

Both methods maximize a fixed-draw (DADVI-style) ELBO with reparameterization
gradients from the task's batched ``LogDensity``: ``meanfield`` by two-stage
L-BFGS, ``fullrank`` by a damped Gaussian Newton (natural-gradient) iteration.
"""

from __future__ import annotations

import vibench

from .fullrank import FullRankVI
from .meanfield import MeanFieldVI

__all__ = ["FullRankVI", "MeanFieldVI", "vibench_register_methods"]


@vibench.hookimpl
def vibench_register_methods(registry):
    """Register the ``meanfield`` and ``fullrank`` methods."""
    registry.add_method(MeanFieldVI())
    registry.add_method(FullRankVI())
