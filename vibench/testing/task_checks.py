"""``check_task``: a task against the Task and Truth contracts (docs/plugins.md).

A Gaussian truth may be held by a dense ``cov`` or by a banded ``precision``
(:class:`~vibench.banded.BandedPrecision`); the latter is checked through its
one banded factorization, with no ``dim x dim`` matrix, at any dimension.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..banded import BandedPrecision
from ..density import LogDensity
from ..task import Task
from ..truth import KINDS, Truth
from ._common import as_array, fail, z_threshold

__all__ = ["check_task", "MAX_PAIRS", "MAX_DRAW_ELEMENTS", "FD_MAX_COORDS"]

#: Most covariance entries ``check_task`` z-tests (all of them up to this many; else a sample).
MAX_PAIRS = 5000
#: Most numbers (draws x dim) ``check_task`` draws at once: ``n_draws`` is capped at this over ``dim``.
MAX_DRAW_ELEMENTS = 8_000_000
#: Most coordinates checked by central finite differences (beyond: a random sample, and random directions).
FD_MAX_COORDS = 200
#: Random directions checked by finite differences when not every coordinate is.
FD_DIRECTIONS = 4


def _fd_error(where: str, density: LogDensity, x: np.ndarray, grad: np.ndarray, rng: np.random.Generator) -> None:
    """Central finite differences of ``logp`` against the gradient: along coordinates (a sample of them
    beyond :data:`FD_MAX_COORDS`) and, then, along random unit directions."""
    n, dim = x.shape
    coords = np.arange(dim) if dim <= FD_MAX_COORDS else np.unique(np.concatenate(
        [[0, dim - 1], rng.choice(dim, size=FD_MAX_COORDS - 2, replace=False)]))
    k = len(coords)
    fd = np.empty((n, k))
    for i in range(n):  # one point at a time: k x dim temporaries
        h = 1e-5 * np.maximum(1.0, np.abs(x[i, coords]))
        shift = np.zeros((k, dim))
        shift[np.arange(k), coords] = h
        fd[i] = (density.logp(x[i] + shift) - density.logp(x[i] - shift)) / (2 * h)
    scale = np.maximum(1.0, np.max(np.abs(grad), axis=1, keepdims=True))
    err = np.abs(fd - grad[:, coords]) / scale
    if np.max(err) > 1e-4:
        i, j = np.unravel_index(np.argmax(err), err.shape)
        fail(where, f"gradient {grad[i, coords[j]]:.6g} disagrees with finite differences {fd[i, j]:.6g} "
             f"at point {i}, coordinate {coords[j]}")
    if dim <= FD_MAX_COORDS:
        return
    u = rng.standard_normal((FD_DIRECTIONS, dim))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    for i in range(n):
        step = 1e-5 * max(1.0, float(np.max(np.abs(x[i]))))
        fd_u = (density.logp(x[i] + step * u) - density.logp(x[i] - step * u)) / (2 * step)
        err_u = np.abs(fd_u - u @ grad[i]) / max(1.0, float(np.linalg.norm(grad[i])))
        if np.max(err_u) > 1e-4:
            fail(where, f"gradient disagrees with finite differences along a random direction at point {i}: "
                 f"{u[np.argmax(err_u)] @ grad[i]:.6g} vs {fd_u[np.argmax(err_u)]:.6g}")


def _check_density(where: str, density: LogDensity, x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Batched logp and gradient agree with each other, with single points and with finite differences."""
    n, dim = x.shape
    lp = as_array(where, "log_density.logp(x[n, dim])", density.logp(x), (n,))
    value, grad = density.logp_and_grad(x)
    value, grad = as_array(where, "logp_and_grad(x)[0]", value, (n,)), as_array(where, "logp_and_grad(x)[1]", grad, (n, dim))
    tol = 1e-8 * np.maximum(1.0, np.abs(lp))
    if np.any(np.abs(value - lp) > tol):
        fail(where, "logp_and_grad(x)[0] disagrees with logp(x)")
    single = np.asarray(density.logp(x[0]))
    if single.shape != () or abs(float(single) - lp[0]) > tol[0]:
        fail(where, "logp of one point (shape (dim,)) must be a scalar equal to its batched value")
    if np.any(np.abs(density.logp(x[::-1])[::-1] - lp) > tol):
        fail(where, "logp of a row depends on the other rows of the batch")
    _fd_error(where, density, x, grad, np.random.default_rng(seed))
    return lp, grad


