"""A normal hierarchical model whose number of groups is the size: ``hierarchical``.

::

    mu ~ N(0, 5^2),  tau ~ HalfNormal(5)
    theta_j ~ N(mu, tau^2),  j = 1..groups      (non-centered: theta_j = mu + tau eta_j)
    y_ij ~ N(theta_j, 1),  i = 1..n_per_group   (noise scale known)

with data simulated from ``seed``: ``mu = 1``, ``tau = 1``, ``theta_j ~ N(mu,
tau^2)`` then ``y_ij ~ N(theta_j, 1)``. The unconstrained vector is ``(mu, log
tau, theta_1..groups)`` (or ``eta`` when ``centered=False``), matching the
value variables of ``task.pymc_model()``; the dimension is ``groups + 2``.

The truth is exact up to 1-D quadrature over ``log tau``, whatever the number
of groups (see :mod:`vibench.tasks._hierarchical`): the group means reduce to
sufficient statistics ``ybar_j ~ N(theta_j, 1 / n_per_group)``.
"""

from __future__ import annotations

import numpy as np

from ..task import Task, require
from ._hierarchical import NormalHierarchy, hierarchy_task

__all__ = ["make_hierarchical", "simulate_groups"]

MAX_GROUPS = 1000
TRUE_MU = 1.0
TRUE_TAU = 1.0
NOISE = 1.0


def simulate_groups(groups: int, n_per_group: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate ``theta_j ~ N(1, 1)`` and ``y_ij ~ N(theta_j, 1)`` from ``np.random.default_rng(seed)``.

    Returns
    -------
    y : ndarray, shape (groups * n_per_group,)
    group : ndarray of int, shape (groups * n_per_group,)
    theta : ndarray, shape (groups,)
        The group means the data were simulated from.
    """
    rng = np.random.default_rng(seed)
    theta = TRUE_MU + TRUE_TAU * rng.standard_normal(groups)
    group = np.repeat(np.arange(groups), n_per_group)
    y = theta[group] + NOISE * rng.standard_normal(group.size)
    return y, group, theta


def make_hierarchical(groups: int = 8, n_per_group: int = 10, centered: bool = True, seed: int = 0) -> Task:
    """Normal hierarchical model with ``groups`` groups of ``n_per_group`` observations.

    Parameters
    ----------
    groups : int
        Number of groups (the size parameter); the dimension is ``groups + 2``.
    n_per_group : int
        Observations per group.
    centered : bool
        Sample ``theta`` (centered) or ``eta = (theta - mu) / tau`` (non-centered).
    seed : int
        Seed of the simulated data.

    Returns
    -------
    Task
    """
    require(1 <= groups <= MAX_GROUPS, f"groups must be between 1 and {MAX_GROUPS}, got {groups}")
    require(n_per_group >= 1, f"n_per_group must be >= 1, got {n_per_group}")
    y, group, theta = simulate_groups(groups, n_per_group, seed)
    model = NormalHierarchy(y=y, group=group, noise=NOISE, groups=groups, mu_scale=5.0,
                            tau_prior="halfnormal", tau_scale=5.0)
    params = {"groups": groups, "n_per_group": n_per_group, "centered": centered, "seed": seed}
    return hierarchy_task("hierarchical", params, model, centered, data={"y": y, "group": group, "theta": theta})


TASKS = {"hierarchical": make_hierarchical}
