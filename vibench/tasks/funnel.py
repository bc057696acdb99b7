"""Neal's funnel: a scale hierarchy whose curvature changes by orders of magnitude.

``funnel``: ``v ~ N(0, 3^2)`` and ``x_i | v ~ N(0, exp(v))`` for
``i = 1 .. dim - 1``; the unconstrained vector is ``(v, x_1, ..., x_{dim-1})``
(Neal 2003). The log density is normalized (``log_evidence = 0``). Every
coordinate has mean zero and the coordinates are uncorrelated, with
``var(v) = 9`` and ``var(x_i) = E[exp(v)] = exp(4.5)``; the ``x_i`` are heavy
tailed (their kurtosis is ``3 exp(9)``), so their sample variances converge
very slowly.
"""

from __future__ import annotations

import numpy as np

from ..density import LogDensity
from ..task import Task, require
from ..truth import normalized_truth
from ._gaussian import uniform_init

__all__ = ["make_funnel"]

MAX_DIM = 5000
V_SCALE = 3.0
LOG_2PI = np.log(2 * np.pi)


def make_funnel(dim: int = 10) -> Task:
    """Neal's funnel in ``dim`` dimensions: one log-scale ``v`` and ``dim - 1`` children.

    Parameters
    ----------
    dim : int
        Total dimension, at least 2.

    Returns
    -------
    Task
    """
    require(2 <= dim <= MAX_DIM, f"dim must be between 2 and {MAX_DIM}, got {dim}")
    k = dim - 1
    var_v = V_SCALE**2
    const = -0.5 * np.log(2 * np.pi * var_v) - 0.5 * k * LOG_2PI

    def logp_and_grad(x):
        v, xs = x[:, 0], x[:, 1:]
        prec = np.exp(-v)
        ss = np.sum(xs**2, axis=1)
        value = const - 0.5 * v**2 / var_v - 0.5 * k * v - 0.5 * prec * ss
        grad = np.empty_like(x)
        grad[:, 0] = -v / var_v - 0.5 * k + 0.5 * prec * ss
        grad[:, 1:] = -xs * prec[:, None]
        return value, grad

    def logp(x):
        v, xs = x[:, 0], x[:, 1:]
        return const - 0.5 * v**2 / var_v - 0.5 * k * v - 0.5 * np.exp(-v) * np.sum(xs**2, axis=1)

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        z = rng.standard_normal((n, dim))
        z[:, 0] *= V_SCALE
        z[:, 1:] *= np.exp(0.5 * z[:, :1])
        return z

    var = np.full(dim, np.exp(0.5 * var_v))
    var[0] = var_v
    truth = normalized_truth(np.zeros(dim), np.diag(var), logp, sample)
    return Task(
        name="funnel",
        params={"dim": dim},
        log_density=LogDensity(dim, logp, logp_and_grad),
        truth=truth,
        initial_point=uniform_init(dim),
    )


TASKS = {"funnel": make_funnel}
