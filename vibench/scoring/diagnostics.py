"""The one wrapper over ArviZ's chain diagnostics: R-hat, bulk and tail ESS, Monte Carlo SEs.

Every diagnostic vibench reports for draws (the gates, the moment SEs, the
thinning of the distance, the reference checks) comes from :func:`chain_stats`,
so there is one copy of how ArviZ is called.

It calls ``arviz_stats.base.array_stats``, the array functions behind
``az.ess``/``az.rhat``/``az.mcse`` (ArviZ's own stats library, the one ArviZ 1.x
is built on). On plain arrays they give the same numbers as ``az.ess`` and
friends of ArviZ 0.23 (to 1e-10, tested), without importing all of ArviZ (3 s,
plots included) in every worker, and without the per-coordinate xarray
round trips, which made diagnostics of emcee's walkers cost more than the fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["ChainStats", "chain_stats", "MIN_DRAWS_PER_CHAIN"]

#: ArviZ needs at least this many draws per chain for ESS and R-hat.
MIN_DRAWS_PER_CHAIN = 4
#: The quantiles whose ESS is the tail ESS: ``az.ess(method="tail")``'s default.
TAIL_PROB = (0.05, 0.95)


@dataclass(frozen=True)
class ChainStats:
    """Per-coordinate diagnostics of ``(chains, draws, dim)`` samples.

    Attributes
    ----------
    chains, draws : int
    rhat : ndarray, shape (dim,)
        Rank-normalized split R-hat (Vehtari et al. 2021), ``nan`` where undefined.
    ess_bulk, ess_tail : ndarray, shape (dim,)
        Bulk and tail effective sample sizes.
    mcse_mean, mcse_sd : ndarray, shape (dim,)
        Monte Carlo standard errors of each coordinate's mean and sd.
    """

    chains: int
    draws: int
    rhat: np.ndarray
    ess_bulk: np.ndarray
    ess_tail: np.ndarray
    mcse_mean: np.ndarray
    mcse_sd: np.ndarray

    @property
    def n(self) -> int:
        """All draws: ``chains * draws``."""
        return self.chains * self.draws

    @property
    def ess_min(self) -> float:
        """The smallest bulk or tail ESS over coordinates (finite values only), capped at ``n``."""
        both = np.concatenate([self.ess_bulk, self.ess_tail])
        both = both[np.isfinite(both)]
        return float(min(self.n, both.min())) if both.size else float(self.n)

    @property
    def rhat_max(self) -> float:
        """The largest finite R-hat over coordinates (``nan`` if none is)."""
        finite = self.rhat[np.isfinite(self.rhat)]
        return float(finite.max()) if finite.size else float("nan")


def _iid(samples: np.ndarray) -> ChainStats:
    """Diagnostics when ArviZ cannot run (too few draws): draws taken as independent."""
    chains, draws, dim = samples.shape
    flat = samples.reshape(-1, dim)
    n = flat.shape[0]
    sd = flat.std(axis=0, ddof=1) if n > 1 else np.zeros(dim)
    nan = np.full(dim, np.nan)
    full = np.full(dim, float(n))
    return ChainStats(chains, draws, nan, full, full, sd / np.sqrt(n), sd / np.sqrt(2.0 * max(n - 1, 1)))


def chain_stats(samples: np.ndarray) -> ChainStats:
    """ArviZ's R-hat, ESS and MCSE for every coordinate of ``(chains, draws, dim)`` samples.

    Parameters
    ----------
    samples : ndarray, shape (chains, draws, dim)

    Returns
    -------
    ChainStats
        With fewer than :data:`MIN_DRAWS_PER_CHAIN` draws per chain the draws
        are treated as independent (ESS = n, R-hat undefined).
    """
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 3:
        raise ValueError(f"samples must be (chains, draws, dim), got shape {samples.shape}")
    if samples.shape[1] < MIN_DRAWS_PER_CHAIN:
        return _iid(samples)
    from arviz_stats.base import array_stats

    # array_stats takes (..., chain, draw); one call covers every coordinate
    values = np.moveaxis(samples, -1, 0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")  # constant coordinates give NaN with a warning

        def get(result) -> np.ndarray:
            return np.asarray(result, dtype=float).reshape(-1)

        if samples.shape[1] // 2 >= MIN_DRAWS_PER_CHAIN:  # the split chains are long enough for ArviZ's checks
            # a block of coordinates at a time: each transform is a copy of the block (emcee at d = 1000 stores
            # 24,024 draws per coordinate; whole-array copies took the peak to 1.25 GB, suites/bench_chain_stats.py)
            step = max(1, _RANK_CHUNK // (samples.shape[0] * samples.shape[1]))
            blocks = [_split_chain_stats(values[start:start + step], array_stats, multichain=samples.shape[0] >= 2)
                      for start in range(0, len(values), step)]
            rhat, ess_bulk, ess_tail, mcse_mean, ess_sd = (np.concatenate(field) for field in zip(*blocks))
        else:
            rhat = get(array_stats.rhat(values)) if samples.shape[0] >= 2 else np.full(samples.shape[2], np.nan)
            ess_bulk = get(array_stats.ess(values, method="bulk"))
            ess_tail = get(array_stats.ess(values, method="tail", prob=TAIL_PROB))
            mcse_mean = get(array_stats.mcse(values, method="mean"))
            ess_sd = get(array_stats.ess(values, method="sd"))
        return ChainStats(chains=samples.shape[0], draws=samples.shape[1], rhat=rhat, ess_bulk=ess_bulk,
                          ess_tail=ess_tail, mcse_mean=mcse_mean, mcse_sd=_mcse_sd(samples, ess_sd))


def _split(values: np.ndarray) -> np.ndarray:
    """ArviZ's split chains of ``(dim, chains, draws)`` values: first halves, then last halves, as chains."""
    half = values.shape[-1] // 2
    return np.concatenate((values[..., :half], values[..., -half:]), axis=-2)


