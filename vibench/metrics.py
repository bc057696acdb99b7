"""Accuracy metrics: pure functions of (Approximation, Task/Truth).

:func:`evaluate` is the one entry point the runner calls.  It picks the best
available estimator of KL(q||p) (DESIGN.md, "Accuracy: KL to the truth"):

1. ``closed-form``: Gaussian approximation vs Gaussian truth;
2. ``mc``: approximation with a density vs truth with a normalized ``logpdf``;
3. ``knn``: draws only vs a normalized truth ``logpdf``, d <= 10;
4. ``gaussian-moments``: the KL of the Gaussian fitted to the approximation's
   moments, with its sampling floor ``kl_floor``;

and adds the standardized moment errors, the inclusive KL(p||q) and PSIS k-hat.
Evaluating the task's log density never counts as method cost: the counters of
``task.log_density`` are restored afterwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .approximation import Approximation, DrawsApproximation, GaussianApproximation
from .density import LogDensity
from .kl import effective_sample_size, gaussian_kl, kl_floor, kl_knn, kl_mc, knn_entropy
from .task import Task
from .truth import Truth

__all__ = [
    "KNN_MAX_DIM",
    "check_finite",
    "effective_sample_size",
    "elbo",
    "evaluate",
    "gaussian_kl",
    "kl_divergence",
    "kl_floor",
    "kl_gaussian_moments",
    "kl_inclusive",
    "kl_knn",
    "kl_mc",
    "knn_entropy",
    "moment_errors",
    "psis_khat",
]

KNN_MAX_DIM = 10
"""Largest dimension at which the k-NN KL estimator is used (it is useless by d = 20)."""

KEYS = ("kl", "kl_estimator", "kl_se", "kl_floor", "kl_inclusive", "mean_err", "sd_err", "khat")


def check_finite(approx: Approximation) -> None:
    """Raise ``ValueError("non-finite ...")`` if the approximation's numbers are not finite.

    Parameters
    ----------
    approx : Approximation
        Its ``mean``, ``cov`` and, for a :class:`DrawsApproximation`, every stored draw.
    """
    parts = {"mean": approx.mean, "cov": approx.cov}
    if isinstance(approx, DrawsApproximation):
        parts["draws"] = approx.samples
    for name, value in parts.items():
        if not np.all(np.isfinite(np.asarray(value, dtype=float))):
            raise ValueError(f"non-finite {name} in the approximation")


def _draws(approx: Approximation, n: int, rng: np.random.Generator) -> np.ndarray:
    x = np.asarray(approx.draws(n, rng), dtype=float)
    if not np.all(np.isfinite(x)):
        raise ValueError("non-finite draws from the approximation")
    return x


def _thinned(approx: Approximation, n: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``n`` draws, never resampled with replacement (duplicates ruin k-NN)."""
    if isinstance(approx, DrawsApproximation) and approx.flat.shape[0] <= n:
        return approx.flat
    return _draws(approx, n, rng)


def moment_errors(approx: Approximation, truth: Truth) -> tuple[float, float]:
    """Standardized moment errors, reduced by max over coordinates.

    Parameters
    ----------
    approx : Approximation
    truth : Truth

    Returns
    -------
    mean_err : float
        ``max_i |m_i - m*_i| / sd*_i``.
    sd_err : float
        ``max_i |log(sd_i / sd*_i)|`` (``inf`` if some ``sd_i`` is zero).
    """
    mean_err = np.max(np.abs(approx.mean - truth.mean) / truth.sd)
    with np.errstate(divide="ignore"):
        sd_err = np.max(np.abs(np.log(approx.sd) - np.log(truth.sd)))
    return float(mean_err), float(sd_err)


def _truth_cov(truth: Truth) -> np.ndarray:
    return truth.cov if truth.cov is not None else np.diag(truth.sd**2)


