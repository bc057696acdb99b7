"""The scoring entry point: :func:`evaluate` and the KL, k-hat and ELBO helpers it uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..columns import METRIC_KEYS
from ..approximation import Approximation, DrawsApproximation, GaussianApproximation
from ..density import LogDensity
from ..task import Task
from ..truth import Truth
from .diagnostics import chain_stats
from .distance import distance
from .gates import gate
from .kl import GaussianForm, gaussian_kl_forms, kl_mc
from .moments import moment_errors

__all__ = ["METRIC_KEYS", "check_finite", "evaluate", "kl_divergence", "kl_inclusive", "psis_khat", "khat_log_weights", "elbo"]

N_DRAWS = 2000
#: Draws x dimension evaluated at once by the Monte Carlo helpers (bounds memory at large d).
CHUNK_ELEMENTS = 4_000_000
#: Above this many draws x dimension, the k-hat uses ``max(KHAT_MIN_DRAWS, KHAT_BUDGET // d)`` draws.
KHAT_BUDGET = 10_000_000
KHAT_MIN_DRAWS = 100
#: ``-log`` of the smallest normal float64 (708.4): a weight this far below the largest underflows.
_LOG_TINY = float(-np.log(np.finfo(float).tiny))


def _cov_parts(approx: Approximation) -> dict[str, Any]:
    """The numbers that define an approximation's covariance, in the form it holds them (no dense build)."""
    if isinstance(approx, GaussianApproximation):
        held = {"diag": lambda: approx.sd, "chol": lambda: approx.chol, "prec": lambda: approx._prec_chol,
                "banded": lambda: approx.precision.band}
        return {"cov": held[approx.form]()}
    if isinstance(approx, DrawsApproximation):
        return {"draws": approx.samples}
    return {"cov": approx.cov}


def q_form(approx: GaussianApproximation) -> GaussianForm:
    """The :class:`~vibench.scoring.kl.GaussianForm` of a Gaussian q, as held (no dense build)."""
    if approx.form == "diag":
        return GaussianForm(var=approx.sd**2)
    if approx.form == "banded":
        return GaussianForm(banded=approx.precision)
    if approx.form == "prec":
        return GaussianForm(root=approx.scale, lower=False)
    return GaussianForm(root=approx.chol, lower=True)


def truth_form(truth: Truth) -> GaussianForm | None:
    """The form of a Gaussian truth: its banded precision or its cached dense Cholesky factor; else None."""
    form = truth.gaussian_form
    if form == "banded":
        return GaussianForm(var=truth.sd**2, banded=truth.precision)
    if form == "dense":
        return GaussianForm(root=truth.cov_chol, lower=True)
    return None


def check_finite(approx: Approximation) -> None:
    """Raise ``ValueError("non-finite ...")`` if the approximation's numbers are not finite."""
    parts = {"mean": approx.mean, **_cov_parts(approx)}
    for name, value in parts.items():
        if not np.all(np.isfinite(np.asarray(value, dtype=float))):
            raise ValueError(f"non-finite {name} in the approximation")


def _draws(approx: Approximation, n: int, rng: np.random.Generator) -> np.ndarray:
    x = np.asarray(approx.draws(n, rng), dtype=float)
    if not np.all(np.isfinite(x)):
        raise ValueError("non-finite draws from the approximation")
    return x


@dataclass(frozen=True)
class QDraws:
    """Iid draws of q and their ``log q``, taken once and shared by the scores that need them.

    Attributes
    ----------
    x : ndarray, shape (n, d)
    logq : ndarray, shape (n,)
    """

    x: np.ndarray
    logq: np.ndarray


