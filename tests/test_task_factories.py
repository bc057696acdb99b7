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


def test_gaussian_illcond_defaults_and_its_spectrum():
    """Eigenvalues log-spaced from 1 down to 1 / condition, so the condition number is ``condition``."""
    import numpy as np

    task = vibench.get_task("gaussian_illcond")
    assert task.params == {"dim": 10, "condition": 100.0, "seed": 0}
    np.testing.assert_allclose(np.linalg.eigvalsh(task.truth.cov), np.logspace(-2, 0, 10), rtol=1e-10)


def test_gaussian_illcond_is_a_function_of_its_seed():
    import numpy as np

    a, b, c = (vibench.get_task("gaussian_illcond", dim=4, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a.truth.cov, b.truth.cov)
    np.testing.assert_array_equal(a.truth.mean, b.truth.mean)
    assert not np.allclose(a.truth.cov, c.truth.cov) and not np.allclose(a.truth.mean, c.truth.mean)
    one = vibench.get_task("gaussian_illcond", dim=1, seed=5)  # no rotation drawn: the mean is the first draw
    np.testing.assert_array_equal(one.truth.mean, np.random.default_rng(5).normal(0, 1, 1))


def test_gaussian_illcond_bounds(monkeypatch):
    from vibench.tasks import gaussian

    assert vibench.get_task("gaussian_illcond", dim=3, condition=1.0).truth.cov[0, 0] > 0  # condition 1: isotropic
    assert vibench.get_task("gaussian_illcond", dim=3, condition=1.5).params["condition"] == 1.5
    with pytest.raises(VibenchError, match=r"^condition must be >= 1, got 0\.5$"):
        gaussian.make_gaussian_illcond(condition=0.5)
    monkeypatch.setattr(gaussian, "MAX_DENSE_DIM", 12)  # the dense cap itself, without a 5,000-dim build
    assert gaussian.make_gaussian_illcond(dim=12).dim == 12
    with pytest.raises(VibenchError, match="^dim must be between 1 and 12, got 13$"):
        gaussian.make_gaussian_illcond(dim=13)