def kl_gaussian_moments(approx: Approximation, truth: Truth, n_draws: int = 2000) -> tuple[float | None, float | None]:
    """KL(N(mean_q, cov_q) || N(mean*, cov*)) from the moments, and its sampling floor.

    The truth Gaussian uses ``truth.cov``, or ``diag(truth.sd**2)`` when the
    covariance is unknown.  The floor is :func:`kl_floor` with ``n_eff``:

    - :class:`DrawsApproximation`: moments of all stored draws, ``n_eff`` =
      :func:`effective_sample_size` (harmonic mean of bulk ESS, capped at n);
    - :class:`GaussianApproximation`: exact moments, floor 0;
    - any other approximation: its ``mean``/``cov``, taken as estimated from
      ``n_draws`` iid draws.

    Parameters
    ----------
    approx : Approximation
    truth : Truth
    n_draws : int

    Returns
    -------
    kl, floor : float or None
        ``(None, None)`` when there are no more draws than dimensions (the
        fitted covariance is then necessarily singular).
    """
    d = approx.dim
    if isinstance(approx, GaussianApproximation):
        return gaussian_kl(approx.mean, None, truth.mean, _truth_cov(truth), chol_q=approx.chol), 0.0
    if isinstance(approx, DrawsApproximation):
        if approx.flat.shape[0] <= d:
            return None, None
        n_eff = effective_sample_size(approx.samples)
    else:
        n_eff = float(n_draws)
    return gaussian_kl(approx.mean, approx.cov, truth.mean, _truth_cov(truth)), kl_floor(d, n_eff)


def kl_divergence(approx: Approximation, truth: Truth, rng: np.random.Generator, n_draws: int = 2000) -> dict[str, Any]:
    """KL(q||p) by the best available estimator.

    Parameters
    ----------
    approx : Approximation
    truth : Truth
    rng : numpy.random.Generator
    n_draws : int
        Draws of q for ``mc``; the most (thinned) draws used by ``knn``.

    Returns
    -------
    dict
        ``kl``, ``kl_estimator`` (``closed-form``, ``mc``, ``knn``,
        ``gaussian-moments`` or ``None``), ``kl_se`` (0 for closed forms,
        ``None`` for ``gaussian-moments``) and ``kl_floor`` (``gaussian-moments`` only).
    """
    out: dict[str, Any] = {"kl": None, "kl_estimator": None, "kl_se": None, "kl_floor": None}
    if approx.has_density and isinstance(approx, GaussianApproximation) and truth.kind == "gaussian" and truth.cov is not None:
        kl = gaussian_kl(approx.mean, None, truth.mean, truth.cov, chol_q=approx.chol)
        return {**out, "kl": kl, "kl_estimator": "closed-form", "kl_se": 0.0}
    if approx.has_density and truth.logpdf is not None:
        x = _draws(approx, n_draws, rng)
        kl, se = kl_mc(x, approx.logpdf(x), truth.logpdf)
        return {**out, "kl": kl, "kl_estimator": "mc", "kl_se": se}
    if not approx.has_density and truth.logpdf is not None and approx.dim <= KNN_MAX_DIM:
        kl, se = kl_knn(_thinned(approx, n_draws, rng), truth.logpdf)
        return {**out, "kl": kl, "kl_estimator": "knn", "kl_se": se}
    kl, floor = kl_gaussian_moments(approx, truth, n_draws)
    if kl is None:
        return out
    return {**out, "kl": kl, "kl_estimator": "gaussian-moments", "kl_floor": floor}


def kl_inclusive(approx: Approximation, truth: Truth, rng: np.random.Generator, n_draws: int = 2000) -> float | None:
    """Inclusive KL(p||q) = E_p[log p - log q].

    Closed form for a Gaussian approximation vs a Gaussian truth; otherwise a
    Monte Carlo mean over ``n_draws`` exact truth draws (``truth.sample``) or
    evenly thinned reference draws (``truth.draws``), which needs ``truth.logpdf``.

    Returns
    -------
    float or None
        ``None`` when q has no density, or the truth can neither sample nor
        evaluate a normalized density.
    """
    if not approx.has_density or (truth.sample is None and truth.draws is None):
        return None
    if isinstance(approx, GaussianApproximation) and truth.kind == "gaussian" and truth.cov is not None:
        if np.any(np.diag(approx.chol) == 0):
            return float("inf")
        return gaussian_kl(truth.mean, truth.cov, approx.mean, None, chol_p=approx.chol)
    if truth.logpdf is None:
        return None
    if truth.sample is not None:
        y = np.asarray(truth.sample(n_draws, rng), dtype=float)
    else:
        ref = np.asarray(truth.draws, dtype=float)
        y = ref[np.linspace(0, ref.shape[0] - 1, min(n_draws, ref.shape[0])).round().astype(int)]
    return float(np.mean(truth.logpdf(y) - approx.logpdf(y)))


