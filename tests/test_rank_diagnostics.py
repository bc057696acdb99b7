"""chain_stats' transforms done once for every coordinate: the same R-hat, ESS and MCSE as ArviZ's methods."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats as sps

from vibench.scoring import diagnostics
from vibench.scoring.diagnostics import MIN_DRAWS_PER_CHAIN, _z_scale, chain_stats


def _arviz(samples: np.ndarray) -> dict[str, np.ndarray]:
    """arviz_stats' own rank R-hat, bulk and tail ESS, MCSE of the mean and ESS of the sd, coordinate by coordinate."""
    from arviz_stats.base import array_stats

    values = np.moveaxis(samples, -1, 0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = {"rhat": array_stats.rhat(values), "ess_bulk": array_stats.ess(values, method="bulk"),
               "ess_tail": array_stats.ess(values, method="tail", prob=(0.05, 0.95)),
               "mcse_mean": array_stats.mcse(values, method="mean"), "ess_sd": array_stats.ess(values, method="sd")}
    return {key: np.asarray(value, dtype=float).ravel() for key, value in out.items()}


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


# 2 MIN - 1 draws: split chains too short for the one-pass path, so ArviZ's methods run coordinate by coordinate
@pytest.mark.parametrize(("chains", "draws"), [(4, 2 * MIN_DRAWS_PER_CHAIN - 1), (2, 2 * MIN_DRAWS_PER_CHAIN - 1),
                                               (4, 2 * MIN_DRAWS_PER_CHAIN), (4, 2 * MIN_DRAWS_PER_CHAIN + 1),
                                               (2, 41), (4, 41), (4, 40)])
def test_split_chain_stats_equal_arviz(chains, draws, monkeypatch):
    x = _awkward_draws(np.random.default_rng(draws), chains, draws)
    if draws == 40:  # blocks of 3 coordinates (the last one of 2): every field is concatenated in order
        monkeypatch.setattr(diagnostics, "_RANK_CHUNK", 3 * chains * draws + 1)
    seen = {}
    real = diagnostics._mcse_sd

    def spy(samples, ess_sd):  # the sd's ESS is an input of the sd's MCSE, not a field
        seen["ess_sd"] = ess_sd
        return real(samples, ess_sd)

    monkeypatch.setattr(diagnostics, "_mcse_sd", spy)
    ours = chain_stats(x)
    theirs = _arviz(x)
    for key in ("rhat", "ess_bulk", "ess_tail", "mcse_mean"):
        np.testing.assert_allclose(getattr(ours, key), theirs[key], rtol=1e-12, equal_nan=True, err_msg=key)
    np.testing.assert_allclose(seen["ess_sd"], theirs["ess_sd"], rtol=1e-12, equal_nan=True)
    for key in ("rhat", "ess_bulk", "ess_tail", "mcse_mean"):
        assert np.isnan(getattr(ours, key)[3]), key  # a NaN draw: NaN, as ArviZ gives
    assert np.all(np.isfinite(ours.ess_tail[[0, 1, 2, 7]])) and ours.ess_tail[5] == x.shape[0] * (x.shape[1] // 2) * 2
    assert np.isnan(ours.rhat[5]) and ours.rhat[6] > 1e6  # stuck chains: z-scaled, barely any within-chain variance
    assert ours.rhat[7] > 1.3 > ours.rhat[0]  # the misplaced chain is flagged, the sound coordinate is not


@pytest.mark.parametrize("draws", [2 * MIN_DRAWS_PER_CHAIN - 1, 40])
def test_one_chain_has_no_rhat_but_a_bulk_ess(draws):
    x = np.random.default_rng(2).normal(size=(1, draws, 3))
    ours = chain_stats(x)
    assert ours.rhat.shape == (3,) and ours.rhat.dtype == np.float64 and np.all(np.isnan(ours.rhat))
    theirs = _arviz(x)
    for key in ("ess_bulk", "ess_tail", "mcse_mean"):
        np.testing.assert_allclose(getattr(ours, key), theirs[key], rtol=1e-12, err_msg=key)


def test_z_scale_is_average_ranks_back_transformed():
    rng = np.random.default_rng(5)
    values = np.round(rng.normal(size=(7, 3, 11)), 1)
    chunked = np.concatenate([_z_scale(values[i:i + 1]) for i in range(7)])  # one coordinate at a time
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
