"""chain_stats' rank normalization done once for every coordinate: the same R-hat and bulk ESS as ArviZ's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats as sps

from vibench.scoring import diagnostics
from vibench.scoring.diagnostics import MIN_DRAWS_PER_CHAIN, _z_scale, chain_stats


def _arviz_rank(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """arviz_stats' own rank R-hat and bulk ESS, one coordinate at a time."""
    from arviz_stats.base import array_stats

    values = np.moveaxis(samples, -1, 0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return (np.asarray(array_stats.rhat(values), dtype=float).ravel(),
                np.asarray(array_stats.ess(values, method="bulk"), dtype=float).ravel())


def _awkward_draws(rng: np.random.Generator, chains: int, draws: int) -> np.ndarray:
    """Coordinates with ties (a sampler that rejects), a NaN, an infinity, a constant and stuck chains."""
    x = rng.normal(size=(chains, draws, 8))
    x[..., 1] = np.round(x[..., 1], 1)  # heavy ties
    x[:, 1::2, 2] = x[:, ::2, 2][:, : x[:, 1::2].shape[1]]  # every other draw repeats the last: rejections
    x[1, 3, 3] = np.nan
    x[0, 2, 4] = np.inf
    x[..., 5] = 2.0
    x[..., 6] = np.arange(chains)[:, None]  # each chain stuck at its own value
    x[0, :, 7] += 10.0  # one chain in the wrong place
    return x


@pytest.mark.parametrize("draws", [2 * MIN_DRAWS_PER_CHAIN, 2 * MIN_DRAWS_PER_CHAIN + 1, 41])
def test_rank_rhat_and_bulk_ess_equal_arviz(draws):
    x = _awkward_draws(np.random.default_rng(draws), 4, draws)
    ours = chain_stats(x)
    rhat, ess = _arviz_rank(x)
    np.testing.assert_allclose(ours.rhat, rhat, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(ours.ess_bulk, ess, rtol=1e-12, equal_nan=True)
    assert np.isnan(ours.rhat[3]) and np.isnan(ours.ess_bulk[3])  # a NaN draw: NaN, as ArviZ gives
    assert np.isnan(ours.rhat[5]) and ours.rhat[6] > 1e6  # stuck chains: z-scaled, barely any within-chain variance
    assert ours.rhat[7] > 1.3 > ours.rhat[0]  # the misplaced chain is flagged, the sound coordinate is not


def test_one_chain_has_no_rhat_but_a_bulk_ess():
    x = np.random.default_rng(2).normal(size=(1, 40, 3))
    ours = chain_stats(x)
    assert np.all(np.isnan(ours.rhat))
    np.testing.assert_allclose(ours.ess_bulk, _arviz_rank(x)[1], rtol=1e-12)


def test_z_scale_is_average_ranks_back_transformed(monkeypatch):
    rng = np.random.default_rng(5)
    values = np.round(rng.normal(size=(7, 3, 11)), 1)
    monkeypatch.setattr(diagnostics, "_RANK_CHUNK", 50)  # 33 numbers a coordinate: one coordinate per chunk
    chunked = _z_scale(values)
    monkeypatch.undo()
    flat = values.reshape(7, -1)
    n = flat.shape[1]
    expected = sps.norm.ppf((sps.rankdata(flat, axis=1) - 3 / 8) / (n + 1 / 4)).reshape(values.shape)
    np.testing.assert_allclose(_z_scale(values), expected, rtol=1e-13)
    np.testing.assert_allclose(chunked, expected, rtol=1e-13)
    ordinal = sps.norm.ppf((sps.rankdata(flat, axis=1, method="ordinal") - 3 / 8) / (n + 1 / 4))
    assert np.abs(ordinal.reshape(values.shape) - expected).max() > 0.1  # ties matter: ordinal ranks would differ


@pytest.mark.parametrize("mode", ["divide", "invalid"])
def test_rank_path_under_numpy_errors_that_raise(mode):
    x = _awkward_draws(np.random.default_rng(9), 4, 2 * MIN_DRAWS_PER_CHAIN)
    with np.errstate(**{mode: "raise"}), warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = chain_stats(x)
    assert np.isnan(ours.rhat[5]) and ours.rhat[6] > 1e6 and np.isfinite(ours.rhat[0])
