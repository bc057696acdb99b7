"""Fixed-draw ELBO objectives and the bookkeeping the VI methods share.

With ``M`` standard-normal draws ``eps_j`` fixed once, the reparameterized
ELBO of ``q = N(m, C C^T)``

    F(m, C) = 1/M sum_j log p(m + C eps_j) + sum_i log |C_ii| + d/2 (1 + log 2 pi)

is a deterministic, smooth function of the variational parameters (Giordano,
Ingram and Broderick 2024, "Black box variational inference with a
deterministic objective", DADVI). All ``M`` points are evaluated in one
batched ``logp_and_grad`` call, so the task's gradient counter grows by ``M``
per objective evaluation. The entropy is exact; only the expected log density
is estimated.
"""

from __future__ import annotations

import time

import numpy as np

from vibench.density import LogDensity

__all__ = ["ENTROPY_CONST", "MeanFieldObjective", "Stopper", "fresh_elbo", "gaussian_entropy"]

ENTROPY_CONST = 0.5 * (1.0 + np.log(2.0 * np.pi))
#: Draws x dimension evaluated at once by :func:`fresh_elbo` (bounds its memory at large d).
CHUNK_ELEMENTS = 4_000_000


def gaussian_entropy(log_diag: np.ndarray) -> float:
    """Entropy of a Gaussian whose Cholesky factor has ``log |C_ii| = log_diag``."""
    return float(np.sum(log_diag) + log_diag.shape[0] * ENTROPY_CONST)


class MeanFieldObjective:
    """Negative fixed-draw ELBO of ``q = N(m, diag(exp(2 u)))`` and its gradient.

    The parameter vector is ``theta = (m, u)`` with ``u = log sd``. With
    ``x_j = m + exp(u) * eps_j`` and ``g_j = grad log p(x_j)``::

        dF/dm = mean_j g_j,        dF/du = exp(u) * mean_j (g_j * eps_j) + 1.

    The last two evaluations are cached, so asking again for the same
    ``theta`` (as an optimizer does at its starting point) costs no gradients.

    Parameters
    ----------
    log_density : LogDensity
        The target; evaluated once per call, batched over the draws.
    eps : ndarray, shape (M, dim)
        The fixed standard-normal draws.
    """

    def __init__(self, log_density: LogDensity, eps: np.ndarray):
        self.log_density = log_density
        self.eps = eps
        self.dim = eps.shape[1]
        self._cache: list[tuple[np.ndarray, float, np.ndarray, np.ndarray]] = []

    def evaluate(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Negative ELBO, its gradient, and the per-coordinate curvature estimate.

        The curvature ``h_i = -mean_j(g_ij eps_ij) / sd_i`` estimates
        ``E_q[-d^2 log p / dx_i^2]`` by Stein's lemma (Price's theorem), at no
        extra cost: its inverse is the fixed-point update of ``sd_i^2``.
        """
        for cached in self._cache:
            if np.array_equal(cached[0], theta):
                return cached[1:]
        d = self.dim
        m, u = theta[:d], theta[d:]
        with np.errstate(over="ignore", invalid="ignore"):  # a line search may try sd = exp(800): inf, not a warning
            sd = np.exp(u)
            logp, grad = self.log_density.logp_and_grad(m + sd * self.eps)
            value = np.mean(logp) + gaussian_entropy(u)
            g_eps = np.mean(grad * self.eps, axis=0)
        if not np.isfinite(value) or not np.all(np.isfinite(g_eps)):
            out = (np.inf, np.zeros_like(theta), np.full(d, np.nan))
        else:
            jac = np.empty_like(theta)
            jac[:d] = -np.mean(grad, axis=0)
            jac[d:] = -(sd * g_eps + 1.0)
            out = (-float(value), jac, -g_eps / sd)
        self._cache = [(theta.copy(), *out)] + self._cache[:1]
        return out

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, jac, _ = self.evaluate(theta)
        return value, jac


class Stopper:
    """Stopping rule shared by the optimizers: iterations, wall time and stalls.

    :meth:`update` is called once per optimizer iteration with the current
    objective value (a negative ELBO, in nats) and says whether the objective
    has improved by less than ``tol`` nats over the last ``window``
    iterations; :attr:`exhausted` says whether the budget of iterations
    (summed over stages) or seconds is spent.

    Parameters
    ----------
    max_iter : int
        Iterations allowed in total, over all stages (``Budget.steps``).
    max_seconds : float or None
        Wall-time limit (``Budget.max_seconds``).
    window : int
        Iterations over which the improvement is measured.
    """

    def __init__(self, max_iter: int, max_seconds: float | None, window: int = 2):
        self.max_iter = int(max_iter)
        self.deadline = None if max_seconds is None else time.perf_counter() + max_seconds
        self.window = window
        self.iterations = 0
        self.out_of_time = False
        self.trace: list[float] = []
        self._stage_start = 0

    @property
    def remaining(self) -> int:
        """Iterations still allowed."""
        return self.max_iter - self.iterations

    @property
    def exhausted(self) -> bool:
        """Whether the iteration or time budget is spent."""
        return self.out_of_time or self.iterations >= self.max_iter

    def new_stage(self) -> None:
        """Start measuring stalls afresh (a new objective has a new level)."""
        self._stage_start = len(self.trace)

    @property
    def stage_iterations(self) -> int:
        """Iterations since the last :meth:`new_stage`."""
        return len(self.trace) - self._stage_start

    def update(self, value: float, tol: float) -> bool:
        """Record one iteration's objective; ``True`` when it has stalled (budget aside)."""
        self.iterations += 1
        self.trace.append(float(value))
        if self.deadline is not None and time.perf_counter() > self.deadline:
            self.out_of_time = True
        recent = self.trace[self._stage_start :]
        return len(recent) > self.window and recent[-1 - self.window] - recent[-1] < tol


def fresh_elbo(
    log_density: LogDensity,
    mean: np.ndarray,
    chol: np.ndarray,
    rng: np.random.Generator,
    n: int,
) -> tuple[float, float]:
    """ELBO of ``N(mean, chol chol^T)`` on ``n`` fresh iid draws, and its standard error.

    Uses value-only evaluations (counted in ``n_logp``), never gradients.
    ``chol`` may be a vector of standard deviations (mean-field).

    Returns
    -------
    elbo, se : float
    """
    d = mean.shape[0]
    log_diag = np.log(chol) if chol.ndim == 1 else np.log(np.abs(np.diag(chol)))
    step = max(1, CHUNK_ELEMENTS // d)
    parts = []
    for start in range(0, n, step):  # chunks draw the same numbers as one call, in bounded memory
        z = rng.standard_normal((min(step, n - start), d))
        x = mean + z * chol if chol.ndim == 1 else mean + z @ chol.T
        with np.errstate(over="ignore", invalid="ignore"):
            parts.append(np.asarray(log_density.logp(x), dtype=float))
    logp = np.concatenate(parts)
    if not np.all(np.isfinite(logp)):
        return float("-inf"), float("nan")
    elbo = float(np.mean(logp)) + gaussian_entropy(log_diag)
    return elbo, float(np.std(logp, ddof=1) / np.sqrt(n))
