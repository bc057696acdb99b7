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