def _split_chain_stats(values: np.ndarray, array_stats, multichain: bool) -> tuple[np.ndarray, ...]:
    """ArviZ's rank R-hat, bulk and tail ESS, MCSE of the mean and ESS of the sd, each transform done once.

    ``array_stats.rhat``/``ess``/``mcse`` transform the draws one coordinate at
    a time before their estimator: split the chains, rank-normalize them
    (``scipy.stats.rankdata``, a stable merge sort, and ``norm.ppf``; three
    times, for the bulk R-hat, the bulk ESS and the folded R-hat), take the
    indicators of the 5 % and 95 % quantiles, the squared deviations. On
    emcee's 2,002 walkers x 12 draws at d = 1,000 those transforms were most
    of the diagnostics' 15 s. Here each is computed once for every coordinate
    (:func:`_z_scale` ranks them), and ArviZ's own estimators
    (``method="identity"``: its autocovariance, Geyer's sequences, split R-hat)
    are applied to the results. The numbers are ArviZ's (tested against its
    methods, ties, NaN and stuck chains included). ``values`` is
    ``(dim, chains, draws)`` with at least ``2 * MIN_DRAWS_PER_CHAIN`` draws.

    Returns
    -------
    rhat, ess_bulk, ess_tail, mcse_mean, ess_sd : ndarray, shape (dim,)
    """
    def ess(a: np.ndarray) -> np.ndarray:
        return np.asarray(array_stats.ess(a, method="identity"), dtype=float).reshape(-1)

    def rhat(a: np.ndarray) -> np.ndarray:
        return np.asarray(array_stats.rhat(a, method="identity"), dtype=float).reshape(-1)

    values = np.ascontiguousarray(values)  # one transposing copy: every transform below then reads it in order
    flat = values.reshape(len(values), -1)
    has_nan = np.isnan(flat).any(axis=1)  # ArviZ gives NaN for such a coordinate
    split = _split(values)
    bulk = _z_scale(split)
    ess_bulk = ess(bulk)
    rhat_max = np.full(len(values), np.nan)
    if multichain:
        rhat_bulk = rhat(bulk)
        del bulk
        folded = np.abs(split - np.median(split.reshape(len(split), -1), axis=1)[:, None, None])
        rhat_tail = rhat(_z_scale(folded))
        del folded
        rhat_max = np.where(rhat_tail > rhat_bulk, rhat_tail, rhat_bulk)  # ArviZ's max(bulk, tail), NaN included
    else:
        del bulk
    ess_mean = ess(split)
    del split
    quantiles = np.asarray(array_stats.quantile(flat, list(TAIL_PROB), axis=-1), dtype=float)  # (dim, 2)
    low, high = (ess(_split(values <= quantiles[:, i, None, None])) for i in range(2))
    ess_tail = np.where(high < low, high, low)  # ArviZ's min(low, high)
    ess_tail[has_nan] = np.nan  # an indicator of NaN is False, not NaN
    mcse_mean = flat.std(axis=1, ddof=1) / np.sqrt(ess_mean)
    ess_sd = ess(_split((values - flat.mean(axis=1)[:, None, None]) ** 2))
    return rhat_max, ess_bulk, ess_tail, mcse_mean, ess_sd


