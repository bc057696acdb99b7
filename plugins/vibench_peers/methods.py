"""The peer methods: cheap to import; nutpie and pymc-extras are imported inside ``prepare``/``fit``.

Without the optional packages (``pip install "vibench[peers]"``) every method
is still registered, so ``vibench list methods`` shows it with the install
hint, and ``supports()`` returns that hint: its cells are ``unsupported`` rows.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import numpy as np

from vibench.method import Budget, Method

if TYPE_CHECKING:  # pragma: no cover
    from vibench.approximation import Approximation
    from vibench.task import Task

__all__ = ["INSTALL_HINT", "NutpieNUTS", "Pathfinder", "PyMCDADVI", "missing"]

INSTALL_HINT = 'pip install "vibench[peers]"'


def missing(package: str) -> str | None:
    """``None`` when ``package`` is importable, else why not and how to get it (without importing it)."""
    if importlib.util.find_spec(package) is None:
        return f"needs {package}, not installed: {INSTALL_HINT}"
    return None


class _Peer(Method):
    package = ""
    meaning = ""

    def __init__(self):
        why = missing(self.package)
        self.steps_meaning = self.meaning + (f" [not installed: {INSTALL_HINT}]" if why else "")

    def supports(self, task: "Task") -> bool | str:
        """``True``, or the install hint when the package is missing."""
        return missing(self.package) or True


class NutpieNUTS(_Peer):
    """nutpie's NUTS (Rust): 4 chains on one core, ``tune = draws = steps``, nutpie's default adaptation.

    On the task's PyMC model when it has one (``nutpie.compile_pymc_model``,
    numba), otherwise on the task's numpy density through
    ``nutpie.compiled_pyfunc.from_pyfunc`` -- so a sampler pays the same
    per-gradient cost as the numpy VI methods. Chains start at
    ``task.initial_point(rng)``. See :mod:`vibench_peers._nutpie`.
    """

    name = "nutpie-nuts"
    family = "mcmc"
    package = "nutpie"
    meaning = "draws per chain after as many tuning steps, 4 chains (nutpie)"
    chains = 4

    def prepare(self, task: "Task") -> None:
        """Compile the task for nutpie and run it once briefly (cached per task)."""
        if missing(self.package) is None:
            from ._nutpie import prepare_nutpie

            prepare_nutpie(task)

    def fit(self, task: "Task", budget: Budget, rng: np.random.Generator) -> "Approximation":
        """Sample and return a :class:`~vibench.DrawsApproximation` (chains, draws, dim)."""
        from ._nutpie import fit_nutpie

        return fit_nutpie(task, budget, rng, chains=self.chains)


class Pathfinder(_Peer):
    """Pathfinder from pymc-extras (``pmx.fit(method="pathfinder")``): 4 paths, PSIS, 1,000 draws.

    On the task's PyMC model when it has one, otherwise through the black-box
    Op. Returns its draws as one chain; ``converged`` from L-BFGS's status on
    every path. See :mod:`vibench_peers._pathfinder` for the settings and why.
    """

    name = "pathfinder"
    family = "pathfinder"
    package = "pymc_extras"
    meaning = "most L-BFGS iterations per path (maxiter; 4 paths)"

    def prepare(self, task: "Task") -> None:
        """Build the model and run pathfinder once briefly (cached per task)."""
        if missing(self.package) is None:
            from ._pathfinder import prepare_pathfinder

            prepare_pathfinder(task)

    def fit(self, task: "Task", budget: Budget, rng: np.random.Generator) -> "Approximation":
        """Run pathfinder and return its draws as a one-chain :class:`~vibench.DrawsApproximation`."""
        from ._pathfinder import fit_pathfinder

        return fit_pathfinder(task, budget, rng)


class PyMCDADVI(_Peer):
    """DADVI from pymc-extras (``pmx.fit(method="dadvi")``): mean-field Gaussian on 30 fixed draws.

    trust-ncg on a PyMC model, L-BFGS-B through the black-box Op. Returns the
    optimum as a diagonal :class:`~vibench.GaussianApproximation` on the
    unconstrained space. See :mod:`vibench_peers._dadvi`.
    """

    name = "pymc-dadvi"
    family = "meanfield"
    package = "pymc_extras"
    meaning = "most optimizer iterations (maxiter; 30 fixed draws)"

    def prepare(self, task: "Task") -> None:
        """Build the model and fit once briefly (cached per task)."""
        if missing(self.package) is None:
            from ._dadvi import prepare_dadvi

            prepare_dadvi(task)

    def fit(self, task: "Task", budget: Budget, rng: np.random.Generator) -> "Approximation":
        """Fit and return a diagonal :class:`~vibench.GaussianApproximation`."""
        from ._dadvi import fit_dadvi

        return fit_dadvi(task, budget, rng)
