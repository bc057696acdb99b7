"""``BandedPrecision``: a Gaussian held by its banded (sparse) precision, with one cached factorization.

A symmetric positive definite band matrix ``P`` of half-bandwidth ``b`` is
stored by its lower band (O(d b) memory). One banded Cholesky factorization,
of the reversed matrix, serves exact draws, the normalized density,
whitening, solves, log-determinants and (by a blocked Takahashi recursion)
the band of ``P^-1``, all in O(d b^2) time or better, with no d x d matrix:
the AR(1) precision is tridiagonal (b = 1), a row-major n x n lattice GMRF's
has b = n. Used by :mod:`vibench.truth` (banded Gaussian truths) and
:mod:`vibench.approximation` (banded Gaussian approximations, as Laplace
returns on a task with a band Hessian).
"""

from __future__ import annotations

import numpy as np

__all__ = ["BandedPrecision", "CHUNK_ELEMENTS", "SOLVE_BLOCK"]

LOG_2PI = float(np.log(2 * np.pi))
#: Rows of a batch processed at once by the banded row operations (bounds temporaries at large d).
CHUNK_ELEMENTS = 4_000_000
#: Rows per dense block of the blocked banded triangular solve (narrow bands, many right-hand sides).
SOLVE_BLOCK = 128
#: Up to this bandwidth, :meth:`BandedPrecision.solve` with many right-hand sides goes through one cached
#: sparse LU of ``P`` (SuperLU, natural order: no fill beyond the band): at b = 1, d = 100,000 and 200
#: right-hand sides 0.38 s against 0.5 to 1.2 s for the two blocked triangular solves (measured); wider
#: bands are faster blocked (b = 16: 0.12 s against 0.11 s; the lattice's b = 100: 0.24 s against 0.16 s).
SPARSE_LU_MAX_BANDWIDTH = 8
#: Elements (columns x d) of one chunk of :meth:`BandedPrecision.inverse_quadratic`'s and
#: :meth:`BandedPrecision.inverse_submatrix`'s solves (16 MB: within the allocator's reused memory).
SOLVE_CHUNK_ELEMENTS = 2_000_000