#: Numbers per block of coordinates of :func:`chain_stats`' one-pass path: each transform of a block is a copy of
#: it (whole-array copies at d = 1000 with 24,000 draws per coordinate were several 190 MB arrays).
_RANK_CHUNK = 2_000_000


def _z_scale(values: np.ndarray) -> np.ndarray:
    """ArviZ's z-scale of every coordinate of ``(dim, ...)`` values: average ranks, Blom's back-transform, probit.

    The same numbers as ``arviz_stats``' ``_z_scale`` (``rankdata(method="average")``,
    ``(r - 3/8) / (n + 1/4)``, ``norm.ppf``): ties get their average rank, and a
    coordinate with any NaN is NaN (ArviZ's validity check returns NaN for it).
    Average ranks do not need a stable sort, so one ``argsort`` of all the
    coordinates replaces ``rankdata``'s merge sort, and ``scipy.special.ndtri``
    (the probit ``norm.ppf`` evaluates) replaces ``norm.ppf``'s per-call checks.
    Its memory is bounded by the caller: :func:`chain_stats` passes a block of
    about :data:`_RANK_CHUNK` numbers at a time.
    """
    from scipy.special import ndtri

    flat = values.reshape(len(values), -1)
    n = flat.shape[1]
    order = np.argsort(flat, axis=1)
    ordered = np.take_along_axis(flat, order, axis=1)
    new_value = np.ones(flat.shape, dtype=bool)  # where a run of tied values begins, row by row
    new_value[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    new_value = new_value.reshape(-1)
    starts = np.flatnonzero(new_value)  # each run's first position in the flattened array
    ends = np.append(starts[1:], new_value.size)  # one past its last
    # a run's average 1-based rank within its row, back-transformed (Blom) and probit, once per run
    mean_rank = (starts + ends - 1) / 2.0 + 1.0 - (starts // n) * n
    per_run = ndtri((mean_rank - 0.375) / (n + 0.25))
    out = np.empty(flat.shape)
    np.put_along_axis(out, order, per_run[np.cumsum(new_value) - 1].reshape(flat.shape), axis=1)
    out[np.isnan(flat).any(axis=1)] = np.nan
    return out.reshape(values.shape)


#: Numbers per chunk of :func:`_mcse_sd`'s central moments (at d = 1000 emcee stores 24,000 draws of each
#: coordinate: whole-array temporaries were four 190 MB arrays, 2.6 s of a 17 s scoring).
_MOMENT_CHUNK = 2_000_000


def _mcse_sd(samples: np.ndarray, ess_sd: np.ndarray) -> np.ndarray:
    """MCSE of each coordinate's sd: the delta method on the variance with ArviZ's ``ess(method="sd")``.

    ``Var(s) ~ (mu4 - sigma^4) / (4 sigma^2 ESS_sd)``. (``az.mcse(method="sd")``
    fails on ArviZ 0.23 with numpy 2: "only 0-dimensional arrays can be converted";
    arviz_stats' ``mcse(method="sd")`` uses another approximation. This one is
    tested against the spread of sds over replicated chains.)
    """
    flat = samples.reshape(-1, samples.shape[-1])
    var, mu4 = np.empty(flat.shape[1]), np.empty(flat.shape[1])
    step = max(1, _MOMENT_CHUNK // max(flat.shape[0], 1))  # coordinates at a time: no n x d temporaries
    for start in range(0, flat.shape[1], step):
        cols = slice(start, start + step)
        centred = flat[:, cols] - flat[:, cols].mean(axis=0)
        squared = centred * centred
        var[cols] = squared.mean(axis=0)
        mu4[cols] = (squared * squared).mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(np.maximum(mu4 - var**2, 0.0) / (4.0 * var * ess_sd))
    return np.where(var > 0, out, 0.0)
