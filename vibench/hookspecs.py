"""The hooks a vibench plugin implements.

A plugin is a module (or object) with functions decorated by
``vibench.hookimpl`` and is declared under the ``vibench`` entry-point group.
Each hook receives the :class:`~vibench.registry.Registry` and calls its
``add_*`` methods, so duplicate names are rejected in one place.

Registration runs whenever the registry is built, for ``vibench list`` too, so
a plugin registers names and metadata only: it imports heavy libraries (SciPy's
optimizers, ArviZ, PyMC, pandas) inside its task factories and its methods'
``prepare`` and ``fit``, never at the top of the modules its hooks need
(``tests/test_lazy_imports.py`` checks the built-in plugins).
"""

from __future__ import annotations

import pluggy

__all__ = ["hookspec", "hookimpl", "vibench_register_methods", "vibench_register_tasks"]

PROJECT = "vibench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def vibench_register_methods(registry):
    """Register inference methods.

    Parameters
    ----------
    registry : vibench.registry.Registry
        Call ``registry.add_method(method)`` once per :class:`vibench.Method`
        instance. A name already taken is an error naming both plugins.
    """


@hookspec
def vibench_register_tasks(registry):
    """Register task factories.

    Parameters
    ----------
    registry : vibench.registry.Registry
        Call ``registry.add_task(name, factory, validate=None)``;
        ``factory(**params)`` returns a :class:`vibench.Task` and its keyword
        arguments (with defaults) are the task's size parameters. The
        optional ``validate(**params)`` rejects an impossible size cheaply
        (raise :class:`vibench.VibenchError`), so that ``vibench run`` need
        not build the task before the run to check it.
    """