def _pairs(keep: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Covariance entries to test: every (i, j) with i <= j; beyond :data:`MAX_PAIRS`, the diagonal,
    the first off-diagonal and a random sample of the rest, so every coordinate is covered
    (never enumerating all pairs: O(dim + MAX_PAIRS) memory)."""
    m = len(keep)
    if m * (m + 1) // 2 <= MAX_PAIRS:
        i, j = np.triu_indices(m)
        return keep[i], keep[j]
    idx = np.arange(m)
    i = np.concatenate([idx, idx[:-1]])
    j = np.concatenate([idx, idx[1:]])
    extra = MAX_PAIRS - len(i)
    if extra > 0:
        a, b = rng.integers(0, m, size=(2, 2 * extra))
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        far = hi - lo >= 2
        i, j = np.concatenate([i, lo[far][:extra]]), np.concatenate([j, hi[far][:extra]])
    return keep[i], keep[j]


def _z_tests(where: str, what: str, x: np.ndarray, mean: np.ndarray, sd: np.ndarray,
             stated: Callable[[np.ndarray, np.ndarray], np.ndarray] | None, mean_se=None) -> list[int]:
    """z-test draws ``x`` against a mean and covariance entries ``stated(rows, cols)`` (``None``: only the
    variances ``sd**2``); return the coordinates too heavy-tailed for a test of their second moments."""
    n, dim = x.shape
    se = sd / np.sqrt(n) if mean_se is None else np.maximum(mean_se, sd / np.sqrt(n))
    zm = np.abs(x.mean(axis=0) - mean) / se
    if np.max(zm) > z_threshold(dim):
        fail(where, f"draws disagree with {what} at coordinate {np.argmax(zm)}: z = {np.max(zm):.1f}")
    y = x - mean
    kurtosis = np.mean(y**4, axis=0) / np.mean(y**2, axis=0) ** 2
    heavy = [int(i) for i in np.flatnonzero(100 * kurtosis > n)]  # too few draws for a CLT on y_i^2
    keep = np.setdiff1d(np.arange(dim), heavy)
    if keep.size == 0:
        return heavy
    if stated is None:
        rows = cols = keep
        target = sd[keep] ** 2
    else:
        rows, cols = _pairs(keep, np.random.default_rng(0))
        target = stated(rows, cols)
    z = np.empty(len(rows))
    for start in range(0, len(rows), 1000):  # bounded temporaries: n x 1000
        part = slice(start, start + 1000)
        prod = y[:, rows[part]] * y[:, cols[part]]
        z[part] = np.abs(prod.mean(axis=0) - target[part]) / np.maximum(prod.std(axis=0) / np.sqrt(n), 1e-300)
    if np.max(z) > z_threshold(len(rows)):
        k = int(np.argmax(z))
        fail(where, f"draws disagree with the stated covariance at ({rows[k]}, {cols[k]}): z = {z[k]:.1f}")
    return heavy


def _whitened_tests(where: str, white: np.ndarray) -> None:
    """z-tests of draws whitened by a Gaussian truth's precision (``N(0, I)`` under the truth), with the
    null distribution known exactly: each mean, each variance (Wilson-Hilferty for ``chi2_n / n``) and a
    sample of the cross moments, then all coordinates at once (``|z_k|^2`` and ``n |mean|^2``, the
    latter over the draws' own spread, are chi-square with ``dim`` degrees of freedom), where a small
    deviation spread over many coordinates is seen."""
    n, dim = white.shape
    zm = np.sqrt(n) * np.abs(white.mean(axis=0))
    if np.max(zm) > z_threshold(dim):
        fail(where, f"draws disagree with truth.mean at coordinate {np.argmax(zm)}: z = {np.max(zm):.1f}")
    rows, cols = _pairs(np.arange(dim), np.random.default_rng(0))
    z = np.empty(len(rows))
    for start in range(0, len(rows), 1000):  # bounded temporaries: n x 1000
        part = slice(start, start + 1000)
        r, c = rows[part], cols[part]
        m = np.mean(white[:, r] * white[:, c], axis=0)
        diag = r == c
        v = 2.0 / (9.0 * n)
        z[part] = np.where(diag, (np.cbrt(np.where(diag, m, 1.0)) - (1.0 - v)) / np.sqrt(v), np.sqrt(n) * m)
    z = np.abs(z)
    if np.max(z) > z_threshold(len(rows)):
        k = int(np.argmax(z))
        fail(where, f"draws disagree with the stated covariance at ({rows[k]}, {cols[k]}): z = {z[k]:.1f}")
    z_norm = (np.mean(np.einsum("nd,nd->n", white, white)) - dim) / np.sqrt(2.0 * dim / n)
    spread = np.sum((white - white.mean(axis=0)) ** 2) / ((n - 1) * dim)  # 1 under the truth; scale-free below
    z_mean = (n * np.sum(white.mean(axis=0) ** 2) / spread - dim) / np.sqrt(2.0 * dim)
    for name, value in (("covariance", z_norm), ("mean", z_mean)):
        if abs(value) > z_threshold(2):
            fail(where, f"draws disagree with the stated {name} over all coordinates: z = {value:.1f}")


def _check_moments(where: str, truth: Truth, x: np.ndarray, mean_se=None) -> list[int]:
    """Draws against the stated mean and covariance: dense entries of ``cov``; for a banded ``precision``
    (a Gaussian), the marginal means and the draws whitened by its factor (``R^T (x - mean)``,
    ``P = R R^T``) against N(0, I)."""
    if truth.precision is not None and mean_se is None:
        n = x.shape[0]
        zm = np.abs(x.mean(axis=0) - truth.mean) / (truth.sd / np.sqrt(n))
        if np.max(zm) > z_threshold(truth.dim):
            fail(where, f"draws disagree with truth.mean at coordinate {np.argmax(zm)}: z = {np.max(zm):.1f}")
        _whitened_tests(f"{where} (whitened by truth.precision)", truth.precision.rt_matmat((x - truth.mean).T).T)
        return []
    cov = None if truth.precision is not None else truth.cov
    stated = None if cov is None else (lambda r, c: np.asarray(cov)[r, c])
    return _z_tests(where, "truth.mean", x, truth.mean, truth.sd, stated, mean_se)


def _check_truth_fields(where: str, truth: Truth, dim: int) -> None:
    """Shapes and consistency of mean, sd and the covariance (dense ``cov`` or banded ``precision``)."""
    as_array(where, "truth.mean", truth.mean, (dim,))
    sd = as_array(where, "truth.sd", truth.sd, (dim,))
    if np.any(sd <= 0):
        fail(where, "truth.sd must be > 0")
    if truth.precision is not None:
        prec = truth.precision
        if not isinstance(prec, BandedPrecision) or prec.dim != dim:
            fail(where, f"truth.precision must be a vibench.BandedPrecision of dimension {dim}")
        try:
            prec.factor
        except np.linalg.LinAlgError:
            fail(where, "truth.precision must be positive definite")
        if not np.allclose(prec.variances(), sd**2, rtol=1e-6):
            fail(where, "the diagonal of truth.precision^-1 must be truth.sd**2")
    elif truth.cov is not None:
        cov = as_array(where, "truth.cov", truth.cov, (dim, dim))
        if not (np.allclose(cov, cov.T) and np.allclose(np.diag(cov), sd**2, rtol=1e-6)):
            fail(where, "truth.cov must be symmetric with diagonal truth.sd**2")
        if np.min(np.linalg.eigvalsh(cov)) <= 0:
            fail(where, "truth.cov must be positive definite")
    elif truth.kind == "gaussian":
        fail(where, "a truth of kind 'gaussian' must give cov (or a banded precision)")
    if truth.kind == "exact" and (truth.logpdf is None or truth.sample is None):
        fail(where, "a truth of kind 'exact' must give a normalized logpdf and an exact sample(n, rng)")


def _check_gaussian_gradient(where: str, truth: Truth, points: np.ndarray, grad: np.ndarray) -> None:
    y = points - truth.mean
    expected = -truth.precision.matvec_rows(y) if truth.precision is not None else -np.linalg.solve(truth.cov, y.T).T
    if np.max(np.abs(expected - grad)) > 1e-6 * max(1.0, np.max(np.abs(grad))):
        fail(where, "truth of kind 'gaussian' but the gradient is not -cov^-1 (x - mean)")


def check_task(task: Task, *, n_draws: int = 4000, seed: int = 0) -> dict[str, Any]:
    """Check a task against the Task and Truth contracts (docs/plugins.md).

    Checks field types and shapes; ``initial_point(rng)``; batched ``logp``
    and ``logp_and_grad`` against each other, single points and central finite
    differences (every coordinate up to :data:`FD_MAX_COORDS`; beyond, a
    sample of them and random directions); that the truth's kind gives what
    it promises and matches the density (``logp - logpdf = log_evidence``; a
    ``gaussian`` gradient is ``-cov^-1 (x - mean)``); and that exact or
    reference draws agree with the stated moments (Bonferroni z-tests at
    level 1e-3). A Gaussian truth held by a banded ``precision`` is checked
    through it without densifying: its inverse's diagonal against ``sd``, the
    gradient against ``-P (x - mean)``, and the draws whitened by its factor
    against N(0, I). Coordinates with sample kurtosis above ``n_draws / 100``
    are too heavy-tailed for a z-test of their second moments: they are
    reported in ``heavy_tailed``, not tested. Evaluations of the task's
    density are not counted (:meth:`LogDensity.uncounted`).

    Parameters
    ----------
    task : vibench.Task
    n_draws : int
        Exact draws used to test the stated moments (at most
        :data:`MAX_DRAW_ELEMENTS` / ``dim``).
    seed : int
        Seed of every ``numpy.random.default_rng`` used.

    Returns
    -------
    dict
        ``task``, ``dim``, ``kind``, ``n_draws``, ``heavy_tailed`` and the ``checked`` clauses.

    Raises
    ------
    AssertionError
        Naming the clause that failed.
    """
    where = f"task {getattr(task, 'label', task)!r}"
    if not isinstance(task, Task) or not isinstance(task.log_density, LogDensity) or not isinstance(task.truth, Truth):
        fail(where, "must be a vibench.Task with a vibench.LogDensity and a vibench.Truth")
    if not (isinstance(task.name, str) and task.name and all(isinstance(a, dict) for a in (task.params, task.tags, task.data))):
        fail(where, "name must be a non-empty string; params, tags and data dicts")
    density, truth, dim = task.log_density, task.truth, task.dim
    if truth.kind not in KINDS or truth.dim != dim:
        fail(where, f"truth.kind must be one of {KINDS} and truth.dim ({truth.dim}) equal task.dim ({dim})")
    n_draws = max(2, min(int(n_draws), MAX_DRAW_ELEMENTS // max(dim, 1)))
    checked, heavy = ["types"], []
    with density.uncounted():
        _check_truth_fields(where, truth, dim)
        points = np.array([as_array(where, "initial_point(rng)", task.initial_point(np.random.default_rng(seed + i)),
                                    (dim,)) for i in range(4)])
        if not np.array_equal(points[0], task.initial_point(np.random.default_rng(seed))):
            fail(where, "initial_point(rng) must depend only on rng")
        if truth.sample is not None:
            draws = as_array(where, "truth.sample(n, rng)", truth.sample(n_draws, np.random.default_rng(seed)),
                             (n_draws, dim))
            if not np.array_equal(draws[:5], truth.sample(n_draws, np.random.default_rng(seed))[:5]):
                fail(where, "truth.sample(n, rng) must depend only on rng")
            heavy = _check_moments(f"{where}: truth.sample", truth, draws)
            points = np.concatenate([points, draws[:4]])
            del draws
            checked.append("exact draws vs stated moments")
        if truth.draws is not None:
            ref = as_array(where, "truth.draws", truth.draws, (np.shape(truth.draws)[0], dim))
            heavy = _check_moments(f"{where}: truth.draws", truth, ref, mean_se=truth.mean_se)
            checked.append("reference draws vs stated moments")
        lp, grad = _check_density(where, density, points, seed)
        checked.append("batched logp, gradient vs finite differences")
        if truth.kind == "gaussian":
            _check_gaussian_gradient(where, truth, points, grad)
            checked.append("gaussian truth vs density")
        if truth.logpdf is not None:
            diff = lp - as_array(where, "truth.logpdf(x)", truth.logpdf(points), (len(points),))
            tol = 1e-6 * max(1.0, np.max(np.abs(lp)))
            if np.ptp(diff) > tol:
                fail(where, "logp - truth.logpdf is not constant: they are not one density up to log Z")
            if truth.log_evidence is not None and abs(diff[0] - truth.log_evidence) > tol:
                fail(where, f"truth.log_evidence is {truth.log_evidence:.6g} but logp - truth.logpdf is {diff[0]:.6g}")
            checked.append("logpdf vs logp and log_evidence")
    return {"task": task.label, "dim": dim, "kind": truth.kind, "n_draws": n_draws, "heavy_tailed": heavy,
            "checked": checked}
