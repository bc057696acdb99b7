"""BandedPrecision's layout and its inverse band, against dense numpy (cases the mutation run found untested)."""

from __future__ import annotations

import numpy as np
import pytest

from vibench.banded import BandedPrecision


def _band_of(dense: np.ndarray, b: int) -> np.ndarray:
    """The lower band of a dense symmetric matrix in BandedPrecision's layout (zero padding), written out."""
    d = dense.shape[0]
    out = np.zeros((b + 1, d))
    for k in range(b + 1):
        for j in range(d - k):
            out[k, j] = dense[j + k, j]
    return out


@pytest.mark.parametrize("b", [0, 1, 2])
def test_from_dense_finds_the_bandwidth_and_lays_the_band_out(b):
    rng = np.random.default_rng(b)
    d = 6
    a = np.triu(np.tril(rng.normal(size=(d, d)), 0), -b)  # lower triangle within the band
    dense = a @ a.T + d * np.eye(d)
    dense = np.where(np.abs(np.subtract.outer(np.arange(d), np.arange(d))) <= b, dense, 0.0)
    p = BandedPrecision.from_dense(dense)
    assert p.bandwidth == b and p.band.shape == (b + 1, d) and p.dim == d
    np.testing.assert_array_equal(p.band, _band_of(dense, b))
    assert BandedPrecision.from_dense(np.zeros((3, 3))).bandwidth == 0  # nothing below the diagonal


@pytest.mark.parametrize("b, d", [(0, 7), (1, 7), (2, 7), (3, 200), (2, 130)])
def test_inverse_band_is_the_band_of_the_inverse(b, d):
    """One block (d = 7), and the blocked recursion over several 64-row blocks, the last a short one."""
    rng = np.random.default_rng(10 + b)
    dense = np.diag(rng.uniform(1.0, 3.0, d)) * (b + 1) * 2
    for k in range(1, b + 1):
        off = rng.uniform(-0.5, 0.5, d - k)
        dense += np.diag(off, -k) + np.diag(off, k)
    p = BandedPrecision.from_dense(dense)
    np.testing.assert_allclose(p.inverse_band(), _band_of(np.linalg.inv(dense), b), rtol=1e-12, atol=1e-15)


def _ar1_band(d: int, rho: float) -> np.ndarray:
    """The tridiagonal precision of a stationary AR(1) with unit marginal variance, in the band layout."""
    band = np.zeros((2, d))
    band[0] = (1 + rho**2) / (1 - rho**2)
    band[0, [0, -1]] = 1 / (1 - rho**2)
    band[1, : d - 1] = -rho / (1 - rho**2)
    return band


@pytest.mark.parametrize("b, d", [(1, 300), (3, 400), (12, 500)])
def test_many_column_solves_through_the_sparse_lu_match_dense_numpy(b, d):
    """Up to SPARSE_LU_MAX_BANDWIDTH the sparse LU answers; past it the blocked solves do; both match numpy."""
    import vibench.banded as banded

    rng = np.random.default_rng(d)
    dense = np.zeros((d, d))
    for k in range(b + 1):
        off = -rng.random(d - k) if k else 2.0 * b + 1.0 + rng.random(d)
        dense[np.arange(k, d), np.arange(d - k)] = dense[np.arange(d - k), np.arange(k, d)] = off
    prec = BandedPrecision.from_dense(dense, bandwidth=b)
    rhs = rng.normal(size=(d, 20))
    x = prec.solve(rhs)
    assert (prec._lu is not None) == (b <= banded.SPARSE_LU_MAX_BANDWIDTH)
    eps = np.finfo(float).eps
    cond = np.linalg.cond(dense)
    np.testing.assert_allclose(x, np.linalg.solve(dense, rhs), rtol=0, atol=8 * d * eps * cond * np.abs(x).max())


def test_inverse_submatrix_stays_normal_where_the_unit_solves_underflow():
    """At d = 8,000 (rho = 0.9) P^-1 e_i falls below the smallest normal float; the entries stay right."""
    d, rho = 8000, 0.9
    prec = BandedPrecision(_ar1_band(d, rho))
    rows = np.array([0, 1, 2500, 5000, 7999])
    got = prec.inverse_submatrix(rows)
    exact = rho ** np.abs(np.subtract.outer(rows, rows))  # AR(1) covariance, unit marginal variance
    scale = np.abs(prec.solve(np.ones(d))).max()
    np.testing.assert_allclose(got, exact, rtol=0, atol=16 * np.finfo(float).eps * scale)
    assert got[0, 1] == pytest.approx(rho, rel=1e-12) and abs(got[0, 4]) < 1e-12
    unit = np.zeros(d)
    unit[0] = 1.0
    assert np.abs(prec.solve(unit)[7999]) < np.finfo(float).tiny  # the plain solve does underflow there


def test_inverse_quadratic_is_a_transpose_p_inverse_a_and_its_rows():
    import vibench.banded as banded

    d = 700
    prec = BandedPrecision(_ar1_band(d, 0.5))
    a = np.random.default_rng(3).normal(size=(d, 30))
    exact = np.linalg.inv(prec.dense())
    rows = np.array([0, 350, 699])
    old, banded.SOLVE_CHUNK_ELEMENTS = banded.SOLVE_CHUNK_ELEMENTS, 8 * d  # 8 columns a chunk: 4 chunks
    try:
        quad, picked = prec.inverse_quadratic(a, rows)
    finally:
        banded.SOLVE_CHUNK_ELEMENTS = old
    np.testing.assert_allclose(quad, a.T @ exact @ a, rtol=1e-10)
    np.testing.assert_allclose(picked, (exact @ a)[rows], rtol=1e-10)
    np.testing.assert_array_equal(quad, quad.T)


def test_inverse_submatrix_over_several_chunks_and_the_sparse_lu_without_warnings(monkeypatch):
    """Chunks of 8 unit columns (the last a short one) give the dense inverse's entries; SuperLU gets a CSC matrix."""
    import warnings

    import vibench.banded as banded

    d = 400
    prec = BandedPrecision(_ar1_band(d, 0.6))
    rows = np.arange(3, d, 19)  # 21 rows: chunks of 8, 8 and 5
    monkeypatch.setattr(banded, "SOLVE_CHUNK_ELEMENTS", 8 * d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a SparseEfficiencyWarning from splu, say
        got = prec.inverse_submatrix(rows)
    assert prec._lu is not None  # the chunks went through the sparse LU
    exact = np.linalg.inv(prec.dense())[np.ix_(rows, rows)]
    np.testing.assert_allclose(got, exact, rtol=0, atol=16 * np.finfo(float).eps * np.abs(prec.solve(np.ones(d))).max())
