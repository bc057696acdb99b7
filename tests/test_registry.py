"""The plugin registry: built-ins via entry points, duplicates, broken and disabled plugins."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys

import pytest

import vibench
from vibench import registry as reg
from vibench.errors import VibenchError


def test_builtin_plugins_register_through_entry_points(fresh_registry):
    r = reg.get_registry()
    assert {"laplace", "emcee"} <= set(r.methods)
    assert r.plugins["laplace"].distribution == "vibench"
    assert "laplace" in r.plugins["laplace"].methods
    assert "gaussian" in r.plugins["vibench.tasks"].tasks


def test_duplicate_method_name_is_rejected_naming_both_plugins():
    r = reg.Registry()
    r._current = reg.PluginInfo(name="first")
    r.plugins["first"] = r._current
    r.add_method(vibench.get_method("laplace"))
    r._current = reg.PluginInfo(name="second")
    with pytest.raises(VibenchError, match="'laplace' is registered twice: by plugin 'first' and by plugin 'second'"):
        r.add_method(vibench.get_method("laplace"))


def test_duplicate_task_name_is_rejected():
    r = reg.Registry()
    r.add_task("t", lambda: None)
    with pytest.raises(VibenchError, match="task 't' is registered twice"):
        r.add_task("t", lambda: None)


def _with_extra_entry_point(monkeypatch, name, value):
    real = md.entry_points

    def fake(**kw):
        eps = list(real(**kw))
        if kw.get("group") == reg.ENTRY_POINT_GROUP:
            eps.append(md.EntryPoint(name=name, value=value, group=reg.ENTRY_POINT_GROUP))
        return eps

    monkeypatch.setattr(reg.md, "entry_points", fake)


def test_broken_plugin_warns_and_the_rest_keep_working(monkeypatch, fresh_registry):
    _with_extra_entry_point(monkeypatch, "broken", "vibench_no_such_module_xyz")
    with pytest.warns(UserWarning, match="plugin 'broken' failed to load: ModuleNotFoundError"):
        r = reg.get_registry()
    assert "laplace" in r.methods
    assert r.plugins["broken"].error.startswith("ModuleNotFoundError")
    with pytest.raises(VibenchError, match="plugins that failed to load: .*broken"):
        r.get_method("not-a-method")


def test_disabled_plugins_are_skipped(monkeypatch, fresh_registry):
    monkeypatch.setenv(reg.DISABLE_ENV, "emcee, laplace")
    r = reg.get_registry()
    assert "emcee" not in r.methods and "laplace" not in r.methods
    with pytest.raises(VibenchError, match="unknown method 'emcee'; choose from:"):
        r.get_method("emcee")


def test_unknown_task_lists_choices():
    with pytest.raises(VibenchError, match="unknown task 'nope'; choose from: .*gaussian"):
        vibench.get_task("nope")


def test_bad_task_parameters_are_clear():
    with pytest.raises(VibenchError, match="has no parameter 'dimm'; its parameters are: dim, rho"):
        vibench.get_task("gaussian", dimm=3)
    with pytest.raises(VibenchError, match="'dim' must be an integer"):
        vibench.get_task("gaussian", dim="ten")
    with pytest.raises(VibenchError, match="dim must be between 1"):
        vibench.get_task("gaussian", dim=0)
    with pytest.raises(VibenchError, match=r"rho must be in \(-1, 1\)"):
        vibench.get_task("gaussian", rho=1.0)


def test_building_the_registry_does_not_import_pymc():
    code = "import sys, vibench; from vibench.registry import get_registry; get_registry(); print('pymc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_names_get_a_did_you_mean():
    with pytest.raises(VibenchError, match=r"unknown method 'meanfeild'; choose from: .*; did you mean 'meanfield'\?"):
        vibench.get_method("meanfeild")
    with pytest.raises(VibenchError, match="choose from: [^;]*$"):  # nothing close: no suggestion
        vibench.get_method("zzzzzz")


def test_disabling_an_unknown_plugin_is_an_error(monkeypatch, fresh_registry):
    monkeypatch.setenv(reg.DISABLE_ENV, "laplace, nosuchplugin")
    with pytest.raises(VibenchError, match="names 'nosuchplugin', which is not an installed plugin"):
        reg.get_registry()


def test_a_method_without_a_family_is_a_warning_not_a_crash(monkeypatch, fresh_registry):
    import types

    module = types.ModuleType("vibench_test_nofamily")

    class NoFamily:
        name = "no-family"

        def fit(self, task, budget, rng):
            raise NotImplementedError

    module.vibench_register_methods = vibench.hookimpl(lambda registry: registry.add_method(NoFamily()))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setenv(reg.PLUGINS_ENV, module.__name__)
    with pytest.warns(UserWarning, match="failed to register: VibenchError: method 'no-family' .* has no family"):
        r = reg.get_registry()
    assert "no-family" not in r.methods and "laplace" in r.methods


def test_optional_method_attributes_have_defaults():
    class Duck:
        name, family = "duck", "laplace"

    assert reg.method_attr(Duck(), "steps_meaning") == "iterations"
    assert reg.method_attr(vibench.get_method("laplace"), "steps_meaning") == "L-BFGS iterations to the mode"
