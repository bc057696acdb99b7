"""``Truth``: what is known exactly (or by a checked reference) about a posterior.

Gaussian truths are held either by a dense covariance (with its Cholesky
factor computed once and cached) or, where the precision is sparse, by a
:class:`BandedPrecision` whose one banded factorization serves draws, the
normalized density, whitening, solves, log-determinants and marginal
variances in O(d b^2) time and O(d b) memory, with no d x d matrix anywhere.
``truth.cov`` of a banded truth is built lazily, only if someone asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .banded import BandedPrecision

__all__ = ["Truth", "BandedPrecision", "gaussian_truth", "gaussian_logpdf", "normalized_truth",
           "banded_gaussian_truth", "cov_chol_from_precision"]

KINDS = ("gaussian", "exact", "reference")
LOG_2PI = float(np.log(2 * np.pi))
#: Largest dimension at which a banded truth builds a dense ``cov`` when asked (above it, ``cov`` is None).
DENSE_COV_MAX_DIM = 5000


@dataclass
class Truth:
    """Known facts about a posterior on the task's unconstrained space.

    Attributes
    ----------
    kind : {"gaussian", "exact", "reference"}
        ``gaussian``: the posterior is exactly Gaussian with ``mean`` and ``cov``.
        ``exact``: moments, normalized ``logpdf`` and exact ``sample`` are known.
        ``reference``: moments come from long, checked reference draws.
    mean, sd : ndarray, shape (dim,)
        Posterior mean and marginal standard deviations.
    cov : ndarray, shape (dim, dim), optional
        Posterior covariance, where known. For a truth held by its banded
        ``precision`` it is computed on first access up to
        :data:`DENSE_COV_MAX_DIM` and is ``None`` beyond (the scoring never
        asks for it; use ``precision``).
    logpdf : callable, optional
        Normalized log density, batched: ``logpdf(x[n, dim]) -> [n]``.
    log_evidence : float, optional
        ``log Z``: the log normalizing constant of the task's *unnormalized*
        ``LogDensity`` so that ``logpdf = logp - log_evidence``.
    sample : callable, optional
        Exact iid draws: ``sample(n, rng) -> [n, dim]``.
    draws : ndarray, optional
        Reference draws ``[n, dim]`` (kind ``reference``).
    mean_se, sd_se : ndarray, optional
        Monte Carlo standard errors of ``mean`` and ``sd`` (reference truths).
    provenance : dict
        How a computed truth was made (command, versions, seed, ESS).
    precision : BandedPrecision, optional
        The precision of a Gaussian truth, where it is banded (sparse).
    """

    kind: str
    mean: np.ndarray
    sd: np.ndarray
    cov: np.ndarray | None = field(default=None, repr=False, compare=False)
    logpdf: Callable[[np.ndarray], np.ndarray] | None = None
    log_evidence: float | None = None
    sample: Callable[[int, np.random.Generator], np.ndarray] | None = None
    draws: np.ndarray | None = None
    mean_se: np.ndarray | None = None
    sd_se: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    precision: BandedPrecision | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Truth.kind must be one of {KINDS}, got {self.kind!r}")
        self.mean = np.asarray(self.mean, dtype=float)
        self.sd = np.asarray(self.sd, dtype=float)

    @property
    def dim(self) -> int:
        """Dimension of the posterior."""
        return self.mean.shape[0]

    @property
    def has_dense_cov(self) -> bool:
        """Whether a dense ``cov`` is stored (never builds one)."""
        return self.__dict__.get("_cov") is not None

    @property
    def gaussian_form(self) -> str | None:
        """``"banded"`` (held by its precision), ``"dense"`` (by its covariance) or ``None`` (not Gaussian)."""
        if self.kind != "gaussian":
            return None
        if self.precision is not None:
            return "banded"
        return "dense" if self.has_dense_cov else None

    @property
    def cov_chol(self) -> np.ndarray:
        """Lower Cholesky factor of a dense ``cov``, computed once and cached."""
        chol = self.__dict__.get("_cov_chol")
        if chol is None:
            chol = np.linalg.cholesky(self.cov)
            self.__dict__["_cov_chol"] = chol
        return chol

    def whiten_directions(self, u: np.ndarray) -> np.ndarray:
        """Directions ``a[d, k]`` with ``(x - mean) @ a`` the projections of the whitened ``x`` on ``u[d, k]``.

        Whitening is by the lower Cholesky factor ``C`` of the covariance
        (``a = C^-T u``): banded through :meth:`BandedPrecision.whiten_directions`,
        dense through the cached factor, and ``u / sd`` without a covariance.
        """
        from scipy.linalg import solve_triangular

        if self.precision is not None:
            return self.precision.whiten_directions(u)
        if self.has_dense_cov:
            return solve_triangular(self.cov_chol.T, u, lower=False)
        return u / self.sd[:, None]


def _get_cov(self: Truth) -> np.ndarray | None:
    cov = self.__dict__.get("_cov")
    if cov is None and self.__dict__.get("precision") is not None and self.dim <= DENSE_COV_MAX_DIM:
        cov = self.precision.covariance()
        self.__dict__["_cov"] = cov
    return cov


def _set_cov(self: Truth, value) -> None:
    self.__dict__["_cov"] = None if value is None else np.asarray(value, dtype=float)
    self.__dict__.pop("_cov_chol", None)


Truth.cov = property(_get_cov, _set_cov,
                     doc="Dense posterior covariance, or None; lazy for a banded truth (None above DENSE_COV_MAX_DIM).")


def gaussian_logpdf(x: np.ndarray, mean: np.ndarray, chol: np.ndarray, lower: bool = True) -> np.ndarray:
    """Normalized multivariate normal log density from a triangular square root of the covariance.

    Parameters
    ----------
    x : ndarray, shape (n, dim)
    mean : ndarray, shape (dim,)
    chol : ndarray, shape (dim, dim)
        Triangular ``C`` with ``C C^T = cov`` (the lower Cholesky factor by default).
    lower : bool
        Whether ``chol`` is lower triangular.

    Returns
    -------
    ndarray, shape (n,)
    """
    from scipy.linalg import solve_triangular

    x = np.atleast_2d(x)
    z = solve_triangular(chol, (x - mean).T, lower=lower)
    d = mean.shape[0]
    half_logdet = np.sum(np.log(np.abs(np.diag(chol))))
    return -0.5 * np.sum(z**2, axis=0) - half_logdet - 0.5 * d * LOG_2PI


def cov_chol_from_precision(precision: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of ``precision^-1`` from one Cholesky factorization (of the reversed matrix).

    With ``J P J = Lr Lr^T`` (``J`` reverses the coordinates), ``P^-1 = C C^T``
    for the lower triangular ``C = J Lr^-T J``: one factorization and one
    triangular inversion, where ``inv`` then ``cholesky`` would cost two of each.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``precision`` is not positive definite.
    """
    from scipy.linalg.lapack import dtrtri

    lr = np.linalg.cholesky(np.asarray(precision, dtype=float)[::-1, ::-1])
    inv, info = dtrtri(lr, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("precision is singular")
    return np.ascontiguousarray(inv.T[::-1, ::-1])


def gaussian_truth(mean, cov, log_evidence: float | None = None, *, chol: np.ndarray | None = None) -> Truth:
    """A :class:`Truth` of kind ``gaussian`` with density and exact sampler, from a dense covariance.

    Parameters
    ----------
    mean : array_like, shape (dim,)
    cov : array_like, shape (dim, dim)
    log_evidence : float, optional
        log Z of the task's unnormalized density.
    chol : ndarray, optional
        The lower Cholesky factor of ``cov``, when the caller has it already.

    Returns
    -------
    Truth
        Its Cholesky factor is computed once and cached (``truth.cov_chol``).
    """
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    chol = np.linalg.cholesky(cov) if chol is None else np.asarray(chol, dtype=float)

    def logpdf(x):
        return gaussian_logpdf(x, mean, chol)

    def sample(n, rng):
        return mean + rng.standard_normal((n, mean.shape[0])) @ chol.T

    truth = Truth(kind="gaussian", mean=mean, sd=np.sqrt(np.diag(cov)), cov=cov, logpdf=logpdf,
                  log_evidence=log_evidence, sample=sample)
    truth.__dict__["_cov_chol"] = chol
    return truth


def banded_gaussian_truth(mean, precision: BandedPrecision, log_evidence: float | None = None,
                          sd: np.ndarray | None = None) -> Truth:
    """A :class:`Truth` of kind ``gaussian`` held by its banded precision: no d x d matrix.

    Parameters
    ----------
    mean : array_like, shape (dim,)
    precision : BandedPrecision
    log_evidence : float, optional
        log Z of the task's unnormalized density.
    sd : ndarray, optional
        Marginal sds when known in closed form; else from the Takahashi recursion.

    Returns
    -------
    Truth
    """
    mean = np.asarray(mean, dtype=float)
    if sd is None:
        sd = np.sqrt(precision.variances())
    return Truth(kind="gaussian", mean=mean, sd=np.asarray(sd, dtype=float),
                 logpdf=lambda x: precision.logpdf(x, mean), log_evidence=log_evidence,
                 sample=lambda n, rng: precision.sample(n, rng, mean), precision=precision)


def normalized_truth(mean, cov, logp, sample) -> Truth:
    """An ``exact`` :class:`Truth` for a task whose log density is already normalized (log Z = 0).

    Parameters
    ----------
    mean : array_like, shape (dim,)
    cov : array_like, shape (dim, dim)
    logp : callable
        The task's batched log density ``x[n, dim] -> [n]``; it is the ``logpdf``.
    sample : callable
        Exact draws ``sample(n, rng) -> [n, dim]``.

    Returns
    -------
    Truth
    """
    cov = np.asarray(cov, dtype=float)
    return Truth(
        kind="exact",
        mean=mean,
        sd=np.sqrt(np.diag(cov)),
        cov=cov,
        logpdf=lambda x: logp(np.atleast_2d(np.asarray(x, dtype=float))),
        log_evidence=0.0,
        sample=sample,
    )
