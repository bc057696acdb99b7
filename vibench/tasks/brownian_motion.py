"""Brownian motion with missing middle observations (the Inference Gym's ``BrownianMotionMissingMiddleObservations``).

``brownian_motion``: a Gaussian random walk ``x_0 .. x_29`` with innovation
scale 0.1, ``x_0 ~ N(0, 0.1^2)`` and ``x_t ~ N(x_{t-1}, 0.1^2)``, observed
with noise scale 0.15 except at ``t = 10 .. 19``; the Inference Gym's data.
The unconstrained vector is ``x`` itself (30 coordinates).

The posterior is exactly Gaussian: its precision is the random walk's
tridiagonal prior precision ``D^T D / 0.1^2`` (``D`` the first-difference
matrix, first row ``e_0``) plus ``1 / 0.15^2`` on the observed diagonal, and
the log density is the full joint ``log p(x, y)``, so ``log_evidence`` is
``log p(y)``. The interesting part for approximations: strong correlations
along the chain and a wide, uncertain bridge over the ten missing steps.
"""

from __future__ import annotations

import numpy as np

from ..task import Task
from ._gaussian import dense_gaussian_density, gaussian_truth_from_precision, uniform_init

__all__ = ["make_brownian_motion", "OBSERVED", "INNOVATION_SCALE", "OBSERVATION_SCALE"]

INNOVATION_SCALE = 0.1
OBSERVATION_SCALE = 0.15
#: Observed locations; NaN marks the ten missing middle steps.
OBSERVED = np.array([
    0.21592641, 0.118771404, -0.07945447, 0.037677474, -0.27885845, -0.1484156, -0.3250906, -0.22957903,
    -0.44110894, -0.09830782, *[np.nan] * 10, -0.8786016, -0.83736074, -0.7384849, -0.8939254, -0.7774566,
    -0.70238715, -0.87771565, -0.51853573, -0.6948214, -0.6202789,
])


def make_brownian_motion() -> Task:
    """The 30-step Brownian motion bridge over ten missing observations.

    Returns
    -------
    Task
    """
    steps = OBSERVED.size
    seen = ~np.isnan(OBSERVED)
    y = OBSERVED[seen]
    diff = np.eye(steps) - np.eye(steps, k=-1)  # (D x)_0 = x_0, (D x)_t = x_t - x_{t-1}
    precision = diff.T @ diff / INNOVATION_SCALE**2 + np.diag(seen / OBSERVATION_SCALE**2)
    h = np.zeros(steps)
    h[seen] = y / OBSERVATION_SCALE**2
    mean = np.linalg.solve(precision, h)
    # log p(x, y) = const - 0.5 (x - mean)^T L (x - mean): its value at the mean.
    innovations = diff @ mean / INNOVATION_SCALE
    residuals = (y - mean[seen]) / OBSERVATION_SCALE
    at_mean = (-0.5 * np.sum(innovations**2) - steps * np.log(INNOVATION_SCALE)
               - 0.5 * np.sum(residuals**2) - y.size * np.log(OBSERVATION_SCALE)
               - 0.5 * (steps + y.size) * np.log(2 * np.pi))
    truth = gaussian_truth_from_precision(mean, precision, const=at_mean)
    truth.provenance = {"method": "closed form (Gaussian posterior)", "coordinates": [f"x[{t}]" for t in range(steps)]}

    def pymc_model():
        from ..pymc_bridge import import_pymc

        pm = import_pymc()
        with pm.Model() as model:
            init = pm.Normal.dist(0.0, INNOVATION_SCALE)
            x = pm.GaussianRandomWalk("x", mu=0.0, sigma=INNOVATION_SCALE, init_dist=init, steps=steps - 1)
            pm.Normal("y", x[np.flatnonzero(seen)], OBSERVATION_SCALE, observed=y)
        return model

    return Task(
        name="brownian_motion",
        params={},
        log_density=dense_gaussian_density(mean, precision, const=at_mean),
        truth=truth,
        initial_point=uniform_init(steps),
        pymc_model=pymc_model,
        data={"observed": OBSERVED, "innovation_scale": INNOVATION_SCALE, "observation_scale": OBSERVATION_SCALE},
    )


TASKS = {"brownian_motion": make_brownian_motion}
