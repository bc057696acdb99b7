"""The plugin manager and the registry of methods and tasks it fills.

Built lazily on first use, in a fixed order (pluggy's eggsample pattern):
add the hookspecs, register the built-in task module, load the ``vibench``
entry-point group one plugin at a time (a plugin that fails to import is a
warning, not a crash), then the modules named in ``VIBENCH_PLUGINS`` (plugins
not installed as distributions: local ones, test fixtures), then call the
registration hooks. A hook that raises is a warning too; only two plugins
claiming one name stop the build (:class:`DuplicateNameError`), since the user
must choose.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import pluggy

from . import hookspecs
from .errors import VibenchError, closest, did_you_mean
from .method import Method
from .task import Task, TaskFactory, call_factory, resolve_params

__all__ = ["Registry", "PluginInfo", "DuplicateNameError", "get_registry", "reset_registry", "DEFAULT_PLUGINS",
           "method_attr"]

ENTRY_POINT_GROUP = "vibench"
DISABLE_ENV = "VIBENCH_DISABLE_PLUGINS"
#: Extra plugin modules to load, comma-separated (importable module names).
PLUGINS_ENV = "VIBENCH_PLUGINS"
#: Defaults of a method's optional attributes (docs/plugins.md, the Method contract).
METHOD_DEFAULTS = {"steps_meaning": "iterations"}


class DuplicateNameError(VibenchError):
    """Two plugins registered one method or task name: the user must choose (exit 2)."""


def method_attr(method: Any, attr: str) -> Any:
    """``method.attr``, or its documented default when a duck-typed method lacks the optional attribute."""
    value = getattr(method, attr, None)
    return METHOD_DEFAULTS.get(attr) if value is None or value == "" else value
#: Modules of vibench itself registered like any plugin (datasette's habit).
DEFAULT_PLUGINS = ("vibench.tasks",)


@dataclass
class PluginInfo:
    """What one plugin is and what it registered (for ``vibench plugins``)."""

    name: str
    distribution: str = ""
    version: str = ""
    methods: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    error: str = ""


class Registry:
    """Methods and task factories by name, with the plugin each came from."""

    def __init__(self):
        self.methods: dict[str, Method] = {}
        self.tasks: dict[str, TaskFactory] = {}
        #: Cheap size checks by task name (see :meth:`add_task`); a task without one is checked by building it.
        self.checks: dict[str, Callable[..., Any]] = {}
        self.plugins: dict[str, PluginInfo] = {}
        self._current: PluginInfo = PluginInfo(name="(direct)")

    # -- called by plugins -------------------------------------------------
    def add_method(self, method: Method) -> None:
        """Register a :class:`~vibench.Method` instance under ``method.name``."""
        name = getattr(method, "name", "")
        if not isinstance(name, str) or not name:
            raise VibenchError(f"plugin {self._current.name!r} registered a method without a name")
        if not callable(getattr(method, "fit", None)):
            raise VibenchError(f"method {name!r} from plugin {self._current.name!r} has no fit()")
        if not isinstance(getattr(method, "family", None), str) or not method.family:
            raise VibenchError(f"method {name!r} from plugin {self._current.name!r} has no family (a non-empty string)")
        if name in self.methods:
            raise DuplicateNameError(
                f"method {name!r} is registered twice: by plugin {self._owner('methods', name)!r} "
                f"and by plugin {self._current.name!r}"
            )
        self.methods[name] = method
        self._current.methods.append(name)

    def add_task(self, name: str, factory: TaskFactory, validate: Callable[..., Any] | None = None) -> None:
        """Register a task factory: ``factory(**params) -> Task``.

        Parameters
        ----------
        name : str
        factory : callable
            Its keyword arguments, with their defaults, are the task's size parameters.
        validate : callable, optional
            ``validate(**params)``: a cheap check of a size (no task built) that raises
            :class:`~vibench.VibenchError` for an impossible one; it receives every
            parameter, defaults filled in. Default: ``factory.validate`` if the factory has
            one. With it, ``vibench run`` checks the task's sizes before the run and builds
            the task only where its cells run (an error found only then is an ``error`` row
            per cell); without it, the task is built once before the run to check it.
        """
        validate = getattr(factory, "validate", None) if validate is None else validate
        if not isinstance(name, str) or not name or not callable(factory):
            raise VibenchError(f"plugin {self._current.name!r} registered an invalid task {name!r}")
        if validate is not None and not callable(validate):
            raise VibenchError(f"plugin {self._current.name!r} registered task {name!r} with a validate that "
                               "is not callable")
        if name in self.tasks:
            raise DuplicateNameError(
                f"task {name!r} is registered twice: by plugin {self._owner('tasks', name)!r} "
                f"and by plugin {self._current.name!r}"
            )
        self.tasks[name] = factory
        if validate is not None:
            self.checks[name] = validate
        self._current.tasks.append(name)

    # -- used by the harness -----------------------------------------------
    def _owner(self, kind: str, name: str) -> str:
        for info in self.plugins.values():
            if name in getattr(info, kind):
                return info.name
        return "?"

    def _unknown(self, kind: str, name: str, choices) -> VibenchError:
        err = did_you_mean(kind, name, choices)
        broken = [p for p in self.plugins.values() if p.error]
        if broken:
            names = ", ".join(f"{p.name} ({p.error})" for p in broken)
            err = VibenchError(f"{err}; plugins that failed to load: {names}")
        return err

    def get_method(self, name: str) -> Method:
        """The registered method ``name``; a clear error listing choices otherwise."""
        try:
            return self.methods[name]
        except KeyError:
            raise self._unknown("method", name, self.methods) from None

    def task_factory(self, name: str) -> TaskFactory:
        """The registered factory for task ``name``; ``"module:function"`` names a user's model
        (see :mod:`vibench.tasks.from_pymc`)."""
        try:
            return self.tasks[name]
        except KeyError:
            if name.startswith("posteriordb:"):  # not a module: a posterior without a task here
                raise self._unknown_posterior(name) from None
            if ":" in name:
                from .tasks.from_pymc import user_task_factory

                return user_task_factory(name)
            raise self._unknown("task", name, self.tasks) from None

    def _unknown_posterior(self, name: str) -> VibenchError:
        """An unknown ``posteriordb:`` name: the closest task, and where the others come from."""
        tasks = [t for t in self.tasks if t.startswith("posteriordb:")]
        close = closest(name, tasks)
        hint = f"did you mean {close!r}? " if close else ""
        return VibenchError(f"unknown task {name!r}: {hint}{len(tasks)} posteriordb posteriors are tasks here "
                            "(vibench list posteriordb); set VIBENCH_POSTERIORDB=/path/to/posterior_database "
                            "to read a posteriordb clone")

    def has_check(self, name: str) -> bool:
        """Whether task ``name`` has a cheap size check (:meth:`check_task` then builds nothing)."""
        return name in self.checks

    def check_task(self, name: str, **params: Any) -> dict[str, Any]:
        """Check task ``name`` at size ``params`` without building it.

        The parameters are checked against the factory's signature (unknown,
        missing or ill-typed ones), then by the task's cheap check if it has one
        (:meth:`has_check`; otherwise only building the task tells more).

        Returns
        -------
        dict
            Every parameter, defaults filled in, as the factory would receive them.

        Raises
        ------
        VibenchError
            Naming the problem in one line.
        """
        factory = self.task_factory(name)
        _reject_bools(name, factory, params)
        full = resolve_params(name, factory, params)
        check = self.checks.get(name)
        if check is not None:
            check(**full)
        return full

    def get_task(self, name: str, **params: Any) -> Task:
        """Build task ``name`` at size ``params`` (validated by the factory)."""
        factory = self.task_factory(name)
        _reject_bools(name, factory, params)
        return call_factory(name, factory, params)


def _reject_bools(name: str, factory: TaskFactory, params: dict[str, Any]) -> None:
    """``dim = true`` is not the number 1: a bool for a numeric parameter is an error."""
    try:
        signature = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        signature = {}
    for key, value in params.items():
        default = getattr(signature.get(key), "default", None)
        if isinstance(value, bool) and isinstance(default, (int, float)) and not isinstance(default, bool):
            raise VibenchError(f"task {name!r}: parameter {key!r} must be a number, got {value!r}")


def _names(env: str) -> list[str]:
    return [p.strip() for p in os.environ.get(env, "").split(",") if p.strip()]


def _check_disabled(disabled: set[str], known: set[str]) -> None:
    for name in sorted(disabled - known):
        close = closest(name, known)
        hint = f"; did you mean {close!r}?" if close else ""
        raise VibenchError(f"{DISABLE_ENV} names {name!r}, which is not an installed plugin; installed: "
                           f"{', '.join(sorted(known))}{hint}")


def _short_error(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}".rstrip(": ")


def build_registry() -> Registry:
    """Build a fresh plugin manager and registry (see module docstring)."""
    import importlib

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    disabled = set(_names(DISABLE_ENV))
    entry_points = list(md.entry_points(group=ENTRY_POINT_GROUP))
    extra = _names(PLUGINS_ENV)
    _check_disabled(disabled, {ep.name for ep in entry_points} | set(extra) | set(DEFAULT_PLUGINS))
    for modname in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(modname), name=modname)
        registry.plugins[modname] = PluginInfo(name=modname, distribution="vibench", version=_version("vibench"))
    for ep in entry_points:
        if ep.name in disabled or pm.get_plugin(ep.name) is not None:
            continue
        dist = ep.dist.name if ep.dist else ""
        info = PluginInfo(name=ep.name, distribution=dist, version=ep.dist.version if ep.dist else "")
        registry.plugins[ep.name] = info
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # a broken plugin must not take the rest down
            info.error = _short_error(exc)
            warnings.warn(f"vibench plugin {ep.name!r} failed to load: {info.error}", stacklevel=2)
    for modname in extra:
        if modname in disabled or pm.get_plugin(modname) is not None:
            continue
        info = registry.plugins[modname] = PluginInfo(name=modname, distribution=f"({PLUGINS_ENV})")
        try:
            pm.register(importlib.import_module(modname), name=modname)
        except Exception as exc:
            info.error = _short_error(exc)
            warnings.warn(f"vibench plugin {modname!r} failed to load: {info.error}", stacklevel=2)
    for hook in (pm.hook.vibench_register_tasks, pm.hook.vibench_register_methods):
        for impl in reversed(hook.get_hookimpls()):
            info = registry.plugins.setdefault(impl.plugin_name, PluginInfo(name=impl.plugin_name))
            registry._current = info
            try:
                impl.function(registry=registry)
            except DuplicateNameError:
                raise
            except Exception as exc:  # a plugin whose hook crashes is reported like one that fails to import
                info.error = _short_error(exc)
                warnings.warn(f"vibench plugin {info.name!r} failed to register: {info.error}", stacklevel=2)
    registry._current = PluginInfo(name="(direct)")
    return registry


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return ""


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = build_registry()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the registry so the next :func:`get_registry` rebuilds it (tests)."""
    global _REGISTRY
    _REGISTRY = None
