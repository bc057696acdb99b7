"""``Approximation``: what every method returns, so one driver scores them all."""

from __future__ import annotations

from typing import Any

import numpy as np

from .truth import gaussian_logpdf

__all__ = ["Approximation", "GaussianApproximation", "DrawsApproximation"]


class Approximation:
    """The result of a method: moments, draws and (maybe) a normalized density.

    Attributes
    ----------
    mean : ndarray, shape (dim,)
    cov : ndarray, shape (dim, dim)
    info : dict
        Method diagnostics (iterations, converged, ELBO, ESS, R-hat, ...).
        Values must be JSON-serializable scalars, strings or short lists.
    """

    mean: np.ndarray
    cov: np.ndarray
    info: dict[str, Any]

    @property
    def dim(self) -> int:
        """Dimension of the approximation."""
        return self.mean.shape[0]

    @property
    def sd(self) -> np.ndarray:
        """Marginal standard deviations."""
        return np.sqrt(np.diag(self.cov))

    @property
    def has_density(self) -> bool:
        """Whether :meth:`logpdf` returns a normalized density."""
        return False

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws, shape ``(n, dim)``."""
        raise NotImplementedError

    def logpdf(self, x: np.ndarray) -> np.ndarray | None:
        """Normalized log density at rows of ``x``, or ``None`` without a density."""
        return None


class GaussianApproximation(Approximation):
    """A Gaussian q = N(mean, cov): VI families and Laplace.

    Give exactly one of ``cov``, ``chol`` (lower Cholesky factor) or ``sd``
    (a diagonal, mean-field Gaussian).

    Parameters
    ----------
    mean : array_like, shape (dim,)
    cov, chol, sd : array_like, optional
    info : dict, optional
    """

    def __init__(self, mean, cov=None, *, chol=None, sd=None, info: dict[str, Any] | None = None):
        self.mean = np.asarray(mean, dtype=float)
        given = [v is not None for v in (cov, chol, sd)]
        if sum(given) != 1:
            raise ValueError("give exactly one of cov, chol, sd")
        if sd is not None:
            sd = np.asarray(sd, dtype=float)
            self.chol = np.diag(sd)
        elif chol is not None:
            self.chol = np.asarray(chol, dtype=float)
        else:
            self.chol = np.linalg.cholesky(np.asarray(cov, dtype=float))
        self.cov = self.chol @ self.chol.T
        self.info = dict(info or {})

    @property
    def has_density(self) -> bool:
        return True

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.mean + rng.standard_normal((n, self.dim)) @ self.chol.T

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        return gaussian_logpdf(x, self.mean, self.chol)


class DrawsApproximation(Approximation):
    """Draws from a sampler, kept per chain: ``(chains, draws, dim)`` or ``(draws, dim)``.

    Parameters
    ----------
    samples : array_like
        ``(chains, draws, dim)``; a 2-D array is taken as one chain.
    info : dict, optional
    """

    def __init__(self, samples, info: dict[str, Any] | None = None):
        samples = np.asarray(samples, dtype=float)
        if samples.ndim == 2:
            samples = samples[None]
        if samples.ndim != 3:
            raise ValueError(f"samples must be (chains, draws, dim), got shape {samples.shape}")
        self.samples = samples
        flat = samples.reshape(-1, samples.shape[-1])
        self.mean = flat.mean(axis=0)
        self.cov = np.atleast_2d(np.cov(flat, rowvar=False)) if flat.shape[0] > 1 else np.zeros((flat.shape[1],) * 2)
        self.info = dict(info or {})

    @property
    def flat(self) -> np.ndarray:
        """All draws as ``(chains * draws, dim)``."""
        return self.samples.reshape(-1, self.samples.shape[-1])

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws: evenly thinned when ``n`` <= available, else resampled."""
        flat = self.flat
        if n <= flat.shape[0]:
            idx = np.linspace(0, flat.shape[0] - 1, n).round().astype(int)
            return flat[idx]
        return flat[rng.integers(0, flat.shape[0], n)]
