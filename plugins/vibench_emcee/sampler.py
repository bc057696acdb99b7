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
    emcee uses no gradients; its cost is ``n_logp``. The stored chain is
    thinned so that it holds at most :attr:`max_stored` numbers (at d = 1000
    the full chain of 2,002 walkers x 2,000 steps would take 30 GiB).
    """

    name = "emcee"
    family = "mcmc"
    steps_meaning = "ensemble steps (half burn-in)"

    def __init__(self, min_walkers: int = 32, max_stored: int = 50_000_000):
        self.min_walkers = min_walkers
        self.max_stored = max_stored

    def fit(self, task: Task, budget: Budget, rng: np.random.Generator) -> DrawsApproximation:
        import emcee

        if budget.steps < 2:
            raise ValueError("emcee needs at least 2 steps (half are burn-in)")
        dim = task.dim
        nwalkers = max(self.min_walkers, 2 * dim + 2)
        p0 = np.stack([task.initial_point(rng) for _ in range(nwalkers)])
        sampler = emcee.EnsembleSampler(nwalkers, dim, task.log_density.logp, vectorize=True)
        sampler.random_state = np.random.RandomState(rng.integers(2**32)).get_state()
        steps = int(budget.steps)
        thin = max(1, -(-steps * nwalkers * dim // self.max_stored))
        stored = steps // thin
        if stored < 2:
            raise ValueError(f"emcee at d={dim} with {nwalkers} walkers cannot store 2 thinned steps "
                             f"(thinned by {thin}); the budget is too small for this size")
        sampler.run_mcmc(p0, stored, thin_by=thin, progress=False)
        burn = stored // 2
        chain = sampler.get_chain(discard=burn)  # (stored steps, walkers, dim)
        with np.errstate(invalid="ignore", divide="ignore"):  # a chain too short for an estimate gives NaN
            tau = sampler.get_autocorr_time(discard=burn, tol=0, quiet=True) * thin
        tau_max = float(np.max(tau)) if np.all(np.isfinite(tau)) else float("nan")
        info = {
            "walkers": nwalkers,
            "steps": int(budget.steps),
            "burn_in": burn * thin,
            "thin": thin,
            "acceptance": float(np.mean(sampler.acceptance_fraction)),
            "autocorr_max": tau_max,
            "autocorr_ok": bool(chain.shape[0] * thin > 50 * tau_max),
        }
        return DrawsApproximation(np.swapaxes(chain, 0, 1), info=info)
