"""Cheap size checks of the built-in tasks: what ``vibench run`` checks before a run, building nothing.

Each check takes a task's full parameters (defaults filled in) and raises the
:class:`~vibench.VibenchError` its factory would raise for an impossible size,
with the same message, from the same constants; the factories keep their own
checks, which stay the last word (a size that passes here and fails there is an
``error`` row per cell). ``tests/test_lazy_imports.py`` holds the two to the
same answers.

Tasks without a check here are checked by building them before the run:
``logistic_regression``, whose truth at a new size is a NUTS reference computed
on its first build, which must run once, before the run, not inside a cell's
timeout in several workers at once.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..task import require
from . import banana, funnel, gaussian, gmrf, hierarchical, linear_regression, mixture

__all__ = ["CHECKS", "no_sizes"]


def no_sizes(**params: Any) -> None:
    """A task without size parameters: the signature check is all there is."""


def _gaussian(dim: int, rho: float) -> None:
    gaussian._check_dim(dim)
    require(-1 < rho < 1, f"rho must be in (-1, 1), got {rho}")


def _gaussian_illcond(dim: int, condition: float, seed: int) -> None:
    gaussian._check_dim(dim, gaussian.MAX_DENSE_DIM)
    require(condition >= 1, f"condition must be >= 1, got {condition}")


def _linear_regression(n: int, dim: int, noise: float, prior_scale: float, seed: int) -> None:
    linear_regression.check_regression_sizes(n, dim, prior_scale)
    require(noise > 0, f"noise must be > 0, got {noise}")


def _linear_regression_nig(n: int, dim: int, a0: float, b0: float, prior_scale: float, seed: int) -> None:
    linear_regression.check_regression_sizes(n, dim, prior_scale)
    require(a0 > 0 and b0 > 0, f"a0 and b0 must be > 0, got a0={a0}, b0={b0}")
    a_n = a0 + 0.5 * n
    require(a_n > 1, f"a0 + n/2 must exceed 1 for the posterior variance to exist, got {a_n}")


def _funnel(dim: int) -> None:
    require(2 <= dim <= funnel.MAX_DIM, f"dim must be between 2 and {funnel.MAX_DIM}, got {dim}")


def _banana(dim: int, curvature: float) -> None:
    require(2 <= dim <= banana.MAX_DIM, f"dim must be between 2 and {banana.MAX_DIM}, got {dim}")
    require(np.isfinite(curvature), f"curvature must be finite, got {curvature}")


def _mixture(dim: int, separation: float) -> None:
    require(1 <= dim <= mixture.MAX_DIM, f"dim must be between 1 and {mixture.MAX_DIM}, got {dim}")
    require(0 <= separation < np.inf, f"separation must be finite and >= 0, got {separation}")


def _hierarchical(groups: int, n_per_group: int, centered: bool, seed: int) -> None:
    require(1 <= groups <= hierarchical.MAX_GROUPS,
            f"groups must be between 1 and {hierarchical.MAX_GROUPS}, got {groups}")
    require(n_per_group >= 1, f"n_per_group must be >= 1, got {n_per_group}")


def _gmrf(grid: int, kappa: float, tau: float) -> None:
    require(1 <= grid <= gmrf.MAX_GRID, f"grid must be between 1 and {gmrf.MAX_GRID}, got {grid}")
    require(kappa > 0, f"kappa must be > 0, got {kappa}")
    require(tau > 0, f"tau must be > 0, got {tau}")


#: ``{task name: check}`` for the built-in tasks that have one (the posteriordb ones use :func:`no_sizes`).
CHECKS: dict[str, Callable[..., None]] = {
    "gaussian": _gaussian,
    "gaussian_illcond": _gaussian_illcond,
    "linear_regression": _linear_regression,
    "linear_regression_nig": _linear_regression_nig,
    "funnel": _funnel,
    "banana": _banana,
    "mixture": _mixture,
    "eight_schools_centered": no_sizes,
    "eight_schools_noncentered": no_sizes,
    "hierarchical": _hierarchical,
    "brownian_motion": no_sizes,
    "gmrf": _gmrf,
}