def shared_draws(approx: Approximation, rng: np.random.Generator) -> QDraws | None:
    """:data:`N_DRAWS` draws of q for the distance, the Monte Carlo KL and k-hat of one scoring, or None.

    Only a q with a density that is neither Gaussian nor a set of chains needs
    the same draws three times (a Gaussian has its closed-form KL and projected
    distance, chains are their own draws); for such a q (cavi's
    normal-inverse-gamma, a normalizing flow) drawing and evaluating ``log q``
    once instead of three times is most of its scoring. Each estimate stays
    unbiased; their errors become correlated. None when k-hat would take fewer
    draws (above :data:`KHAT_BUDGET` draws x dimension) or for any other q.
    """
    if not approx.has_density or isinstance(approx, (GaussianApproximation, DrawsApproximation)):
        return None
    if N_DRAWS * approx.dim > KHAT_BUDGET:
        return None
    x = _draws(approx, N_DRAWS, rng)
    return QDraws(x, np.asarray(approx.logpdf(x), dtype=float))


def kl_divergence(approx: Approximation, truth: Truth, rng: np.random.Generator,
                  n_draws: int = N_DRAWS, draws: QDraws | None = None) -> dict[str, Any]:
    """KL(q||p) where it is a KL: ``closed-form``, ``mc``, else empty.

    ``draws``, if given, are the Monte Carlo estimate's draws of q (then
    ``n_draws`` and ``rng`` are not used for it).

    Returns
    -------
    dict
        ``kl``, ``kl_estimator`` (``closed-form``, ``mc`` or ``None``), ``kl_se``.
    """
    if not approx.has_density:
        return {"kl": None, "kl_estimator": None, "kl_se": None}
    if isinstance(approx, GaussianApproximation) and truth.gaussian_form is not None:
        kl = gaussian_kl_forms(approx.mean, q_form(approx), truth.mean, truth_form(truth))
        return {"kl": kl, "kl_estimator": "closed-form", "kl_se": 0.0}
    if truth.logpdf is None:
        return {"kl": None, "kl_estimator": None, "kl_se": None}
    if draws is None:
        x = _draws(approx, n_draws, rng)
        draws = QDraws(x, approx.logpdf(x))
    kl, se = kl_mc(draws.x, draws.logq, truth.logpdf)
    return {"kl": kl, "kl_estimator": "mc", "kl_se": se}


def kl_inclusive(approx: Approximation, truth: Truth, rng: np.random.Generator,
                 n_draws: int = N_DRAWS) -> float | None:
    """Inclusive KL(p||q) = E_p[log p - log q]: closed form for two Gaussians, else Monte Carlo.

    Returns
    -------
    float or None
        ``None`` when q has no density, or the truth has no normalized density or no exact draws.

    The Monte Carlo estimate averages over the task's cached truth draws
    (:func:`_truth_sample`, ``rng`` unused) unless ``n_draws`` differs from
    :data:`N_DRAWS` or they would exceed :data:`KHAT_BUDGET` numbers.
    """
    if not approx.has_density:
        return None
    if isinstance(approx, GaussianApproximation) and truth.gaussian_form is not None:
        q = q_form(approx)
        if not np.isfinite(q.logdet()):
            return float("inf")
        return gaussian_kl_forms(truth.mean, truth_form(truth), approx.mean, q)
    if truth.logpdf is None or truth.sample is None:
        return None
    if n_draws == N_DRAWS and n_draws * truth.dim <= KHAT_BUDGET:
        y, logp = _truth_sample(truth)
    else:
        y = np.asarray(truth.sample(n_draws, rng), dtype=float)
        logp = truth.logpdf(y)
    return float(np.mean(logp - approx.logpdf(y)))


#: Seed of the truth draws every cell's inclusive KL averages over (:func:`_truth_sample`).
_INCLUSIVE_SEED = 20_251_128


def _truth_sample(truth: Truth) -> tuple[np.ndarray, np.ndarray]:
    """:data:`N_DRAWS` exact draws of the truth and their ``log p``, drawn once per truth and cached on it.

    Every cell of a task then averages ``log p - log q`` over the same draws of
    p, as the distance compares every cell with the same truth draws: common
    random numbers, so a difference between two methods' inclusive KLs is not
    blurred by fresh truth draws, and a cell pays only for ``log q`` at them.
    """
    cached = truth.__dict__.get("_vibench_inclusive")
    if cached is None:
        y = np.asarray(truth.sample(N_DRAWS, np.random.default_rng(_INCLUSIVE_SEED)), dtype=float)
        cached = (y, np.asarray(truth.logpdf(y), dtype=float))
        truth.__dict__["_vibench_inclusive"] = cached
    return cached


