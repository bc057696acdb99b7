"""Balanced standard-normal draws for fixed-draw (DADVI-style) objectives.

A fixed-draw objective replaces ``E_eps[f(eps)]`` by an average over ``M``
draws fixed once. Its error comes from how far the draws' low moments are
from those of ``N(0, I)``: for a log density that is quadratic (a Gaussian
target, or the quadratic part of any smooth one) the average depends on the
draws only through their sample mean and second-moment matrix. Matching those
moments exactly is the classic *moment matching* variance reduction
(Glasserman 2004, *Monte Carlo Methods in Financial Engineering*, sec. 4.5):

* ``M > dim``: centre the draws and whiten them, so the sample mean is 0 and
  the sample second moment is exactly ``I``. The fixed-draw objective is then
  exact for every quadratic log density.
* ``M <= dim``: a rank-``M - 1`` sample second moment cannot equal ``I``.
  The draws are centred, made mutually orthogonal with equal norms
  (orthogonal Monte Carlo, Choromanski et al. 2017) and every coordinate is
  scaled to unit second moment: an equal-norm tight frame, whose off-diagonal
  second moments attain the Welch lower bound ``(dim - M) / (M (dim - 1))``
  in mean square instead of iid draws' ``1 / M``.

The draws stay random (a random rotation of a balanced design), so averages
of non-quadratic terms remain unbiased in the usual Monte Carlo sense.
"""

from __future__ import annotations

import numpy as np

__all__ = ["balanced_draws", "FRAME_SWEEPS"]

#: Alternating projections used to build an equal-norm tight frame.
FRAME_SWEEPS = 3


def balanced_draws(n_draws: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``n_draws`` standard-normal draws in ``dim`` dimensions with matched moments.

    Parameters
    ----------
    n_draws : int
        Number of draws ``M``; at least 2.
    dim : int
        Dimension.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    ndarray, shape (n_draws, dim)
        Draws with sample mean exactly 0 and every coordinate's sample second
        moment exactly 1; when ``n_draws > dim`` the whole sample second-moment
        matrix is exactly the identity.
    """
    if n_draws < 2:
        raise ValueError(f"need at least 2 draws, got {n_draws}")
    z = rng.standard_normal((n_draws, dim))
    z -= z.mean(axis=0)
    if n_draws == 2:  # antithetic pair with every coordinate +-1: already balanced
        sign = np.where(z[0] >= 0, 1.0, -1.0)
        return np.stack([sign, -sign])
    if n_draws > dim:
        second = z.T @ z / n_draws
        from scipy.linalg import solve_triangular

        chol = np.linalg.cholesky(second)
        return solve_triangular(chol, z.T, lower=True, check_finite=False).T
    for _ in range(FRAME_SWEEPS):
        # rows (draws) orthogonal with equal norms: z <- U V^T, the polar factor of z = U S V^T on its
        # rank M - 1 range (centring survives because 1^T z = 0 => 1^T U = 0). Computed from the M x M
        # Gram matrix, O(M^2 d) with no d-sized SVD: z <- (z z^T)^+1/2 z.
        w, u = np.linalg.eigh(z @ z.T)
        u, w = u[:, 1:], w[1:]  # drop the null direction of the centred draws (the smallest eigenvalue)
        z = (u / np.sqrt(w)) @ (u.T @ z)
        z *= np.sqrt(n_draws / np.sum(z**2, axis=0))
    return z
