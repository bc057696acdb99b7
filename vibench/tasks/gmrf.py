"""``gmrf``: a Gaussian Markov random field on an ``n x n`` lattice (``grid = n``, ``dim = n^2``).

The precision is ``Q = tau (kappa^2 I + Delta)``, ``Delta`` the graph Laplacian
of the 4-neighbour lattice with free boundaries (an intrinsic CAR model made
proper by ``kappa``; ``1 / kappa`` is about the correlation length in lattice
steps). Coordinates are in row-major order, so ``Q`` is a band matrix of
bandwidth ``n`` with five non-zeros a row: the log density and its gradient
are a five-point stencil (O(dim) a point), and the truth is held by its
banded precision (:class:`~vibench.truth.BandedPrecision`): one banded
Cholesky factorization (O(dim n^2) time, O(dim n) memory) gives exact draws,
the normalized density, log Z, whitening and, by the Takahashi recursion, the
marginal sds. No dim x dim matrix is ever formed.

The mean is the smooth field ``sin(pi u) cos(pi v)`` on the unit square. The
best mean-field Gaussian has variances ``1 / Q_ii`` and KL
``0.5 (sum log Q_ii - log det Q)`` (``tags["meanfield_kl"]``).
"""

from __future__ import annotations

import numpy as np

from ..density import LogDensity
from ..task import Task, require
from ..truth import BandedPrecision, banded_gaussian_truth
from ._gaussian import gaussian_log_evidence, uniform_init

__all__ = ["make_gmrf", "lattice_band", "MAX_GRID"]

#: Largest lattice side: dim = 40,000, a banded factor of 40,000 x 201 entries (64 MB).
MAX_GRID = 200


def lattice_band(grid: int, kappa: float, tau: float = 1.0) -> BandedPrecision:
    """The lattice precision ``tau (kappa^2 I + Delta)`` in banded form (bandwidth ``grid``)."""
    n, d = grid, grid * grid
    rows, cols = np.divmod(np.arange(d), n)
    degree = (rows > 0).astype(float) + (rows < n - 1) + (cols > 0) + (cols < n - 1)
    band = np.zeros((n + 1, d)) if n > 1 else np.zeros((1, 1))
    band[0] = kappa**2 + degree
    if n > 1:
        band[1, :-1] = np.where(cols[:-1] < n - 1, -1.0, 0.0)  # right neighbour in the same row
        band[n, : d - n] = -1.0  # neighbour in the next row
    return BandedPrecision(tau * band)


def make_gmrf(grid: int = 10, kappa: float = 0.5, tau: float = 1.0) -> Task:
    """Lattice GMRF on a ``grid x grid`` lattice; ``dim = grid**2``."""
    require(1 <= grid <= MAX_GRID, f"grid must be between 1 and {MAX_GRID}, got {grid}")
    require(kappa > 0, f"kappa must be > 0, got {kappa}")
    require(tau > 0, f"tau must be > 0, got {tau}")
    n, d = grid, grid * grid
    u = (np.arange(n) + 0.5) / n
    mean = (np.sin(np.pi * u)[:, None] * np.cos(np.pi * u)[None, :]).ravel()
    prec = lattice_band(n, kappa, tau)
    diag = prec.diagonal().reshape(n, n)

    def logp_and_grad(x):
        y = (x - mean).reshape(-1, n, n)
        qy = diag * y
        qy[:, 1:, :] -= tau * y[:, :-1, :]
        qy[:, :-1, :] -= tau * y[:, 1:, :]
        qy[:, :, 1:] -= tau * y[:, :, :-1]
        qy[:, :, :-1] -= tau * y[:, :, 1:]
        qy = qy.reshape(-1, d)
        y = y.reshape(-1, d)
        return -0.5 * np.einsum("nd,nd->n", y, qy), -qy

    def logp(x):
        return logp_and_grad(x)[0]

    logdet = prec.logdet()
    truth = banded_gaussian_truth(mean, prec, gaussian_log_evidence(logdet, d))
    meanfield_kl = 0.5 * (float(np.sum(np.log(prec.diagonal()))) - logdet)
    return Task(
        name="gmrf",
        params={"grid": grid, "kappa": kappa, "tau": tau},
        log_density=LogDensity(d, logp, logp_and_grad),
        truth=truth,
        initial_point=uniform_init(d),
        tags={"meanfield_kl": meanfield_kl, "hessian_bandwidth": n},
    )


TASKS = {"gmrf": make_gmrf}
