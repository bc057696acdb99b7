"""Shared test oracles: closed-form answers and reference methods that the scoring must get right.

One copy of each, imported by the test modules that need them.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from vibench import Budget, DrawsApproximation, Method, Task

__all__ = ["dense_kl", "meanfield_kl", "ExactDraws", "DisagreeingChains", "expected_w1", "ar1_chains"]


def dense_kl(m0, s0, m1, s1) -> float:
    """KL(N0||N1) by explicit inverses and determinants (independent of vibench's gaussian_kl)."""
    inv1 = np.linalg.inv(s1)
    dm = m1 - m0
    return float(0.5 * (np.trace(inv1 @ s0) + dm @ inv1 @ dm - len(m0)
                        + np.linalg.slogdet(s1)[1] - np.linalg.slogdet(s0)[1]))


def meanfield_kl(precision) -> float:
    """KL(q*||p) of the best mean-field Gaussian q* for N(m, precision^-1): ``0.5 (sum_i log P_ii - log det P)``
    (DESIGN.md's oracle: q* has the true mean and variances ``1 / P_ii``), by a dense log-determinant."""
    precision = np.asarray(precision, dtype=float)
    return float(0.5 * (np.sum(np.log(np.diag(precision))) - np.linalg.slogdet(precision)[1]))


def expected_w1(shift: float, scale: float, n: int, m: int) -> float:
    """Expected two-sample 1-D W1 estimate between n draws of N(shift, scale^2) and m of N(0, 1).

    The empirical CDF difference at x is approximately Gaussian with mean
    ``D(x) = F_q(x) - F_p(x)`` and variance ``F_q (1 - F_q) / n + F_p (1 - F_p) / m``,
    so ``E |F_n - G_m| = s sqrt(2/pi) exp(-D^2 / 2 s^2) + D (1 - 2 Phi(-D / s))``,
    integrated over x by quadrature. At ``shift = 0, scale = 1`` this is the
    floor; for n, m -> infinity it is the population W1. An independent
    computation: no sorting, no vibench code.
    """
    x = np.linspace(-12 * max(scale, 1) + min(shift, 0), 12 * max(scale, 1) + max(shift, 0), 40001)
    fq, fp = norm.cdf(x, shift, scale), norm.cdf(x)
    d = fq - fp
    s = np.sqrt(fq * (1 - fq) / n + fp * (1 - fp) / m)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.where(s > 0, s * np.sqrt(2 / np.pi) * np.exp(-0.5 * (d / s) ** 2) + d * (1 - 2 * norm.cdf(-d / s)),
                     np.abs(d))
    return float(np.trapezoid(e, x))


def ar1_chains(rng: np.random.Generator, chains: int, n: int, dim: int, phi: float) -> np.ndarray:
    """Stationary AR(1) chains with N(0, 1) marginals and lag-1 correlation ``phi``: ``(chains, n, dim)``."""
    x = np.empty((chains, n, dim))
    x[:, 0] = rng.standard_normal((chains, dim))
    noise = rng.standard_normal((chains, n, dim)) * np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def _truth(task: Task):
    """The task's truth: ``fit`` sees the truth hidden, so the oracle builds the task again, in the open."""
    import vibench

    return vibench.get_task(task.name, **task.params).truth


class ExactDraws(Method):
    """The exact-draw oracle: iid truth draws in 4 chains of ``steps`` draws; free, and always right."""

    name = "oracle"
    family = "mcmc"
    steps_meaning = "iid truth draws per chain, 4 chains"

    def supports(self, task: Task):
        return True if _truth(task).sample is not None else "needs exact truth draws"

    def fit(self, task: Task, budget: Budget, rng: np.random.Generator) -> DrawsApproximation:
        x = _truth(task).sample(4 * budget.steps, rng)
        return DrawsApproximation(x.reshape(4, budget.steps, -1), info={"divergences": 0})


class DisagreeingChains(ExactDraws):
    """A broken sampler: two chains of exact draws, one of them shifted by ``shift`` posterior sds."""

    name = "disagree"

    def __init__(self, shift: float = 1.0):
        self.shift = shift

    def fit(self, task: Task, budget: Budget, rng: np.random.Generator) -> DrawsApproximation:
        truth = _truth(task)
        x = truth.sample(2 * budget.steps, rng).reshape(2, budget.steps, -1)
        x[1] += self.shift * truth.sd
        return DrawsApproximation(x, info={"divergences": 0})


def fit_after_earlier_use(fit, task):
    """Spend some evaluations of ``task``'s density first, then time ``fit(task)``.

    Returns ``(approx, before, wall)``: the fit, the counts before it, and its wall time, so that a
    test can check that ``info`` counts only this fit's evaluations and no more time than it took.
    """
    import time

    task.log_density.logp_and_grad(np.zeros((3, task.dim)))
    task.log_density.logp(np.zeros((2, task.dim)))
    before = task.log_density.counts()
    start = time.perf_counter()
    approx = fit(task)
    return approx, before, time.perf_counter() - start
