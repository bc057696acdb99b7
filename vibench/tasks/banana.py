"""Haario's banana: a Gaussian bent along a parabola.

``banana``: draw ``z ~ N(0, diag(100, 1, ..., 1))`` and set ``x_1 = z_1``,
``x_2 = z_2 + b (z_1^2 - 100)`` with ``b = curvature``, ``x_i = z_i`` for
``i > 2`` (Haario, Saksman and Tamminen 1999; ``b = 0.03`` is their moderately
twisted case, ``0.1`` the strongly twisted one). The map has unit Jacobian, so
the normalized log density is the Gaussian's at the untwisted point
(``log_evidence = 0``). The mean is zero and the coordinates are uncorrelated,
with ``var(x_1) = 100`` and ``var(x_2) = 1 + 2 b^2 100^2``.
"""

from __future__ import annotations

import numpy as np

from ..density import LogDensity
from ..task import Task, require
from ..truth import normalized_truth
from ._gaussian import uniform_init

__all__ = ["make_banana"]

MAX_DIM = 5000
VAR1 = 100.0
LOG_2PI = np.log(2 * np.pi)


def make_banana(dim: int = 2, curvature: float = 0.03) -> Task:
    """Haario's twisted Gaussian in ``dim`` dimensions with bend ``curvature``.

    Parameters
    ----------
    dim : int
        Dimension, at least 2.
    curvature : float
        The bend ``b`` in ``x_2 = z_2 + b (z_1^2 - 100)``; 0 gives a Gaussian.

    Returns
    -------
    Task
    """
    require(2 <= dim <= MAX_DIM, f"dim must be between 2 and {MAX_DIM}, got {dim}")
    require(np.isfinite(curvature), f"curvature must be finite, got {curvature}")
    b = curvature
    const = -0.5 * dim * LOG_2PI - 0.5 * np.log(VAR1)

    def logp_and_grad(x):
        x1 = x[:, 0]
        u = x[:, 1] - b * (x1**2 - VAR1)
        rest = np.sum(x[:, 2:] ** 2, axis=1)
        value = const - 0.5 * x1**2 / VAR1 - 0.5 * u**2 - 0.5 * rest
        grad = -x.copy()
        grad[:, 0] = -x1 / VAR1 + 2 * b * u * x1
        grad[:, 1] = -u
        return value, grad

    def logp(x):
        return logp_and_grad(x)[0]

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        z = rng.standard_normal((n, dim))
        z[:, 0] *= np.sqrt(VAR1)
        z[:, 1] += b * (z[:, 0] ** 2 - VAR1)
        return z

    var = np.ones(dim)
    var[0] = VAR1
    var[1] = 1 + 2 * b**2 * VAR1**2
    truth = normalized_truth(np.zeros(dim), np.diag(var), logp, sample)
    return Task(
        name="banana",
        params={"dim": dim, "curvature": curvature},
        log_density=LogDensity(dim, logp, logp_and_grad),
        truth=truth,
        initial_point=uniform_init(dim),
    )


TASKS = {"banana": make_banana}
