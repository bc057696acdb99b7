"""``Truth``: what is known exactly (or by a checked reference) about a posterior."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["Truth", "gaussian_truth", "gaussian_logpdf", "normalized_truth"]

KINDS = ("gaussian", "exact", "reference")


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
        Posterior covariance, where known.
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
    """

    kind: str
    mean: np.ndarray
    sd: np.ndarray
    cov: np.ndarray | None = None
    logpdf: Callable[[np.ndarray], np.ndarray] | None = None
    log_evidence: float | None = None
    sample: Callable[[int, np.random.Generator], np.ndarray] | None = None
    draws: np.ndarray | None = None
    mean_se: np.ndarray | None = None
    sd_se: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Truth.kind must be one of {KINDS}, got {self.kind!r}")
        self.mean = np.asarray(self.mean, dtype=float)
        self.sd = np.asarray(self.sd, dtype=float)
        if self.cov is not None:
            self.cov = np.asarray(self.cov, dtype=float)

    @property
    def dim(self) -> int:
        """Dimension of the posterior."""
        return self.mean.shape[0]


def gaussian_logpdf(x: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """Normalized multivariate normal log density from a Cholesky factor.

    Parameters
    ----------
    x : ndarray, shape (n, dim)
    mean : ndarray, shape (dim,)
    chol : ndarray, shape (dim, dim)
        Lower Cholesky factor of the covariance.

    Returns
    -------
    ndarray, shape (n,)
    """
    from scipy.linalg import solve_triangular

    x = np.atleast_2d(x)
    z = solve_triangular(chol, (x - mean).T, lower=True)
    d = mean.shape[0]
    half_logdet = np.sum(np.log(np.diag(chol)))
    return -0.5 * np.sum(z**2, axis=0) - half_logdet - 0.5 * d * np.log(2 * np.pi)


def gaussian_truth(mean, cov, log_evidence: float | None = None) -> Truth:
    """A :class:`Truth` of kind ``gaussian`` with density and exact sampler.

    Parameters
    ----------
    mean : array_like, shape (dim,)
    cov : array_like, shape (dim, dim)
    log_evidence : float, optional
        log Z of the task's unnormalized density.

    Returns
    -------
    Truth
    """
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    chol = np.linalg.cholesky(cov)

    def logpdf(x):
        return gaussian_logpdf(x, mean, chol)

    def sample(n, rng):
        return mean + rng.standard_normal((n, mean.shape[0])) @ chol.T

    return Truth(
        kind="gaussian",
        mean=mean,
        sd=np.sqrt(np.diag(cov)),
        cov=cov,
        logpdf=logpdf,
        log_evidence=log_evidence,
        sample=sample,
    )


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