def _chunks(n: int, d: int, budget: int = CHUNK_ELEMENTS, least: int = 1):
    """Slices of ``range(n)`` whose blocks of ``d`` numbers hold about ``budget`` numbers (``least`` rows at least)."""
    step = max(least, budget // max(d, 1))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


class BandedPrecision:
    """A symmetric positive definite band matrix ``P`` (a Gaussian's precision) and its factorization.

    ``P`` is held by its lower band (scipy's ``cholesky_banded(lower=True)``
    layout: ``band[k, j] = P[j + k, j]``). The one factorization, computed on
    first use and cached, is the lower banded Cholesky factor ``Lr`` of the
    reversed matrix ``J P J`` (``J`` reverses the coordinates), so that
    ``P = R R^T`` with ``R = J Lr J`` upper triangular and ``R^-T`` is exactly
    the lower Cholesky factor of ``P^-1``: draws, whitening and log densities
    then agree with the dense Cholesky path to rounding.

    Parameters
    ----------
    band : ndarray, shape (b + 1, d)
        Lower band of ``P``; entries ``band[k, d - k:]`` are ignored.
    """

    def __init__(self, band: np.ndarray):
        band = np.array(band, dtype=float, ndmin=2)
        self.bandwidth = band.shape[0] - 1
        self.dim = band.shape[1]
        for k in range(1, band.shape[0]):
            band[k, self.dim - k:] = 0.0
        self.band = band
        self._factor: np.ndarray | None = None
        self._inverse_band: np.ndarray | None = None
        self._lu = None

    @classmethod
    def from_dense(cls, matrix: np.ndarray, bandwidth: int | None = None) -> "BandedPrecision":
        """The band of a dense symmetric matrix (its bandwidth found when not given)."""
        matrix = np.asarray(matrix, dtype=float)
        d = matrix.shape[0]
        if bandwidth is None:
            rows, cols = np.nonzero(np.tril(matrix))
            bandwidth = int(np.max(rows - cols)) if rows.size else 0
        band = np.zeros((bandwidth + 1, d))
        for k in range(bandwidth + 1):
            band[k, : d - k] = np.diagonal(matrix, -k)
        return cls(band)

    @property
    def factor(self) -> np.ndarray:
        """Lower band of ``Lr``, the Cholesky factor of the reversed ``J P J`` (computed once)."""
        if self._factor is None:
            rev = np.zeros_like(self.band)
            from scipy.linalg import cholesky_banded

            for k in range(self.bandwidth + 1):
                rev[k, : self.dim - k] = self.band[k, : self.dim - k][::-1]
            factor = cholesky_banded(rev, lower=True, check_finite=False)
            for k in range(1, self.bandwidth + 1):
                factor[k, self.dim - k:] = 0.0
            self._factor = factor
        return self._factor

    def diagonal(self) -> np.ndarray:
        """``diag(P)``."""
        return self.band[0].copy()

    def logdet(self) -> float:
        """``log det P``."""
        return float(2.0 * np.sum(np.log(self.factor[0])))

    def dense(self) -> np.ndarray:
        """``P`` as a dense matrix (small ``d`` only)."""
        d, out = self.dim, np.zeros((self.dim, self.dim))
        for k in range(self.bandwidth + 1):
            idx = np.arange(d - k)
            out[idx + k, idx] = out[idx, idx + k] = self.band[k, : d - k]
        return out

    def covariance(self) -> np.ndarray:
        """``P^-1`` as a dense matrix (small ``d`` only: nothing on the scoring paths asks for it)."""
        cov = self.solve(np.eye(self.dim))
        return 0.5 * (cov + cov.T)

    def matvec_rows(self, y: np.ndarray) -> np.ndarray:
        """``y @ P`` for rows ``y[n, d]`` (``P`` symmetric), in O(n d b)."""
        y = np.atleast_2d(y)
        d = self.dim
        out = y * self.band[0]
        for k in range(1, self.bandwidth + 1):
            off = self.band[k, : d - k]
            out[:, k:] += off * y[:, : d - k]
            out[:, : d - k] += off * y[:, k:]
        return out

    def quad_rows(self, y: np.ndarray) -> np.ndarray:
        """``y_i^T P y_i`` for every row of ``y[n, d]``, chunked over rows."""
        y = np.atleast_2d(y)
        out = np.empty(y.shape[0])
        for s in _chunks(y.shape[0], self.dim):
            out[s] = np.einsum("nd,nd->n", y[s], self.matvec_rows(y[s]))
        return out

    def _lower_matmat(self, w: np.ndarray) -> np.ndarray:
        """``Lr @ w`` for columns ``w[d, k]``."""
        lr, d = self.factor, self.dim
        out = lr[0][:, None] * w
        for k in range(1, self.bandwidth + 1):
            out[k:] += lr[k, : d - k][:, None] * w[: d - k]
        return out

    def _tri_solve(self, rhs: np.ndarray, trans: str) -> np.ndarray:
        """``Lr^-1 rhs`` (``trans="N"``) or ``Lr^-T rhs`` (``"T"``) for ``rhs[d, k]``.

        LAPACK's banded solve works one right-hand side at a time (level-2
        BLAS, 60 ns an entry at b = 1); with many right-hand sides and a narrow
        band, blocks of :data:`SOLVE_BLOCK` rows are solved as dense triangles
        (level-3 BLAS) coupled through the band instead.
        """
        rhs = np.asarray(rhs, dtype=float)
        size = max(SOLVE_BLOCK, 4 * self.bandwidth)
        few = 8 if self.bandwidth < 32 else 100  # below this many right-hand sides LAPACK is faster (measured)
        if rhs.ndim == 1 or rhs.shape[1] < few or self.dim < 2 * size:
            from scipy.linalg.lapack import dtbtrs

            x, info = dtbtrs(self.factor, np.asfortranarray(rhs.reshape(self.dim, -1)), uplo="L", trans=trans)
            if info != 0:
                raise np.linalg.LinAlgError(f"banded triangular solve failed (info = {info})")
            return x.reshape(rhs.shape)
        from scipy.linalg import solve_triangular

        d, b = self.dim, self.bandwidth
        out = np.empty(rhs.shape)
        starts = list(range(0, d, size))
        for c0 in starts if trans == "N" else reversed(starts):
            c1 = min(d, c0 + size)
            block = rhs[c0:c1].copy()
            if trans == "N" and c0 > 0 and b:  # rows c0..c0+b depend on x[c0 - b .. c0]
                m = min(b, c1 - c0)
                block[:m] -= self._dense_block(c0, c0 + m, c0 - b, c0) @ out[c0 - b : c0]
            elif trans == "T" and c1 < d and b:  # Lr^T: rows c1-b..c1 depend on x[c1 .. c1 + b]
                e, m = min(d, c1 + b), min(b, c1 - c0)
                block[-m:] -= self._dense_block(c1, e, c1 - m, c1).T @ out[c1:e]
            out[c0:c1] = solve_triangular(self._diagonal_block(c0, c1), block, lower=True,
                                          trans=trans, check_finite=False)
        return out

    def whiten_directions(self, u: np.ndarray) -> np.ndarray:
        """``R u``: the directions ``a`` with ``(x - m) . a = u . C^-1 (x - m)``, ``C`` the lower Cholesky of ``P^-1``.

        Parameters
        ----------
        u : ndarray, shape (d, k)

        Returns
        -------
        ndarray, shape (d, k)
        """
        return self._lower_matmat(np.asarray(u, dtype=float)[::-1])[::-1]

    def color(self, z: np.ndarray) -> np.ndarray:
        """``C z`` for columns ``z[d, k]``, ``C = R^-T`` the lower Cholesky factor of ``P^-1``."""
        return self._tri_solve(np.asarray(z, dtype=float)[::-1], "T")[::-1]

    def color_rows(self, z: np.ndarray) -> np.ndarray:
        """``z @ C^T`` for rows ``z[n, d]``: standard normal rows become ``N(0, P^-1)`` rows."""
        z = np.atleast_2d(z)
        out = np.empty_like(z, dtype=float)
        for s in _chunks(z.shape[0], self.dim):
            out[s] = self.color(z[s].T).T
        return out

    def rt_matmat(self, a: np.ndarray) -> np.ndarray:
        """``R^T a`` for a dense ``a[d, k]`` (``R^T = J Lr^T J`` lower banded)."""
        lr, d = self.factor, self.dim
        w = np.asarray(a, dtype=float)[::-1]
        out = lr[0][:, None] * w
        for k in range(1, self.bandwidth + 1):
            out[: d - k] += lr[k, : d - k][:, None] * w[k:]
        return out[::-1]

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``P^-1 rhs = J Lr^-T Lr^-1 J rhs`` for ``rhs[d]`` or ``rhs[d, k]``.

        Many right-hand sides on a narrow band (bandwidth up to
        :data:`SPARSE_LU_MAX_BANDWIDTH`, 8 or more columns, ``d`` past two
        solve blocks) go through one sparse LU of ``P``, computed on first use
        and cached; the two agree to rounding.
        """
        rhs = np.asarray(rhs, dtype=float)
        if (rhs.ndim == 2 and rhs.shape[1] >= 8 and self.bandwidth <= SPARSE_LU_MAX_BANDWIDTH
                and self.dim >= 2 * SOLVE_BLOCK):
            return self.sparse_lu().solve(np.asfortranarray(rhs))
        return self._tri_solve(self._tri_solve(rhs[::-1], "N"), "T")[::-1]

    def _column_chunks(self, k: int):
        return _chunks(k, self.dim, SOLVE_CHUNK_ELEMENTS, least=8)

    def inverse_quadratic(self, a: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``a^T P^-1 a`` and the rows ``rows`` of ``P^-1 a``, for dense columns ``a[d, k]``.

        Solved a chunk of columns at a time (:data:`SOLVE_CHUNK_ELEMENTS`), so
        no ``d x k`` solution is held: at d = 100,000 every fresh 160 MB array
        costs this machine 0.4 s of page faults (measured), more than the solve.
        """
        a = np.asarray(a, dtype=float)
        quad, picked = np.full((a.shape[1], a.shape[1]), np.nan), np.full((len(rows), a.shape[1]), np.nan)
        for s in self._column_chunks(a.shape[1]):
            x = self.solve(a[:, s])
            quad[:, s] = a.T @ x
            picked[:, s] = x[rows]
        return 0.5 * (quad + quad.T), picked

    def inverse_submatrix(self, rows: np.ndarray) -> np.ndarray:
        """``P^-1[rows][:, rows]``, to the absolute accuracy of the rounding of ``P^-1 1``.

        The solve for a unit vector decays geometrically away from its
        coordinate and, on a long band, into subnormal floats, which the
        processor handles some 100 times slower (b = 1, d = 100,000, 100 unit
        columns: 1.4 s against 0.3 s, measured). Each chunk solves ``e_i + 1``
        instead and subtracts the one solve ``P^-1 1``, so every number stays
        normal; entries far below ``eps |P^-1 1|`` come out as rounding noise
        of that size (what a projected covariance needs: an absolute scale).
        """
        rows = np.asarray(rows)
        base = self.solve(np.ones(self.dim))
        out = np.full((rows.size, rows.size), np.nan)  # NaN, not garbage, should a column be missed
        for s in self._column_chunks(rows.size):
            unit = np.ones((self.dim, s.stop - s.start))
            unit[rows[s], np.arange(s.stop - s.start)] += 1.0
            out[:, s] = self.solve(unit)[rows] - base[rows, None]
        return 0.5 * (out + out.T)

    def sparse_lu(self):
        """SuperLU's factorization of ``P`` in its natural order, without pivoting (``P`` is SPD), cached."""
        if self._lu is None:
            from scipy.sparse import diags
            from scipy.sparse.linalg import splu

            d, b = self.dim, self.bandwidth
            lower = [self.band[k, : d - k] for k in range(1, b + 1)]
            matrix = diags([self.band[0], *lower, *lower], [0, *range(-1, -b - 1, -1), *range(1, b + 1)],
                           format="csc")
            self._lu = splu(matrix, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        return self._lu

    def inverse_band(self) -> np.ndarray:
        """The band of ``P^-1`` (same layout as :attr:`band`), by a blocked Takahashi recursion, cached.

        With ``Lr`` cut into blocks of ``B >= b`` rows it is block-bidiagonal, and
        ``L_II^T S_II + L_{I+1,I}^T S_{I+1,I} = L_II^-1``,
        ``S_{I,I+1} = -L_II^-T L_{I+1,I}^T S_{I+1,I+1}`` give every block of the
        inverse on the band from the next one: O(d B^2) time, O(B^2 + d b)
        memory, ``d / B`` Python steps. ``S[k, j] = (P^-1)[j + k, j]``.
        """
        if self._inverse_band is None:
            from scipy.linalg import solve_triangular

            lr, d, b = self.factor, self.dim, self.bandwidth
            if b <= 1:
                band = _tridiagonal_inverse_band(lr, d)[:, ::-1].copy()
                band[1, : d - 1] = band[1, 1:]
                band[1, d - 1] = 0.0
                self._inverse_band = band[: b + 1]
                return self._inverse_band
            size = max(b, 64)
            starts = list(range(0, d, size))
            s_rev = np.zeros((b + 1, d))  # band of (J P J)^-1
            nxt, l_next = None, None  # S_{I+1,I+1} and the block L_{I+1,I}
            for c0 in reversed(starts):
                c1 = min(d, c0 + size)
                l_ii = self._dense_block(c0, c1, c0, c1)
                inv_l = solve_triangular(l_ii, np.eye(c1 - c0), lower=True, check_finite=False)
                if nxt is None:
                    s_ii = inv_l.T @ inv_l
                else:
                    l_next = self._dense_block(c1, min(d, c1 + size), c0, c1)
                    s_up = -solve_triangular(l_ii, l_next.T @ nxt, lower=True, trans="T", check_finite=False)
                    s_ii = solve_triangular(l_ii, inv_l - l_next.T @ s_up.T, lower=True, trans="T",
                                            check_finite=False)
                    s_ii = 0.5 * (s_ii + s_ii.T)
                    cross = s_up.T  # S_{I+1,I}
                both = s_ii if nxt is None else np.concatenate([s_ii, cross])
                n_rows = both.shape[0]
                kk, jj = np.meshgrid(np.arange(b + 1), np.arange(c1 - c0), indexing="ij")
                rr = jj + kk
                ok = rr < n_rows
                s_rev[kk[ok], (jj + c0)[ok]] = both[rr[ok], jj[ok]]
                nxt = s_ii
            out = np.zeros_like(s_rev)
            for k in range(b + 1):
                out[k, : d - k] = s_rev[k, : d - k][::-1]
            self._inverse_band = out
        return self._inverse_band

    def _diagonal_block(self, c0: int, c1: int) -> np.ndarray:
        """``Lr[c0:c1, c0:c1]`` as a dense lower triangle, one strided copy per band diagonal."""
        n = c1 - c0
        out = np.zeros((n, n))
        flat = out.reshape(-1)
        for k in range(min(self.bandwidth, n - 1) + 1):
            flat[k * n :: n + 1][: n - k] = self.factor[k, c0 : c1 - k]
        return out

    def _dense_block(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """``Lr[r0:r1, c0:c1]`` as a dense matrix, from the band."""
        lr, out = self.factor, np.zeros((r1 - r0, c1 - c0))
        kk, cols = np.meshgrid(np.arange(self.bandwidth + 1), np.arange(c0, c1), indexing="ij")
        rows = cols + kk
        keep = (rows >= r0) & (rows < r1)
        out[rows[keep] - r0, cols[keep] - c0] = lr[kk[keep], cols[keep]]
        return out

    def variances(self) -> np.ndarray:
        """``diag(P^-1)``: marginal variances."""
        return self.inverse_band()[0].copy()

    def band_inner(self, other_band: np.ndarray) -> float:
        """``sum_ij P_ij B_ij`` for a symmetric ``B`` given by a lower band at least as wide as ``P``'s."""
        total = float(self.band[0] @ other_band[0])
        for k in range(1, self.bandwidth + 1):
            total += 2.0 * float(self.band[k] @ other_band[k])
        return total

    def logpdf(self, x: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """Normalized log density of ``N(mean, P^-1)`` at rows of ``x``."""
        quad = self.quad_rows(np.atleast_2d(x) - mean)
        return -0.5 * quad + 0.5 * self.logdet() - 0.5 * self.dim * LOG_2PI

    def sample(self, n: int, rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
        """``n`` draws of ``N(mean, P^-1)``: ``mean + z @ C^T``, the same numbers as the dense path."""
        return mean + self.color_rows(rng.standard_normal((n, self.dim)))


def _tridiagonal_inverse_band(lr: np.ndarray, d: int) -> np.ndarray:
    """Takahashi for a bidiagonal factor (``b <= 1``) in scalar Python: O(d), no per-row array calls.

    Returns the band of ``(L L^T)^-1`` in the factor's own (reversed) order:
    row 0 the diagonal, row 1 ``S[j + 1, j]``.
    """
    diag = lr[0].tolist()
    sub = lr[1].tolist() if lr.shape[0] > 1 else [0.0] * d
    s_diag, s_sub = [0.0] * d, [0.0] * d
    nxt = 1.0 / diag[d - 1] ** 2
    s_diag[d - 1] = nxt
    for i in range(d - 2, -1, -1):
        a, c = diag[i], sub[i]
        off = -c * nxt / a
        nxt = 1.0 / (a * a) - c * off / a
        s_diag[i], s_sub[i] = nxt, off
    return np.array([s_diag, s_sub])
