"""How accurate ``check_method`` requires a fit to be: each tolerance follows from what the method claims.

Every method is held to the accuracy its own answer claims, on the task's truth:

- **Draws** (a sampler, or any :class:`~vibench.DrawsApproximation`) are held
  to their effective sample size: each coordinate's mean must lie within
  ``z`` Monte Carlo standard errors of the truth's and its sd within ``z`` of
  the sd's MCSE (both ArviZ's, from the chains' ESS, combined with a reference
  truth's own ``mean_se``/``sd_se``), ``z`` the Bonferroni threshold for
  ``2 * dim`` tests at level 1e-3. Below :data:`MIN_ESS` nothing can be checked.
- **A Gaussian approximation on a Gaussian truth** is held to the closed form
  of its family's best answer: full-rank VI and Laplace are exact there
  (KL 0), a mean-field family reaches the mean-field optimum
  ``0.5 (sum_i log P_ii - log det P)`` (``P`` the truth's precision). Its
  excess ``KL(q||p) - floor`` (closed form) must be
  - at most :data:`EXACT_KL_TOL` per coordinate (closed-form accuracy) when
    the fit does not depend on the seed (a second fit at another seed is
    within that KL of the first): there is no Monte Carlo error to excuse more;
  - else at most ``chi2_k.isf(1e-3) / (2 N)``: the excess KL that the
    family's maximum-likelihood fit to ``N`` exact draws stays below with
    probability 0.999 (``2 N KL`` is asymptotically chi-square with ``k``
    degrees of freedom, ``k`` the family's free parameters: ``2 d`` for a
    diagonal Gaussian, ``d + d (d + 1) / 2`` for a full one). ``N`` is the
    number of exact draws the answer claims to be worth: ``exact_draws``,
    default :data:`EXACT_DRAWS`.
  A density that is not Gaussian (Monte Carlo KL) gets the same ``N``-draw
  bound plus ``z`` times the KL's standard error.
- **Anything else** (a truth with no closed form for the family's best
  answer, such as CAVI on the normal-inverse-gamma task) is held to sanity
  bounds only: ``mean_err <= 0.25`` and ``sd_err <= 0.5``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy.stats import chi2

from ..approximation import Approximation, DrawsApproximation, GaussianApproximation
from ..method import SAMPLING_FAMILIES
from ..truth import Truth
from ._common import ALPHA, fail, z_threshold

__all__ = ["MIN_ESS", "EXACT_KL_TOL", "EXACT_DRAWS", "OPTIMIZATION_MEAN_TOL", "OPTIMIZATION_SD_TOL",
           "MEANFIELD_FAMILIES", "meanfield_optimum_kl", "family_floor", "exact_draws_kl", "check_accuracy"]

#: Fewest effective draws at which a sampler's accuracy can be checked at all.
MIN_ESS = 50
#: Closed-form accuracy: excess KL (nats per coordinate) allowed to a fit that does not depend on the seed.
EXACT_KL_TOL = 1e-6
#: Exact draws a seed-dependent (stochastic) optimizer's answer must be worth, unless told otherwise.
#: PyMC's ADVI, stopped by its convergence check, is worth about 270 (mean-field) to 370 (full-rank)
#: on the default task (excess KL 0.04 nats), DADVI with its 30 fixed draws about 30 to 100.
EXACT_DRAWS = 200
#: Sanity bound on ``mean_err`` (posterior sds) where the family's best answer has no closed form.
OPTIMIZATION_MEAN_TOL = 0.25
#: Sanity bound on ``sd_err`` (relative sd error) where the family's best answer has no closed form
#: (the optimal mean-field fit has 0.23 on the default task).
OPTIMIZATION_SD_TOL = 0.5
#: Families whose best Gaussian is the mean-field optimum (diagonal covariance).
MEANFIELD_FAMILIES = ("meanfield", "cavi")


def _precision_parts(truth: Truth) -> tuple[np.ndarray, float]:
    """``diag(P)`` and ``log det P`` of a Gaussian truth's precision ``P``, without densifying a banded one."""
    if truth.precision is not None:
        return truth.precision.diagonal(), truth.precision.logdet()
    chol = truth.cov_chol
    inv = np.linalg.inv(chol)  # P = inv^T inv
    return np.einsum("ki,ki->i", inv, inv), float(-2.0 * np.sum(np.log(np.abs(np.diag(chol)))))


