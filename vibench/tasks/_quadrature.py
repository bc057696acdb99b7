"""One-dimensional quadrature on a uniform grid: log Z, expectations and gridded inverse-CDF draws.

A :class:`GridDensity` holds an unnormalized log density ``f`` on a uniform
grid that covers all but ``exp(-TAIL)`` of its mass. Expectations use the
trapezoid rule, which converges exponentially fast for smooth integrands
that decay at both ends of the grid (the error is of order
``exp(-2 pi a / h)`` for a function analytic in a strip of half-width ``a``),
so ``log_norm`` and posterior moments are exact to rounding.

Draws invert the piecewise-linear CDF through the grid nodes: within a cell
they are uniform, so the sampled distribution differs from ``f`` by
``O(h^2)``. With the default ``POINTS`` the measured Kolmogorov distance to
the exact CDF is below 1e-5 on the built-in tasks (tests/test_realistic_tasks.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import VibenchError

__all__ = ["GridDensity", "TAIL", "POINTS"]

#: Nats below the maximum at which the grid is cut: exp(-46) ~ 1e-20 of the peak density.
TAIL = 46.0
#: Nodes of the fine grid.
POINTS = 8001


@dataclass
class GridDensity:
    """``f`` on a uniform grid, normalized by the trapezoid rule.

    Attributes
    ----------
    nodes : ndarray, shape (k,)
        Uniform grid points.
    weights : ndarray, shape (k,)
        Normalized trapezoid weights: ``sum(weights * g(nodes)) ~ E[g]``.
    log_norm : float
        ``log`` of the integral of ``exp(f)``.
    cdf : ndarray, shape (k,)
        The CDF at the nodes (cumulative trapezoid), from 0 to 1.
    log_values : ndarray, shape (k,)
        ``f`` at the nodes.
    """

    nodes: np.ndarray
    weights: np.ndarray
    log_norm: float
    cdf: np.ndarray
    log_values: np.ndarray

    @classmethod
    def fit(cls, logf: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, points: int = POINTS,
            tail: float = TAIL) -> "GridDensity":
        """Locate the mass of ``exp(logf)`` inside ``[lo, hi]`` and put a fine grid over it.

        Parameters
        ----------
        logf : callable
            Vectorized unnormalized log density, ``logf(s[k]) -> [k]``; a NaN
            (the log of a negative number, outside a support) counts as no mass.
        lo, hi : float
            A search range that must contain all the mass.
        points : int
            Nodes of the fine grid.
        tail : float
            The grid ends where ``logf`` is ``tail`` nats below its maximum.

        Raises
        ------
        VibenchError
            When the density is still within ``tail`` nats of its maximum at
            ``lo`` or ``hi`` (the search range is too narrow: an improper or
            very heavy-tailed posterior).
        """
        def log_values(s: np.ndarray) -> np.ndarray:  # NaN (log of a negative, outside a support) is no mass
            values = np.asarray(logf(s), dtype=float)
            return np.where(np.isnan(values), -np.inf, values)

        for _ in range(2):  # search, then search again inside what was found (narrow posteriors)
            coarse = np.linspace(lo, hi, 4001)
            values = log_values(coarse)
            top = np.max(values)
            inside = np.flatnonzero(values > top - tail)
            if not np.isfinite(top) or inside[0] == 0 or inside[-1] == len(coarse) - 1:
                raise VibenchError(f"quadrature: the posterior has mass beyond the search range [{lo}, {hi}]")
            lo, hi = coarse[inside[0] - 1], coarse[inside[-1] + 1]
        nodes = np.linspace(lo, hi, points)
        return cls.from_values(nodes, log_values(nodes))

    @classmethod
    def from_values(cls, nodes: np.ndarray, logf_values: np.ndarray) -> "GridDensity":
        """Normalize log density values already evaluated at uniform ``nodes``."""
        from scipy.special import logsumexp  # here, not at import: registering the tasks stays cheap

        h = nodes[1] - nodes[0]
        log_w = np.log(h) + logf_values
        log_w[[0, -1]] -= np.log(2.0)
        log_norm = float(logsumexp(log_w))
        weights = np.exp(log_w - log_norm)
        f = np.exp(logf_values - log_norm)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * h * (f[1:] + f[:-1]))])
        cdf /= cdf[-1]
        return cls(nodes=nodes, weights=weights, log_norm=log_norm, cdf=cdf, log_values=logf_values)

    def thinned(self, step: int) -> "GridDensity":
        """Every ``step``-th node: enough for smooth expectations (the trapezoid rule converges
        exponentially), and ``step`` times cheaper than the sampler's grid."""
        return GridDensity.from_values(self.nodes[::step], self.log_values[::step])

    def expect(self, values: np.ndarray) -> np.ndarray:
        """``E[g(s)]`` from ``g`` at the nodes, ``values[k, ...]``."""
        return np.tensordot(self.weights, values, axes=(0, 0))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws by inverting the piecewise-linear CDF (uniform within each cell)."""
        return np.interp(rng.uniform(0.0, 1.0, n), self.cdf, self.nodes)

    def cdf_at(self, s: np.ndarray) -> np.ndarray:
        """The sampler's CDF at ``s`` (piecewise linear through the nodes)."""
        return np.interp(s, self.nodes, self.cdf)
