"""``Approximation``: what every method returns, so one driver scores them all.

Every approximation also converts to an ArviZ ``InferenceData``
(:meth:`Approximation.to_inference_data`): a ``posterior`` group with one
variable ``x`` of dims ``(chain, draw, coordinate)``, the coordinate labelled
by the task's coordinate names where known (``beta[0]``, ``tau_log__``), else
``x[0]``, ``x[1]``, ... A sampler's draws are kept as they are, chain by chain;
a Gaussian (or any other approximation with a sampler of its own) gives
:data:`IID_DRAWS` independent draws of q as one chain.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .truth import LOG_2PI, BandedPrecision, gaussian_logpdf

__all__ = ["Approximation", "GaussianApproximation", "DrawsApproximation", "IID_DRAWS", "coordinate_labels"]

#: Draws :meth:`Approximation.to_inference_data` takes from an approximation that is not a set of draws.
IID_DRAWS = 1000


def coordinate_labels(names: list[str] | None, dim: int) -> list[str]:
    """``names`` when there is one per coordinate (and no repeats), else ``x[0]``, ..., ``x[dim-1]``."""
    if names is not None and len(names) == dim and len(set(map(str, names))) == dim:
        return [str(n) for n in names]
    return [f"x[{i}]" for i in range(dim)]


def _inference_data(samples: np.ndarray, names: list[str] | None, attrs: dict[str, Any]):
    """``samples (chain, draw, dim)`` as an ``InferenceData`` whose posterior is ``x`` over ``coordinate``."""
    import arviz as az

    labels = coordinate_labels(names, samples.shape[-1])
    idata = az.from_dict(posterior={"x": samples}, dims={"x": ["coordinate"]}, coords={"coordinate": labels})
    idata.posterior.attrs.update(attrs)
    return idata


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

    def to_inference_data(self, names: list[str] | None = None, n_draws: int = IID_DRAWS,
                          rng: np.random.Generator | None = None):
        """The approximation as ArviZ ``InferenceData``: ``n_draws`` independent draws as one chain.

        Parameters
        ----------
        names : list of str, optional
            One name per coordinate (the task's, e.g. a reference's
            ``provenance["coordinates"]``); default ``x[0]``, ``x[1]``, ...
        n_draws : int
            Draws taken with :meth:`draws` (:class:`DrawsApproximation`
            ignores it and keeps all its draws).
        rng : numpy.random.Generator, optional
            For the draws; default ``np.random.default_rng(0)``.

        Returns
        -------
        arviz.InferenceData
            ``posterior.x`` with dims ``(chain, draw, coordinate)``; the
            posterior's attrs say how the draws were made (``vibench_draws``).
        """
        if int(n_draws) < 1:
            raise ValueError(f"n_draws must be >= 1, got {n_draws!r}")
        rng = np.random.default_rng(0) if rng is None else rng
        samples = np.asarray(self.draws(int(n_draws), rng), dtype=float).reshape(1, int(n_draws), self.dim)
        return _inference_data(samples, names, {"vibench_draws": f"{int(n_draws)} iid draws of the approximation "
                                                f"({type(self).__name__}), one chain"})


class GaussianApproximation(Approximation):
    """A Gaussian q = N(mean, cov): VI families and Laplace, held in its cheapest form.

    Give exactly one of

    * ``sd``: a diagonal (mean-field) Gaussian, held by its sds alone: draws,
      ``logpdf``, entropy and moments cost O(d) memory and time;
    * ``chol``: a lower Cholesky factor of the covariance (kept, never refactorized);
    * ``cov``: a dense covariance (factorized once);
    * ``precision``: a :class:`~vibench.truth.BandedPrecision` (banded precision,
      O(d b) memory), or a dense precision matrix (factorized once; its
      Cholesky factor serves draws and ``logpdf`` by triangular solves).

    ``cov`` and ``chol`` are built lazily when asked for; the scoring never
    asks for them on a diagonal or banded q.

    Parameters
    ----------
    mean : array_like, shape (dim,)
    cov, chol, sd, precision : array_like or BandedPrecision, optional
    info : dict, optional
    """

    def __init__(self, mean, cov=None, *, chol=None, sd=None, precision=None, info: dict[str, Any] | None = None):
        self.mean = np.asarray(mean, dtype=float)
        given = [v is not None for v in (cov, chol, sd, precision)]
        if sum(given) != 1:
            raise ValueError("give exactly one of cov, chol, sd, precision")
        self._sd = self._chol = self._cov = self._prec_chol = self._cov_root = self.precision = None
        if sd is not None:
            self.form = "diag"
            self._sd = np.asarray(sd, dtype=float).reshape(-1)
        elif chol is not None:
            self.form = "chol"
            self._chol = np.asarray(chol, dtype=float)
        elif cov is not None:
            self.form = "chol"
            self._cov = np.asarray(cov, dtype=float)
            self._chol = np.linalg.cholesky(self._cov)
        elif isinstance(precision, BandedPrecision):
            self.form = "banded"
            self.precision = precision
        else:
            self.form = "prec"
            self._prec_chol = np.linalg.cholesky(np.asarray(precision, dtype=float))
        self.info = dict(info or {})

    @property
    def has_density(self) -> bool:
        return True

    @property
    def is_diagonal(self) -> bool:
        """Whether q is a diagonal (mean-field) Gaussian held by its sds."""
        return self.form == "diag"

    @property
    def sd(self) -> np.ndarray:
        """Marginal standard deviations, without forming ``cov``."""
        if self.form == "diag":
            return self._sd
        if self.form == "chol":
            return np.sqrt(np.einsum("ij,ij->i", self._chol, self._chol))
        if self.form == "banded":
            return np.sqrt(self.precision.variances())
        root = self.scale
        return np.sqrt(np.einsum("ij,ij->i", root, root))

    @property
    def scale(self) -> np.ndarray:
        """A triangular square root ``S`` of ``cov`` (``S S^T = cov``) for the dense forms.

        The lower Cholesky factor for ``chol``/``cov``; ``Lp^-T`` (upper) for a
        dense precision ``Lp Lp^T``, computed once by one triangular inversion.
        """
        if self.form == "chol":
            return self._chol
        if self.form == "prec":
            if self._cov_root is None:
                from scipy.linalg.lapack import dtrtri

                inv, info = dtrtri(self._prec_chol, lower=1)
                if info != 0:
                    raise np.linalg.LinAlgError("singular precision factor")
                self._cov_root = np.ascontiguousarray(inv.T)
            return self._cov_root
        raise AttributeError(f"a {self.form} Gaussian has no dense scale; use chol")

    @property
    def chol(self) -> np.ndarray:
        """Lower Cholesky factor of ``cov`` (dense; built on first use for the diagonal and banded forms)."""
        if self._chol is None:
            if self.form == "diag":
                self._chol = np.diag(self._sd)
            elif self.form == "banded":
                self._chol = self.precision.color(np.eye(self.dim))
            else:
                self._chol = np.linalg.cholesky(self.cov)
        return self._chol

    @property
    def cov(self) -> np.ndarray:
        """Dense covariance, built on first use (never on the scoring paths of a diagonal or banded q)."""
        if self._cov is None:
            if self.form == "diag":
                self._cov = np.diag(self._sd**2)
            elif self.form == "banded":
                self._cov = self.precision.covariance()
            elif self.form == "prec":
                root = self.scale
                self._cov = root @ root.T
            else:
                self._cov = self._chol @ self._chol.T
        return self._cov

    @cov.setter
    def cov(self, value) -> None:
        self._cov = np.asarray(value, dtype=float)

    def logdet_cov(self) -> float:
        """``log det cov`` (``-inf`` for a degenerate q)."""
        with np.errstate(divide="ignore"):
            if self.form == "diag":
                return float(2.0 * np.sum(np.log(np.abs(self._sd))))
            if self.form == "chol":
                return float(2.0 * np.sum(np.log(np.abs(np.diag(self._chol)))))
            if self.form == "banded":
                return -self.precision.logdet()
            return float(-2.0 * np.sum(np.log(np.abs(np.diag(self._prec_chol)))))

    def entropy(self) -> float:
        """Differential entropy ``0.5 log det(2 pi e cov)``."""
        return 0.5 * self.logdet_cov() + 0.5 * self.dim * (1.0 + LOG_2PI)

    def _colour(self, z: np.ndarray) -> np.ndarray:
        """``mean + S z`` for rows ``z[n, d]`` of standard normals, ``S`` the square root q is held by."""
        if self.form == "diag":
            return self.mean + z * self._sd
        if self.form == "chol":
            from scipy.linalg.blas import dtrmm

            return self.mean + dtrmm(1.0, self._chol.T, z.T, lower=0, trans_a=1).T  # (C z^T)^T, triangular
        if self.form == "banded":
            return self.mean + self.precision.color_rows(z)
        from scipy.linalg import solve_triangular

        return self.mean + solve_triangular(self._prec_chol, z.T, lower=True, trans="T").T

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._colour(rng.standard_normal((n, self.dim)))

    def draws_and_logpdf(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``draws(n, rng)`` and their ``logpdf``, the latter from the standard normals (no solve).

        The same draws as :meth:`draws` with the same ``rng``; ``log q(m + S z) =
        -|z|^2 / 2 - log det S - d/2 log(2 pi)``.
        """
        z = rng.standard_normal((n, self.dim))
        logq = -0.5 * np.einsum("nd,nd->n", z, z) - 0.5 * self.logdet_cov() - 0.5 * self.dim * LOG_2PI
        return self._colour(z), logq

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x)
        if self.form == "diag":
            quad = np.sum(((x - self.mean) / self._sd) ** 2, axis=1)
        elif self.form == "chol":
            return gaussian_logpdf(x, self.mean, self._chol)
        elif self.form == "banded":
            return self.precision.logpdf(x, self.mean)
        else:
            quad = np.sum(((x - self.mean) @ self._prec_chol) ** 2, axis=1)
        return -0.5 * quad - 0.5 * self.logdet_cov() - 0.5 * self.dim * LOG_2PI


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
        self.mean = self.flat.mean(axis=0)
        self._cov: np.ndarray | None = None
        self.info = dict(info or {})

    @property
    def cov(self) -> np.ndarray:
        """Sample covariance of all draws, built on first use (the scoring needs only ``sd``)."""
        if self._cov is None:
            flat = self.flat
            d = flat.shape[1]
            self._cov = np.atleast_2d(np.cov(flat, rowvar=False)) if flat.shape[0] > 1 else np.zeros((d, d))
        return self._cov

    @cov.setter
    def cov(self, value) -> None:
        self._cov = np.asarray(value, dtype=float)

    @property
    def sd(self) -> np.ndarray:
        """Sample sds of all draws (ddof 1, as ``np.cov``), without forming ``cov``."""
        flat = self.flat
        return flat.std(axis=0, ddof=1) if flat.shape[0] > 1 else np.zeros(flat.shape[1])

    @property
    def flat(self) -> np.ndarray:
        """All draws as ``(chains * draws, dim)``."""
        return self.samples.reshape(-1, self.samples.shape[-1])

    def to_inference_data(self, names: list[str] | None = None, n_draws: int = IID_DRAWS,
                          rng: np.random.Generator | None = None):
        """The sampler's draws as ArviZ ``InferenceData``, every chain and draw as it is.

        Parameters
        ----------
        names : list of str, optional
            One name per coordinate; default ``x[0]``, ``x[1]``, ...
        n_draws, rng
            Ignored (a sampler's draws are kept, not drawn again).

        Returns
        -------
        arviz.InferenceData
            ``posterior.x`` with dims ``(chain, draw, coordinate)``.
        """
        chains, draws, _ = self.samples.shape
        return _inference_data(self.samples, names, {"vibench_draws": f"the sampler's draws ({chains} chains x "
                                                     f"{draws} draws)"})

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws: evenly thinned when ``n`` <= available, else resampled."""
        flat = self.flat
        if n <= flat.shape[0]:
            idx = np.linspace(0, flat.shape[0] - 1, n).round().astype(int)
            return flat[idx]
        return flat[rng.integers(0, flat.shape[0], n)]