def elbo(approx: Approximation, log_density: LogDensity, rng: np.random.Generator,
         n_draws: int = N_DRAWS) -> tuple[float, float]:
    """ELBO = E_q[logp_unnormalized - log q] from ``n_draws`` draws of q, uncounted.

    ``log Z - ELBO`` is KL(q||p) when ``log Z`` is the task's ``log_evidence``.

    Returns
    -------
    elbo, se : float
    """
    x = _draws(approx, n_draws, rng)
    with log_density.uncounted():
        kl, se = kl_mc(x, approx.logpdf(x), log_density.logp)
    return -kl, se


def khat_log_weights(approx: Approximation, log_density: LogDensity, rng: np.random.Generator,
                     n_draws: int = N_DRAWS, draws: QDraws | None = None) -> np.ndarray:
    """The log importance ratios ``log p_unnormalized - log q`` that :func:`psis_khat` fits, one per draw of q.

    The part of scoring no yardstick with k-hat can skip: ``n_draws`` draws of q
    (fewer above :data:`KHAT_BUDGET` numbers), their ``log q`` (from the normals,
    for a Gaussian) and ``log p`` at them, in chunks of :data:`CHUNK_ELEMENTS`
    numbers; ``suites/bench_scale.py`` times it as the yardstick's floor.
    ``draws``, if given, are weighed instead (``n_draws`` and ``rng`` unused).
    """
    d = approx.dim
    if n_draws * d > KHAT_BUDGET:
        n_draws = max(KHAT_MIN_DRAWS, KHAT_BUDGET // d)
    step = max(1, CHUNK_ELEMENTS // d)
    parts = []
    if draws is not None:  # drawn already: n_draws is theirs
        with log_density.uncounted():
            parts.append(np.asarray(log_density.logp(draws.x), dtype=float) - draws.logq)
        n_draws = 0
    for start in range(0, n_draws, step):  # chunks draw the same numbers as one call, in less memory
        if isinstance(approx, GaussianApproximation):
            x, logq = approx.draws_and_logpdf(min(step, n_draws - start), rng)  # log q from the normals
            if not np.all(np.isfinite(x)):
                raise ValueError("non-finite draws from the approximation")
        else:
            x = _draws(approx, min(step, n_draws - start), rng)
            logq = approx.logpdf(x)
        with log_density.uncounted():
            parts.append(np.asarray(log_density.logp(x), dtype=float) - np.asarray(logq, dtype=float))
    return np.concatenate(parts)


def psis_khat(approx: Approximation, log_density: LogDensity, rng: np.random.Generator,
              n_draws: int = N_DRAWS, draws: QDraws | None = None) -> float | None:
    """Pareto k-hat of the importance weights p_unnormalized / q (Yao et al. 2018), by ArviZ's ``psislw``.

    ``arviz_stats.base.array_stats.psislw`` (Vehtari et al. 2024's fit, the one
    ArviZ 1.x uses) takes the negated log ratios, as in PSIS-LOO where the ratios
    are ``-log_lik``; k-hat agrees with ArviZ 0.23's ``az.psislw(lw)`` to about
    0.01, the difference between the 2017 and 2024 tail fits.

    Draws are taken and evaluated in chunks of at most :data:`CHUNK_ELEMENTS`
    numbers; above :data:`KHAT_BUDGET` draws x dimension, ``n_draws`` falls to
    ``max(KHAT_MIN_DRAWS, KHAT_BUDGET // d)`` (1,000 draws at d = 10,000, 100 at
    d = 100,000; the Pareto tail then has 20 draws and k-hat is noisier).

    Returns
    -------
    float or None
        ``None`` when q has no density. Above 0.7 q misses mass of p.

    ``draws``, if given, are the draws of q to weigh (``n_draws``, the budget
    and ``rng`` are then not used).
    """
    if not approx.has_density:
        return None
    from arviz_stats.base import array_stats

    lw = khat_log_weights(approx, log_density, rng, n_draws, draws)
    lw = np.where(np.isnan(lw), -np.inf, lw)
    if _weights_underflow(lw):
        return float("inf")
    with np.errstate(all="ignore"):  # gpdfit on extreme tails: overflow in expm1 at k-hat ~ 100
        _, khat = array_stats.psislw(-lw, r_eff=1.0)  # minus: see above
    return float(khat)


def _weights_underflow(lw: np.ndarray) -> bool:
    """Whether the Pareto fit would see weights ``exp(lw - max lw)`` that are not normal floats.

    PSIS fits the ``M = min(S / 5, 3 sqrt(S))`` largest weights above the next
    one, the cutoff (Vehtari et al. 2024, as ``psislw`` does). When the cutoff
    lies more than ``-log(tiny)`` = 708 nats below the largest log weight (or is
    ``-inf``: draws outside p's support), its weight and the tail's smallest
    underflow to 0, and the fit falls back on its prior: ArviZ returns k-hat
    0.03 for log weights spread with sd 700, a catastrophic q scored as a
    perfect one. One draw then carries all the weight, so k-hat is infinite.
    """
    s, top = lw.size, float(np.max(lw))
    m = int(np.floor(3.0 * np.sqrt(s))) if s > 225 else s // 5
    if m < 5 or not np.isfinite(top):
        return False
    cutoff = np.partition(lw, s - m - 1)[s - m - 1]
    return bool(top - cutoff > _LOG_TINY)


def evaluate(approx: Approximation, task: Task, rng: np.random.Generator, family: str | None = None) -> dict[str, Any]:
    """Score an approximation against the task's truth, and gate it.

    Parameters
    ----------
    approx : Approximation
    task : Task
    rng : numpy.random.Generator
        The only source of randomness (draws of q).
    family : str, optional
        The method's family: it picks the gates (sampling or optimization);
        without it, chains get the sampling gates.

    Returns
    -------
    dict
        The :data:`METRIC_KEYS`.

    Raises
    ------
    ValueError
        ``"non-finite ..."`` for NaN or inf in the approximation; a dimension mismatch.
    """
    truth = task.truth
    if approx.dim != truth.dim:
        raise ValueError(f"approximation has dimension {approx.dim}, the task {truth.dim}")
    check_finite(approx)
    with task.log_density.uncounted():
        return _evaluate(approx, task, rng, family)


def _evaluate(approx: Approximation, task: Task, rng: np.random.Generator, family: str | None) -> dict[str, Any]:
    truth = task.truth
    stats = chain_stats(approx.samples) if isinstance(approx, DrawsApproximation) else None
    row: dict[str, Any] = dict(moment_errors(approx, truth, stats))
    shared = shared_draws(approx, rng)
    row.update(distance(approx, truth, rng, stats, draws=None if shared is None else shared.x))
    row.update(kl_divergence(approx, truth, rng, draws=shared))
    row["kl_inclusive"] = kl_inclusive(approx, truth, rng)
    row["khat"] = psis_khat(approx, task.log_density, rng, draws=shared)
    row["chains"] = stats.chains if stats else None
    row["rhat_max"] = stats.rhat_max if stats else None
    row["ess_bulk_min"] = float(np.nanmin(stats.ess_bulk)) if stats and np.isfinite(stats.ess_bulk).any() else None
    row["ess_tail_min"] = float(np.nanmin(stats.ess_tail)) if stats and np.isfinite(stats.ess_tail).any() else None
    row["reliable"], row["flags"] = gate(approx, family, stats, row["khat"], row)
    return {key: row[key] for key in METRIC_KEYS}
