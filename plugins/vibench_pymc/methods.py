"""The three PyMC method objects: cheap to import, PyMC is imported inside ``prepare``/``fit``.

Counting gradient evaluations
-----------------------------
On the black-box Op path the task's ``LogDensity`` counts every gradient
evaluation PyMC makes. On the ``task.pymc_model()`` path PyMC never calls the
task's ``LogDensity``, so ``info["n_grad"]`` carries the count instead
(ADVI: iterations x ``obj_n_mc``; NUTS: leapfrog steps plus one evaluation
of each trajectory's start, over tuning and draws -- the same numbers the
counters show on the Op path); the runner prefers ``info["n_grad"]`` over the
counters when present.

Set-up time
-----------
``prepare(task)`` (called by the runner before the fit clock starts, its time
recorded as the row's ``setup_s``) imports PyMC, builds the task's model,
compiles every function ``fit`` uses and calls each once, so that NUMBA's JIT
and first-use imports are set-up too; it is cached per task object. A ``fit``
on a task nobody prepared prepares it first and reports that time as
``info["setup_s"]`` (then ``info["compiled"]`` is ``True``), which the runner
subtracts from ``fit_s``; pymc-nuts also adds there what ``pm.sample``
compiles on every call before its first draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vibench.method import Budget, Method

if TYPE_CHECKING:  # pragma: no cover
    from vibench.approximation import Approximation
    from vibench.task import Task

__all__ = ["PyMCADVI", "PyMCFullRankADVI", "PyMCNUTS"]


class PyMCADVI(Method):
    """PyMC's mean-field ADVI (``pm.ADVI``, pm.fit's defaults: adagrad_window, one MC draw).

    Stops, as ``pm.fit``'s users stop it, when
    ``pm.callbacks.CheckParametersConvergence`` finds the parameters settled
    (``info["converged"]`` is then ``True``); ``Budget.steps`` is the most
    iterations it may run, and ``Budget.max_seconds`` stops early through a
    callback. Starts at ``task.initial_point(rng)`` with unit standard
    deviations. See :mod:`vibench_pymc._advi` for the check's settings.
    """

    name = "pymc-advi"
    family = "meanfield"
    steps_meaning = "most pm.fit iterations (stops earlier when CheckParametersConvergence does)"
    kind = "advi"

    def prepare(self, task: "Task") -> None:
        """Import PyMC, build the model, compile the Inference step and moments and call each once."""
        from ._advi import prepare_advi

        prepare_advi(task, kind=self.kind)

    def fit(self, task: "Task", budget: Budget, rng: np.random.Generator) -> "Approximation":
        """Fit on ``task`` and return a :class:`~vibench.GaussianApproximation`."""
        from ._advi import fit_advi

        return fit_advi(task, budget, rng, kind=self.kind)


class PyMCFullRankADVI(PyMCADVI):
    """PyMC's full-rank ADVI (``pm.FullRankADVI``); the same budget meaning as ``pymc-advi``."""

    name = "pymc-fullrank-advi"
    family = "fullrank"
    kind = "fullrank_advi"


class PyMCNUTS(Method):
    """PyMC's NUTS through ``pm.sample``: 4 chains on one core, ``tune = draws = steps``.

    Budget 1000 is ``pm.sample``'s defaults (4 chains on a machine with 4 or
    more cores, ``tune=1000``, ``draws=1000``); the chains run one after the
    other on one core. The cost (``n_grad``, ``fit_s``) includes tuning.
    Chains start at ``task.initial_point(rng)`` with PyMC's default diagonal
    mass-matrix adaptation. ``Budget.max_seconds`` is best effort: each chain
    gets an equal share and is interrupted when it runs out (the draws so far
    are kept; a run with no draws after tuning is an error).
    """

    name = "pymc-nuts"
    family = "mcmc"
    steps_meaning = "draws per chain after as many tuning steps, 4 chains (1000: pm.sample's defaults)"
    chains = 4

    def prepare(self, task: "Task") -> None:
        """Import PyMC, build the model, compile ``logp_dlogp`` and warm ``pm.sample`` with a throwaway run."""
        from ._nuts import prepare_nuts

        prepare_nuts(task)

    def fit(self, task: "Task", budget: Budget, rng: np.random.Generator) -> "Approximation":
        """Sample ``task`` and return a :class:`~vibench.DrawsApproximation` with ESS, R-hat, divergences."""
        from ._nuts import fit_nuts

        return fit_nuts(task, budget, rng, chains=self.chains)
