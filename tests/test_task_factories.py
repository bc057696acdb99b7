"""Every built-in task factory, called directly (as the plugin kit's ``check_task(make_x())`` does), labels its
task as the registry does, and the defaults users rely on in suites are the documented ones."""

from __future__ import annotations

import importlib
import inspect

import pytest

import vibench
from vibench import VibenchError
from vibench.tasks import MODULES

#: Built through NUTS references or PyMC: checked elsewhere (tests/test_reference.py, tests/test_posteriordb.py).
SKIP = {"logistic_regression"}
FACTORIES = [(name, factory) for mod in MODULES for name, factory in importlib.import_module(
    f"vibench.tasks.{mod}").TASKS.items() if name not in SKIP]


def _non_default(factory):
    """A keyword argument that differs from its default, so params cannot be a copy of the defaults."""
    for key, p in inspect.signature(factory).parameters.items():
        if key == "seed" and isinstance(p.default, int):
            return {key: p.default + 1}
    return {}


@pytest.mark.parametrize("name, factory", FACTORIES, ids=[n for n, _ in FACTORIES])
def test_a_factory_called_directly_labels_its_task_as_the_registry_does(name, factory):
    extra = _non_default(factory)
    direct, registered = factory(**extra), vibench.get_task(name, **extra)
    assert direct.name == registered.name == name
    assert direct.params == registered.params


def test_linear_regression_defaults_and_noise_bound():
    task = vibench.get_task("linear_regression")
    assert task.params == {"n": 100, "dim": 5, "noise": 1.0, "prior_scale": 1.0, "seed": 0}
    assert task.dim == 5 and task.data["noise"] == 1.0 and task.data["prior_scale"] == 1.0
    with pytest.raises(VibenchError, match=r"^noise must be > 0, got 0\.0$"):
        vibench.get_task("linear_regression", noise=0.0)
