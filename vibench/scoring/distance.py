"""``dist``: the sliced 1-Wasserstein distance to the truth's draws, in posterior-sd units.

One two-sample distance, computed the same way for every method, whatever it
returns (DESIGN.md, "Accuracy: one yardstick").

* **Space.** Draws are projected on unit directions of the space whitened by
  the truth's covariance, where every projection of the truth has sd 1: the
  ``d`` (at most :data:`N_MARGINALS`) standardized marginals ``(x_i - m_i) /
  sd_i``, which are what a user reads in ``az.summary``, and
  :data:`N_RANDOM` random directions on the sphere, which see correlations.
  Directions are fixed per dimension, so every method sees the same ones.
* **Distance.** ``dist`` is the mean over directions of the 1-D W1 between
  the projected method draws and the projected truth draws: "how far, in
  posterior sds, a typical projection of q is from the truth". A mean shift
  of ``delta`` sd along a direction gives ``delta``; an sd off by a factor
  ``r`` gives ``|r - 1| sqrt(2 / pi)``.
* **Floor.** Two finite samples of the same distribution are not at distance
  0. For samples of ``n`` and ``m`` iid draws, ``sqrt(N) W1`` with ``N = n m /
  (n + m)`` converges to ``int |B(F(x))| dx`` (B a Brownian bridge), whose
  mean is ``sqrt(2 / pi) int sqrt(F (1 - F)) dx``. ``dist_floor`` is that
  mean, averaged over directions, with F the truth's projected CDF (from its
  draws): what exact iid draws of the same effective size score. Measured
  against simulation it is within 2 % at n >= 100 (tests/test_scoring.py).
* **Autocorrelation.** MCMC draws are thinned evenly, chain by chain, to
  about their effective size (the smallest bulk or tail ESS, never more than
  the number of distinct draws), so a correct but autocorrelated chain scores
  like that many exact draws, and duplicated draws never lower a score.
* **Large Gaussian problems.** From :data:`ANALYTIC_MIN_DIM` dimensions on,
  a Gaussian truth's projections are drawn directly from their exact joint
  law ``N(0, A^T S A)`` (``A`` the ``d x k`` matrix of directions, ``k <=
  200``; ``A^T S A`` from the truth's banded or cached dense factor in O(d b
  k)), and so are a Gaussian q's (``N(A^T (m_q - m), A^T S_q A)``): the same
  distribution as projecting 4,000 and 2,000 explicit draws, for O(d k^2)
  instead of O(n d k) work and no ``n x d`` array. The draw counts, and so
  the floor and the resolution, stay the same at every d. Below that size
  (and for draws-only methods at any size) draws are projected explicitly,
  exactly as before.
* **Standard error.** Batch means: the scored draws and the truth draws are
  split into :data:`N_BATCHES` interleaved batches; the sd of the batch
  distances over ``sqrt(N_BATCHES)`` (the distance's variance scales as
  1/n, at the null and away from it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ..approximation import Approximation, DrawsApproximation, GaussianApproximation
from ..truth import Truth
from .diagnostics import ChainStats, chain_stats

__all__ = ["N_RANDOM", "N_MARGINALS", "N_TRUTH", "N_BATCHES", "ANALYTIC_MIN_DIM", "TruthFrame", "truth_frame",
           "scored_draws", "w1_sorted", "sliced_w1", "distance", "FLOOR_CONSTANT"]

#: Random directions on the whitened sphere.
N_RANDOM = 100
#: Largest number of standardized marginals used as directions (evenly spaced coordinates beyond).
N_MARGINALS = 100
#: Truth draws the distance is computed against (exact truths draw this many; references are thinned to it).
N_TRUTH = 4000
#: Batches of the batch-means standard error.
N_BATCHES = 10
#: iid draws taken from an approximation that is not a set of chains.
N_DRAWS = 2000
#: Fewest draws ever scored (a chain with ESS 3 still gives a number, with a floor that says it means little).
MIN_SCORED = 20
#: From this dimension on, Gaussian truths and Gaussian q are projected through their exact projected law.
ANALYTIC_MIN_DIM = 1000
#: ``sqrt(2/pi) * int sqrt(Phi (1 - Phi)) dx``: the floor constant of a Gaussian projection (1.2884).
FLOOR_CONSTANT = 1.2883791903028585
_TRUTH_SEED = 20_261_201
_DIRECTION_SEED = 7


@dataclass
class TruthFrame:
    """What the distance needs of a truth, computed once and cached on it.

    Attributes
    ----------
    mean, sd : ndarray, shape (dim,)
    marginals : ndarray of int
        Coordinates used as directions.
    random : ndarray, shape (dim, N_RANDOM)
        Random unit directions of the whitened space, mapped back:
        ``(x - mean) @ random`` is the projection of the whitened ``x``.
    sorted_truth : ndarray, shape (n_directions, m)
        Each direction's projected truth draws, sorted.
    batches : list of ndarray
        The same for each of the :data:`N_BATCHES` interleaved batches.
    floor_constant : float
        ``sqrt(2/pi) int sqrt(F (1 - F))`` averaged over directions.
    analytic : bool
        Whether the truth's projections were drawn from their exact law
        (Gaussian truths from :data:`ANALYTIC_MIN_DIM` dimensions on).
    """

    mean: np.ndarray
    sd: np.ndarray
    marginals: np.ndarray
    random: np.ndarray
    sorted_truth: np.ndarray
    batches: list
    floor_constant: float
    analytic: bool = False

    @property
    def k(self) -> int:
        """Number of directions."""
        return self.marginals.size + self.random.shape[1]

    def directions(self) -> np.ndarray:
        """The ``d x k`` matrix ``A`` of directions: ``project(x) = A^T (x - mean)`` (dense; O(d k))."""
        d = self.mean.shape[0]
        marg = np.zeros((d, self.marginals.size))
        marg[self.marginals, np.arange(self.marginals.size)] = 1.0 / self.sd[self.marginals]
        return np.concatenate([marg, self.random], axis=1)

    def projected_cov(self, approx: GaussianApproximation) -> np.ndarray:
        """``A^T S_q A`` for a Gaussian q, from the form q is held in (no d x d matrix for diagonal or banded q)."""
        mi, sdm, ar = self.marginals, self.sd[self.marginals], self.random
        if approx.form == "diag":
            var = approx.sd**2
            scaled = ar * approx.sd[:, None]
            out = np.empty((self.k, self.k))
            nm = mi.size
            out[:nm, :nm] = np.diag(var[mi] / sdm**2)
            out[:nm, nm:] = ar[mi] * (var[mi] / sdm)[:, None]
            out[nm:, :nm] = out[:nm, nm:].T
            out[nm:, nm:] = scaled.T @ scaled
            return out
        if approx.form == "banded":  # banded solves, a chunk of columns at a time; no d x k array
            nm, prec = mi.size, approx.precision
            out = np.empty((self.k, self.k))
            out[:nm, :nm] = prec.inverse_submatrix(mi) / np.outer(sdm, sdm)
            out[nm:, nm:], picked = prec.inverse_quadratic(ar, mi)
            out[:nm, nm:] = picked / sdm[:, None]
            out[nm:, :nm] = out[:nm, nm:].T
            return out
        a = self.directions()
        w = approx.scale.T @ a
        return w.T @ w

    def project_gaussian(self, approx: GaussianApproximation, n: int, rng: np.random.Generator) -> np.ndarray:
        """Projections ``(k, n)`` of ``n`` iid draws of a Gaussian q, drawn from their exact joint law."""
        centre = _project_vector(self, approx.mean - self.mean)
        return centre[:, None] + _sqrt_psd(self.projected_cov(approx)) @ rng.standard_normal((self.k, n))

    @property
    def m(self) -> int:
        """Number of truth draws."""
        return self.sorted_truth.shape[1]

    def project(self, x: np.ndarray) -> np.ndarray:
        """Projections of draws ``x[n, dim]`` on every direction: ``(n_directions, n)``."""
        centred = np.asarray(x, dtype=float) - self.mean
        marg = centred[:, self.marginals] / self.sd[self.marginals]
        return np.concatenate([marg, centred @ self.random], axis=1).T

    def floor(self, n: float) -> float:
        """Expected ``dist`` of ``n`` exact iid draws against these truth draws."""
        return float(self.floor_constant / np.sqrt(n * self.m / (n + self.m)))


def _project_vector(frame: TruthFrame, delta: np.ndarray) -> np.ndarray:
    """``A^T delta`` for one vector ``delta[d]``."""
    return np.concatenate([delta[frame.marginals] / frame.sd[frame.marginals], delta @ frame.random])


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """A square root ``B`` with ``B B^T = cov`` (Cholesky; eigenvalues floored at 0 when it fails)."""
    cov = 0.5 * (cov + cov.T)
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(cov)
        return v * np.sqrt(np.maximum(w, 0.0))


def _truth_projected_cov(truth: Truth, frame: TruthFrame, u: np.ndarray) -> np.ndarray:
    """``A^T S A`` of a Gaussian truth: ``u^T u`` on the random block, ``C u`` and ``S e_i`` elsewhere."""
    mi, sdm = frame.marginals, frame.sd[frame.marginals]
    nm = mi.size
    if truth.precision is not None:
        block = truth.precision.inverse_submatrix(mi)  # S[mi, mi]
        cu = truth.precision.color(u)  # C u, C the lower Cholesky factor of S
    else:
        block = truth.cov[np.ix_(mi, mi)]
        cu = truth.cov_chol @ u
    out = np.empty((frame.k, frame.k))
    out[:nm, :nm] = block / np.outer(sdm, sdm)
    out[:nm, nm:] = cu[mi] / sdm[:, None]
    out[nm:, :nm] = out[:nm, nm:].T
    out[nm:, nm:] = u.T @ u
    return out


def _truth_draws(truth: Truth) -> np.ndarray:
    if truth.sample is not None:
        return np.asarray(truth.sample(N_TRUTH, np.random.default_rng(_TRUTH_SEED)), dtype=float)
    if truth.draws is None:
        raise ValueError("the truth has neither exact samples nor reference draws to score against")
    ref = np.asarray(truth.draws, dtype=float)
    if ref.shape[0] > N_TRUTH:
        ref = ref[np.linspace(0, ref.shape[0] - 1, N_TRUTH).round().astype(int)]
    return ref


def _floor_constants(sorted_rows: np.ndarray) -> np.ndarray:
    """``sqrt(2/pi) int sqrt(F (1 - F)) dx`` for each row's empirical CDF."""
    m = sorted_rows.shape[1]
    p = np.arange(1, m) / m
    return np.sqrt(2.0 / np.pi) * (np.diff(sorted_rows, axis=1) @ np.sqrt(p * (1.0 - p)))


