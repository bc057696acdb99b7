"""Random-walk Metropolis with an adaptive proposal scale, run on several chains at once."""

from __future__ import annotations

import time

import numpy as np

from vibench import Budget, DrawsApproximation, Method, Task

__all__ = ["RandomWalkMetropolis"]


class RandomWalkMetropolis(Method):
    """Gaussian random-walk Metropolis, all chains advanced by one batched ``logp`` call.

    Warm-up (``Budget.steps`` iterations per chain) adapts the proposal: its
    scale by Robbins-Monro towards ``target_acceptance`` (Andrieu and Thoms
    2008, gain ``t^-0.6``; 0.234 is optimal for high-dimensional Gaussian
    targets, Roberts, Gelman and Gilks 1997), and a diagonal metric from the
    variances of the draws in three windows, regularized as Stan does. Then
    the proposal is frozen and ``Budget.steps`` draws per chain are kept, so
    the kept chains are a valid Markov chain. No gradients are used: the cost
    is ``n_logp``. ``Budget.max_seconds`` is respected softly: warm-up ends
    after half of it, sampling after all of it (keeping at least one draw).

    Parameters
    ----------
    chains : int
        Number of independent chains, each started at ``task.initial_point(rng)``.
    target_acceptance : float
        Acceptance rate the warm-up adapts the scale towards.
    """

    name = "rwm"
    family = "mcmc"
    steps_meaning = "draws per chain (after as many adaptive warm-up iterations)"

    def __init__(self, chains: int = 4, target_acceptance: float = 0.234):
        self.chains = chains
        self.target_acceptance = target_acceptance

    def fit(self, task: Task, budget: Budget, rng: np.random.Generator) -> DrawsApproximation:
        """Sample ``task``; return ``(chains, draws, dim)`` draws with acceptance and scale in ``info``."""
        start = time.perf_counter()
        seconds = budget.max_seconds or np.inf
        warmup_deadline, deadline = start + 0.5 * seconds, start + seconds  # warm-up gets half the time
        logp = task.log_density.logp
        dim, steps = task.dim, int(budget.steps)
        x = np.stack([task.initial_point(rng) for _ in range(self.chains)])
        lp = logp(x)
        if not np.all(np.isfinite(lp)):
            raise ValueError("rwm: the log density is not finite at the initial points")
        log_scale, metric = np.log(2.38 / np.sqrt(dim)), np.ones(dim)

        def step(x, lp, scale):
            proposal = x + scale * metric * rng.standard_normal(x.shape)
            lp_new = logp(proposal)
            accept = np.log(rng.random(len(lp))) < lp_new - lp  # NaN proposals are rejected
            return np.where(accept[:, None], proposal, x), np.where(accept, lp_new, lp), accept

        ends = sorted({steps // 4, steps // 2, 3 * steps // 4} - {0})
        window, warmup = [], 0
        for t in range(steps):
            if time.perf_counter() > warmup_deadline:
                break
            x, lp, accept = step(x, lp, np.exp(log_scale))
            log_scale += (accept.mean() - self.target_acceptance) / (t + 1) ** 0.6
            window.append(x)
            warmup = t + 1
            if warmup in ends:  # re-estimate the metric from this window's draws
                w = np.concatenate(window)
                n = len(w)
                metric = np.sqrt(n / (n + 5) * w.var(axis=0) + 1e-3 * 5 / (n + 5))
                window = []

        kept, n_accept = [], 0
        for i in range(steps):
            if i > 0 and time.perf_counter() > deadline:
                break
            x, lp, accept = step(x, lp, np.exp(log_scale))
            kept.append(x)
            n_accept += int(accept.sum())
        info = {
            "chains": self.chains,
            "warmup": warmup,
            "draws": len(kept),
            "acceptance": n_accept / (len(kept) * self.chains),
            "scale": float(np.exp(log_scale)),
            "stopped_early": len(kept) < steps or warmup < steps,
            "seconds": time.perf_counter() - start,
        }
        return DrawsApproximation(np.stack(kept, axis=1), info=info)  # (chains, draws, dim)
