"""A symmetric two-component Gaussian mixture: two well-separated modes.

``mixture``: ``0.5 N(-delta e, I) + 0.5 N(+delta e, I)`` with
``e = ones(dim) / sqrt(dim)`` and ``delta = separation / 2``, so the modes are
``separation`` apart along the diagonal. With ``t = delta e.x`` the
normalized log density is

    -|x|^2 / 2 - delta^2 / 2 - dim/2 log(2 pi) + log cosh(t)

(the log-sum-exp of the two components) and its gradient is
``-x + delta e tanh(t)``. The mean is zero and the covariance
``I + delta^2 e e^T``. A mode-seeking method sees only one mode.
"""

from __future__ import annotations

import numpy as np

from ..density import LogDensity
from ..task import Task, require
from ..truth import normalized_truth
from ._gaussian import uniform_init

__all__ = ["make_mixture"]

MAX_DIM = 5000
LOG_2PI = np.log(2 * np.pi)


def _log_cosh(t: np.ndarray) -> np.ndarray:
    """``log cosh t`` without overflow: ``logaddexp(t, -t) - log 2``."""
    return np.logaddexp(t, -t) - np.log(2.0)


def make_mixture(dim: int = 2, separation: float = 8.0) -> Task:
    """Equal-weight mixture of two unit Gaussians ``separation`` apart.

    Parameters
    ----------
    dim : int
        Dimension.
    separation : float
        Distance between the two component means (along ``ones / sqrt(dim)``).

    Returns
    -------
    Task
    """
    require(1 <= dim <= MAX_DIM, f"dim must be between 1 and {MAX_DIM}, got {dim}")
    require(0 <= separation < np.inf, f"separation must be finite and >= 0, got {separation}")
    delta = 0.5 * separation
    e = np.ones(dim) / np.sqrt(dim)
    const = -0.5 * delta**2 - 0.5 * dim * LOG_2PI

    def logp(x):
        return const - 0.5 * np.einsum("nd,nd->n", x, x) + _log_cosh(delta * (x @ e))

    def logp_and_grad(x):
        t = delta * (x @ e)
        value = const - 0.5 * np.einsum("nd,nd->n", x, x) + _log_cosh(t)
        grad = -x + (delta * np.tanh(t))[:, None] * e
        return value, grad

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        return (sign * delta)[:, None] * e + rng.standard_normal((n, dim))

    cov = np.eye(dim) + delta**2 * np.outer(e, e)
    truth = normalized_truth(np.zeros(dim), cov, logp, sample)
    return Task(
        name="mixture",
        params={"dim": dim, "separation": separation},
        log_density=LogDensity(dim, logp, logp_and_grad),
        truth=truth,
        initial_point=uniform_init(dim),
        tags={"multimodal": True},
    )


TASKS = {"mixture": make_mixture}