def truth_frame(truth: Truth) -> TruthFrame:
    """The truth's draws, directions and floor constant, cached on the truth object.

    Parameters
    ----------
    truth : Truth
        Needs ``sample`` (exact draws) or ``draws`` (reference draws), and
        ``mean`` and ``sd`` (``cov`` for whitening; ``diag(sd**2)`` without it).

    Returns
    -------
    TruthFrame
    """
    cached = truth.__dict__.get("_vibench_frame")
    if cached is not None:
        return cached
    d = truth.dim
    marginals = np.unique(np.linspace(0, d - 1, min(d, N_MARGINALS)).round().astype(int))
    u = np.random.default_rng([_DIRECTION_SEED, d]).standard_normal((d, N_RANDOM))
    u /= np.sqrt(np.einsum("ij,ij->j", u, u))  # unit columns (np.linalg.norm, without its d x k temporary)
    # u . L^-1 (x - m) = (L^-T u) . (x - m), L from the cached factor; contiguous, as the banded whitening
    # returns a reversed view and BLAS takes no negative strides (every product with it copied it: 0.3 s a
    # scoring at d = 100,000)
    random = np.ascontiguousarray(truth.whiten_directions(u))
    analytic = truth.gaussian_form is not None and d >= ANALYTIC_MIN_DIM
    frame = TruthFrame(truth.mean, truth.sd, marginals, random, np.empty((0, 0)), [], 0.0, analytic)
    if analytic:
        root = _sqrt_psd(_truth_projected_cov(truth, frame, u))
        proj = root @ np.random.default_rng(_TRUTH_SEED).standard_normal((frame.k, N_TRUTH))
    else:
        proj = frame.project(_truth_draws(truth))
    frame.sorted_truth = np.sort(proj, axis=1)
    frame.batches = [np.sort(proj[:, b::N_BATCHES], axis=1) for b in range(N_BATCHES)]
    frame.floor_constant = float(np.mean(_floor_constants(frame.sorted_truth)))
    truth.__dict__["_vibench_frame"] = frame
    return frame


