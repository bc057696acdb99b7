"""emcee's affine-invariant ensemble sampler on the task's log density."""

from __future__ import annotations

import numpy as np

from vibench import Budget, DrawsApproximation, Method, Task

__all__ = ["Emcee"]


class Emcee(Method):
    """emcee ``EnsembleSampler`` with a vectorized log density.

    ``Budget.steps`` is the number of ensemble steps; the first half is
    discarded as burn-in. Walkers: ``max(32, 2 * dim + 2)``, started from
    independent ``task.initial_point`` draws (overdispersed, like Stan's
    inits). Each walker is kept as a chain so ArviZ diagnostics see them, but
    walkers of one ensemble are not independent: treat ESS with care.
    emcee uses no gradients; its cost is ``n_logp``.
    """

    name = "emcee"
    family = "mcmc"
    steps_meaning = "ensemble steps (half burn-in)"

    def __init__(self, min_walkers: int = 32):
        self.min_walkers = min_walkers

    def fit(self, task: Task, budget: Budget, rng: np.random.Generator) -> DrawsApproximation:
        import emcee

        if budget.steps < 2:
            raise ValueError("emcee needs at least 2 steps (half are burn-in)")
        dim = task.dim
        nwalkers = max(self.min_walkers, 2 * dim + 2)
        p0 = np.stack([task.initial_point(rng) for _ in range(nwalkers)])
        sampler = emcee.EnsembleSampler(nwalkers, dim, task.log_density.logp, vectorize=True)
        sampler.random_state = np.random.RandomState(rng.integers(2**32)).get_state()
        sampler.run_mcmc(p0, int(budget.steps), progress=False)
        burn = int(budget.steps) // 2
        chain = sampler.get_chain(discard=burn)  # (steps, walkers, dim)
        tau = sampler.get_autocorr_time(discard=burn, tol=0, quiet=True)
        info = {
            "walkers": nwalkers,
            "steps": int(budget.steps),
            "burn_in": burn,
            "acceptance": float(np.mean(sampler.acceptance_fraction)),
            "autocorr_max": float(np.nanmax(tau)),
            "autocorr_ok": bool(chain.shape[0] > 50 * np.nanmax(tau)),
        }
        return DrawsApproximation(np.swapaxes(chain, 0, 1), info=info)