def meanfield_optimum_kl(truth: Truth) -> float:
    """KL(q*||p) of the best diagonal Gaussian q* for a Gaussian truth: ``0.5 (sum_i log P_ii - log det P)``.

    Parameters
    ----------
    truth : Truth
        Of kind ``gaussian`` (dense ``cov`` or banded ``precision``).

    Returns
    -------
    float
    """
    diag, logdet = _precision_parts(truth)
    return float(0.5 * (np.sum(np.log(diag)) - logdet))


def family_floor(family: str, truth: Truth) -> float:
    """The smallest KL(q||p) a method of ``family`` can reach on a Gaussian truth (closed form)."""
    return meanfield_optimum_kl(truth) if family in MEANFIELD_FAMILIES else 0.0


def exact_draws_kl(n_parameters: int, n_draws: float) -> float:
    """Excess KL that a ``n_parameters``-parameter Gaussian fitted to ``n_draws`` exact draws stays below
    with probability ``1 - ALPHA``: ``chi2_k.isf(ALPHA) / (2 n)``."""
    return float(chi2.isf(ALPHA, n_parameters) / (2.0 * n_draws))


def _n_parameters(approx: Approximation, family: str, dim: int) -> int:
    diagonal = family in MEANFIELD_FAMILIES or (isinstance(approx, GaussianApproximation) and approx.is_diagonal)
    return 2 * dim if diagonal else dim + dim * (dim + 1) // 2


def _seed_kl(a: GaussianApproximation, b: Approximation) -> float:
    """Closed-form KL between the fits at two seeds (``inf`` if the second is not Gaussian or degenerate)."""
    from ..scoring.kl import gaussian_kl_forms
    from ..scoring.score import q_form

    if not isinstance(b, GaussianApproximation) or b.dim != a.dim:
        return float("inf")
    try:
        return gaussian_kl_forms(a.mean, q_form(a), b.mean, q_form(b))
    except (ValueError, np.linalg.LinAlgError):
        return float("inf")


def _draws_rule(where: str, samples: np.ndarray, truth: Truth, mean_tol: float | None) -> dict[str, Any]:
    """Samplers: every coordinate's mean and sd within ``z`` MCSEs (from the chains' ESS) of the truth's."""
    from ..scoring.diagnostics import chain_stats

    stats = chain_stats(samples)
    ess = float(stats.ess_min)
    if not ess >= MIN_ESS:
        fail(where, f"ESS {ess:.0f} < {MIN_ESS}: too few effective draws to check accuracy; pass a larger budget=")
    d = truth.dim
    flat = samples.reshape(-1, d)
    mean_q, sd_q = flat.mean(axis=0), flat.std(axis=0, ddof=1)
    zero = np.zeros(d)
    se_mean = np.sqrt(stats.mcse_mean**2 + (zero if truth.mean_se is None else np.asarray(truth.mean_se)) ** 2)
    se_sd = np.sqrt(stats.mcse_sd**2 + (zero if truth.sd_se is None else np.asarray(truth.sd_se)) ** 2)
    z = z_threshold(2 * d)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_mean = np.abs(mean_q - truth.mean) / se_mean
        z_sd = np.abs(sd_q - truth.sd) / se_sd
    report = {"rule": "ess", "ess": ess, "z": z, "mean_z": float(np.max(z_mean)), "sd_z": float(np.max(z_sd)),
              "mean_tol": float(np.max(z * se_mean / truth.sd)), "sd_tol": float(np.max(z * se_sd / truth.sd))}
    at = f" at ESS {ess:.0f} (allowed: z = {z:.2f} Monte Carlo standard errors)"
    if mean_tol is None:
        i = int(np.nanargmax(np.where(np.isnan(z_mean), np.inf, z_mean)))
        if not z_mean[i] <= z:
            fail(where, f"inaccurate: the mean of coordinate {i} is {z_mean[i]:.3g} MCSEs from the truth's{at}; "
                 "a larger budget= may help")
    else:
        report["mean_tol"] = mean_tol
    j = int(np.nanargmax(np.where(np.isnan(z_sd), np.inf, z_sd)))
    if not z_sd[j] <= z:
        fail(where, f"inaccurate: the sd of coordinate {j} is {z_sd[j]:.3g} MCSEs from the truth's{at}; "
             "a larger budget= may help")
    return report