def w1_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise 1-D W1 between sorted samples ``a (k, n)`` and ``b (k, m)``: ``int |F_a - F_b| dx``.

    When one size divides the other (2,000 scored draws against 4,000 truth
    draws, and their batches), W1 is the integral of the distance of the
    quantile functions, ``int_0^1 |F_a^-1(t) - F_b^-1(t)| dt``, a sum over the
    finer grid with no merge sort; otherwise the CDFs are merged. Both are the
    exact W1 of the two empirical distributions.
    """
    n, m = a.shape[1], b.shape[1]
    if n % m == 0 or m % n == 0:
        fine = max(n, m)
        qa = np.repeat(a, fine // n, axis=1) if fine != n else a
        qb = np.repeat(b, fine // m, axis=1) if fine != m else b
        return np.sum(np.abs(qa - qb), axis=1) / fine
    both = np.concatenate([a, b], axis=1)
    order = np.argsort(both, axis=1, kind="stable")
    values = np.take_along_axis(both, order, axis=1)
    cdf_gap = np.cumsum(np.where(order < n, 1.0 / n, -1.0 / m), axis=1)[:, :-1]
    return np.sum(np.abs(cdf_gap) * np.diff(values, axis=1), axis=1)


def sliced_w1(x: np.ndarray, frame: TruthFrame) -> tuple[float, float]:
    """``dist`` of draws ``x[n, dim]`` (taken as independent) and its batch-means SE."""
    return sliced_w1_projected(frame.project(x), frame)


def sliced_w1_projected(raw: np.ndarray, frame: TruthFrame) -> tuple[float, float]:
    """``dist`` and its batch-means SE from projections ``raw[k, n]`` of independent draws."""
    full = float(np.mean(w1_sorted(np.sort(raw, axis=1), frame.sorted_truth)))
    batch = [np.mean(w1_sorted(np.sort(raw[:, b::N_BATCHES], axis=1), frame.batches[b])) for b in range(N_BATCHES)]
    return full, float(np.std(batch, ddof=1) / np.sqrt(N_BATCHES))


def distinct_rows(x: np.ndarray) -> int:
    """How many distinct rows ``x`` (n, d) has, comparing each row's bytes.

    ``np.unique(x, axis=0)`` gives the same count for finite draws (only ``0.0``
    and ``-0.0`` differ in bytes and not in value) but sorts the rows as records
    of d floats: 1.4 s for emcee's 24,024 draws at d = 1,000, against 0.2 s for
    one sort of d-float byte strings.
    """
    rows = np.ascontiguousarray(x, dtype=float).reshape(x.shape[0], -1)
    return int(np.unique(rows.view(np.dtype((np.void, rows.itemsize * rows.shape[1])))).size)


def scored_draws(approx: Approximation, rng: np.random.Generator,
                 stats: ChainStats | None = None, draws: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The draws the distance scores, and their effective number.

    A :class:`DrawsApproximation` is thinned evenly, chain by chain, to about
    ``min(ESS, distinct draws)`` draws (ESS: the smallest bulk or tail ESS);
    any other approximation gives :data:`N_DRAWS` iid draws, or ``draws`` if
    given (iid draws of it taken already).
    """
    if not isinstance(approx, DrawsApproximation):
        x = np.asarray(approx.draws(N_DRAWS, rng) if draws is None else draws, dtype=float)
        if not np.all(np.isfinite(x)):
            raise ValueError("non-finite draws from the approximation")
        return x, float(x.shape[0])
    samples = approx.samples
    chains, draws, _ = samples.shape
    distinct = distinct_rows(approx.flat)
    stats = stats if stats is not None else chain_stats(samples)
    target = max(MIN_SCORED, min(stats.ess_min, distinct))
    per_chain = max(1, min(draws, int(round(target / chains))))
    idx = np.linspace(0, draws - 1, per_chain).round().astype(int)
    x = samples[:, idx].reshape(-1, samples.shape[-1])
    n_eff = min(float(x.shape[0]), float(distinct))
    return x, n_eff