def _uncounted_logp(log_density: LogDensity, x: np.ndarray) -> np.ndarray:
    saved = (log_density.n_logp, log_density.n_grad)
    try:
        return np.asarray(log_density.logp(x), dtype=float)
    finally:
        log_density.n_logp, log_density.n_grad = saved


def elbo(approx: Approximation, log_density: LogDensity, rng: np.random.Generator, n_draws: int = 2000) -> tuple[float, float]:
    """ELBO = E_q[logp_unnormalized - log q] from ``n_draws`` draws of q, uncounted.

    ``log Z - ELBO`` is KL(q||p) when ``log Z`` is the task's ``log_evidence``.

    Returns
    -------
    elbo, se : float
    """
    x = _draws(approx, n_draws, rng)
    kl, se = kl_mc(x, approx.logpdf(x), lambda y: _uncounted_logp(log_density, y))
    return -kl, se


def psis_khat(approx: Approximation, log_density: LogDensity, rng: np.random.Generator, n_draws: int = 2000) -> float | None:
    """Pareto k-hat of the importance weights p_unnormalized / q (Yao et al. 2018).

    ``arviz.psislw`` on ``logp(x) - log q(x)`` for ``n_draws`` iid draws of q
    (``reff = 1``).  Below 0.5: q is a good importance proposal; above 0.7:
    q misses mass of p (typically too narrow).  The task's evaluation counters
    are left unchanged.

    Returns
    -------
    float or None
        ``None`` when q has no density.
    """
    if not approx.has_density:
        return None
    import arviz as az

    x = _draws(approx, n_draws, rng)
    lw = _uncounted_logp(log_density, x) - np.asarray(approx.logpdf(x), dtype=float)
    lw = np.where(np.isnan(lw), -np.inf, lw)
    with np.errstate(divide="ignore", invalid="ignore"):  # gpdfit on extreme tails
        _, khat = az.psislw(lw, reff=1.0)
    return float(khat)


def evaluate(approx: Approximation, task: Task, rng: np.random.Generator, n_draws: int = 2000) -> dict[str, Any]:
    """Score an approximation against the task's truth.

    Parameters
    ----------
    approx : Approximation
    task : Task
    rng : numpy.random.Generator
        The only source of randomness (draws of q and of the truth).
    n_draws : int
        Monte Carlo size of every random metric.

    Returns
    -------
    dict
        ``kl``, ``kl_estimator``, ``kl_se``, ``kl_floor`` (see
        :func:`kl_divergence`), ``kl_inclusive``, ``mean_err``, ``sd_err``,
        ``khat``: floats or ``None``; ``kl_estimator`` a string or ``None``.

    Raises
    ------
    ValueError
        ``"non-finite ..."`` for NaN or inf in the approximation; a dimension mismatch.
    """
    truth = task.truth
    if approx.dim != truth.dim:
        raise ValueError(f"approximation has dimension {approx.dim}, the task {truth.dim}")
    check_finite(approx)
    density = task.log_density
    saved = (density.n_logp, density.n_grad)
    try:
        mean_err, sd_err = moment_errors(approx, truth)
        row = kl_divergence(approx, truth, rng, n_draws)
        row["kl_inclusive"] = kl_inclusive(approx, truth, rng, n_draws)
        row["mean_err"], row["sd_err"] = mean_err, sd_err
        row["khat"] = psis_khat(approx, density, rng, n_draws)
    finally:
        density.n_logp, density.n_grad = saved
    return {key: row[key] for key in KEYS}
