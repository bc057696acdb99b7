"""Built-in tasks, registered through the same hook as any plugin's.

Each module in this package defines ``TASKS = {name: factory}``; add a module
to ``MODULES`` to register its tasks. The ``posteriordb:<posterior>`` tasks
come from :func:`vibench.tasks.posteriordb.registered_tasks` (which depends on
``$VIBENCH_POSTERIORDB``). :func:`from_pymc` turns a user's PyMC
model into a task (see :mod:`vibench.tasks.from_pymc`). Each task is
registered with its cheap size check from :mod:`vibench.tasks._checks`, so a
run checks sizes without building tasks (all but ``logistic_regression``,
whose first build may compute its reference truth: see there).
"""

from __future__ import annotations

import importlib

from ..hookspecs import hookimpl
from ._checks import CHECKS, no_sizes
from .from_pymc import from_pymc

__all__ = ["MODULES", "vibench_register_tasks", "from_pymc"]

MODULES = (
    "gaussian", "linear_regression", "linear_regression_nig", "funnel", "banana", "mixture",
    "eight_schools", "hierarchical", "brownian_motion", "logistic_regression",
    "gmrf",
)


@hookimpl
def vibench_register_tasks(registry):
    """Register every factory listed in the modules' ``TASKS`` tables, with its cheap size check."""
    for modname in MODULES:
        module = importlib.import_module(f"{__name__}.{modname}")
        for name, factory in module.TASKS.items():
            registry.add_task(name, factory, validate=CHECKS.get(name))
    from .posteriordb import registered_tasks

    for name, factory in registered_tasks().items():
        registry.add_task(name, factory, validate=no_sizes)  # built where its cells run: PyMC, its draws