def distance(approx: Approximation, truth: Truth, rng: np.random.Generator,
             stats: ChainStats | None = None, draws: np.ndarray | None = None) -> dict[str, float | str | None]:
    """The row's ``dist``, ``dist_se``, ``dist_floor``, ``dist_n`` and ``dist_estimator``.

    Parameters
    ----------
    approx : Approximation
    truth : Truth
    rng : numpy.random.Generator
        For draws of approximations that are not chains.
    stats : ChainStats, optional
        The chains' diagnostics, if already computed.
    draws : ndarray, shape (n, d), optional
        Iid draws of an approximation that is neither Gaussian nor chains,
        taken already (:func:`vibench.scoring.score.shared_draws`).

    Returns
    -------
    dict
        All ``None`` (estimator included) when the truth has no draws.
    """
    if truth.sample is None and truth.draws is None:
        return {"dist": None, "dist_se": None, "dist_floor": None, "dist_n": None, "dist_estimator": None}
    frame = truth_frame(truth)
    if frame.analytic and isinstance(approx, GaussianApproximation):
        dist, se = sliced_w1_projected(frame.project_gaussian(approx, N_DRAWS, rng), frame)
        n_eff = float(N_DRAWS)
    else:
        x, n_eff = scored_draws(approx, rng, stats, draws)
        dist, se = sliced_w1(x, frame)
    return {"dist": dist, "dist_se": se, "dist_floor": frame.floor(n_eff), "dist_n": n_eff,
            "dist_estimator": "sliced-w1"}