def _kl_rule(where: str, family: str, approx: Approximation, row: dict[str, Any], truth: Truth,
             refit: Callable[[], Approximation], exact_draws: float) -> dict[str, Any]:
    """A density on a Gaussian truth: excess KL over the family's closed-form optimum."""
    d = truth.dim
    floor = family_floor(family, truth)
    excess = float(row["kl"]) - floor
    k = _n_parameters(approx, family, d)
    report: dict[str, Any] = {"kl_floor": floor, "kl_excess": excess, "exact_draws": exact_draws}
    if row["kl_estimator"] == "closed-form" and isinstance(approx, GaussianApproximation):
        report["seed_kl"] = _seed_kl(approx, refit())
        deterministic = report["seed_kl"] <= EXACT_KL_TOL * d
    else:
        report["seed_kl"], deterministic = None, False
    if deterministic:
        report.update(rule="closed-form", kl_tol=EXACT_KL_TOL * d)
        why = "closed-form accuracy: the fit does not depend on the seed"
    else:
        tol = exact_draws_kl(k, exact_draws)
        if row["kl_estimator"] != "closed-form":
            tol += z_threshold(1) * float(row.get("kl_se") or 0.0)
        report.update(rule="exact-draws", kl_tol=tol)
        why = f"the excess KL of the {k}-parameter Gaussian fitted to {exact_draws:g} exact draws, at level {ALPHA:g}"
    if not excess <= report["kl_tol"]:
        best = "the mean-field optimum" if family in MEANFIELD_FAMILIES else "exact"
        fail(where, f"inaccurate: KL(q||p) = {row['kl']:.4g} nats, {excess:.3g} above the {family} family's best "
             f"({best}: {floor:.4g}); allowed {report['kl_tol']:.3g} ({why}); mean_err = {row['mean_err']:.3g}, "
             f"sd_err = {row['sd_err']:.3g}; a larger budget= may help")
    return report


def check_accuracy(where: str, family: str, approx: Approximation, row: dict[str, Any], truth: Truth,
                   refit: Callable[[], Approximation], *, exact_draws: float | None = None,
                   mean_tol: float | None = None) -> dict[str, Any]:
    """Apply the accuracy rule that fits the approximation and the truth (see the module docstring).

    Parameters
    ----------
    where : str
        Prefix of the failure message.
    family : str
        The method's family.
    approx : Approximation
        The fit at the check's seed.
    row : dict
        ``vibench.evaluate(approx, task, ...)``.
    truth : Truth
    refit : callable
        ``refit()`` fits again at another seed (called only for a Gaussian q on a Gaussian truth).
    exact_draws : float, optional
        Exact draws a seed-dependent fit claims to be worth (default :data:`EXACT_DRAWS`).
    mean_tol : float, optional
        Replaces the bound on ``mean_err`` of the draws and sanity rules; an extra bound under the KL rule.

    Returns
    -------
    dict
        ``rule`` (``"ess"``, ``"closed-form"``, ``"exact-draws"`` or ``"sanity"``) and its tolerances.

    Raises
    ------
    ConformanceError
        If the fit is less accurate than its rule allows.
    """
    exact_draws = EXACT_DRAWS if exact_draws is None else exact_draws
    if not exact_draws > 0:
        raise ValueError(f"exact_draws must be > 0, got {exact_draws!r}")
    if isinstance(approx, DrawsApproximation) or family in SAMPLING_FAMILIES:
        samples = approx.samples if isinstance(approx, DrawsApproximation) else \
            np.asarray(approx.draws(1000, np.random.default_rng(0)))[None]
        return _draws_rule(where, samples, truth, mean_tol)
    if truth.gaussian_form is not None and row.get("kl") is not None:
        report = _kl_rule(where, family, approx, row, truth, refit, exact_draws)
    else:
        report = {"rule": "sanity", "mean_tol": OPTIMIZATION_MEAN_TOL, "sd_tol": OPTIMIZATION_SD_TOL}
        if not row["sd_err"] <= OPTIMIZATION_SD_TOL:
            fail(where, f"inaccurate: sd_err = {row['sd_err']:.3g} > {OPTIMIZATION_SD_TOL:.3g}; a larger budget= may help")
    if mean_tol is not None:
        report["mean_tol"] = mean_tol
    tol = report.get("mean_tol")
    if tol is not None and not row["mean_err"] <= tol:
        fail(where, f"inaccurate: mean_err = {row['mean_err']:.3g} > {tol:.3g}; a larger budget= may help")
    return report
