"""The three PyMC method objects: cheap to import, PyMC is imported inside ``fit``.

Counting gradient evaluations
-----------------------------
On the black-box Op path the task's ``LogDensity`` counts every gradient
evaluation PyMC makes. On the ``task.pymc_model()`` path PyMC never calls the
task's ``LogDensity``, so ``info["n_grad"]`` carries the count instead
(ADVI: iterations x ``obj_n_mc``; NUTS: leapfrog steps plus one evaluation
of each trajectory's start, over tuning and draws -- the same numbers the
counters show on the Op path); the runner prefers ``info["n_grad"]`` over the
counters when present.

Compile time
------------
``info["compile_s"]`` is the compile time spent during *this* fit (model,
``logp_dlogp`` and, for ADVI, its step function); it is 0.0 and
``info["compiled"]`` is ``False`` when everything was reused from an earlier
fit on the same task object. ``info["fit_s"]`` is the time after compiling.
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

    ``Budget.steps`` is the number of iterations; ``Budget.max_seconds``
    stops early through a ``pm.fit`` callback. Starts at
    ``task.initial_point(rng)`` with unit standard deviations.
    """

    name = "pymc-advi"
    family = "meanfield"
    steps_meaning = "pm.fit iterations"
    kind = "advi"

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
    """PyMC's NUTS through ``pm.sample``: 2 chains on one core, ``tune = draws = steps``.

    Chains start at ``task.initial_point(rng)`` with PyMC's default diagonal
    mass-matrix adaptation. ``Budget.max_seconds`` is best effort: each chain
    gets an equal share and is interrupted when it runs out (the draws so far
    are kept; a run with no draws after tuning is an error).
    """

    name = "pymc-nuts"
    family = "mcmc"
    steps_meaning = "draws per chain (tune = draws, 2 chains)"
    chains = 2

    def fit(self, task: "Task", budget: Budget, rng: np.random.Generator) -> "Approximation":
        """Sample ``task`` and return a :class:`~vibench.DrawsApproximation` with ESS, R-hat, divergences."""
        from ._nuts import fit_nuts

        return fit_nuts(task, budget, rng, chains=self.chains)
