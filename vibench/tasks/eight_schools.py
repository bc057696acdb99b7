"""Eight schools (Rubin 1981), centered and non-centered, with posteriordb's priors.

``eight_schools_centered`` and ``eight_schools_noncentered``::

    mu ~ N(0, 5^2),  tau ~ HalfCauchy(0, 5)
    theta_j ~ N(mu, tau^2)                 (non-centered: theta_j = mu + tau eta_j, eta_j ~ N(0, 1))
    y_j ~ N(theta_j, sigma_j^2),  j = 1..8

with the classic data ``y = (28, 8, -3, 7, -1, 1, 18, 12)``, ``sigma = (15,
10, 16, 11, 9, 11, 10, 18)``. The unconstrained vectors are ``(mu, log tau,
theta_1..8)`` and ``(mu, log tau, eta_1..8)``, matching the value variables
``mu, tau_log__, theta`` (or ``eta``) of ``task.pymc_model()``.

The truth is exact up to 1-D quadrature over ``log tau`` (see
:mod:`vibench.tasks._hierarchical`): means, the full covariance and ``log
p(y)`` by conjugacy given ``tau`` and a trapezoid rule over ``log tau``, and
exact draws through a gridded inverse CDF. The centered posterior is the
classic funnel: NUTS diverges on it, which is the point of having both.
"""

from __future__ import annotations

import numpy as np

from ..task import Task
from ._hierarchical import NormalHierarchy, hierarchy_task

__all__ = ["make_eight_schools_centered", "make_eight_schools_noncentered", "Y", "SIGMA"]

Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def _model() -> NormalHierarchy:
    return NormalHierarchy(y=Y, group=np.arange(8), noise=SIGMA, groups=8, mu_scale=5.0,
                           tau_prior="halfcauchy", tau_scale=5.0)


def make_eight_schools_centered() -> Task:
    """Eight schools on ``(mu, log tau, theta_1..8)``: the funnel-shaped parameterization.

    Returns
    -------
    Task
    """
    return hierarchy_task("eight_schools_centered", {}, _model(), centered=True, data={"y": Y, "sigma": SIGMA})


def make_eight_schools_noncentered() -> Task:
    """Eight schools on ``(mu, log tau, eta_1..8)`` with ``theta_j = mu + tau eta_j``.

    Returns
    -------
    Task
    """
    return hierarchy_task("eight_schools_noncentered", {}, _model(), centered=False, data={"y": Y, "sigma": SIGMA})


TASKS = {
    "eight_schools_centered": make_eight_schools_centered,
    "eight_schools_noncentered": make_eight_schools_noncentered,
}
