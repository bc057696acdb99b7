"""Registering plugins is cheap: ``vibench list`` and ``vibench --help`` import no heavy library.

Plugins register names and metadata; SciPy's optimizers and special functions,
ArviZ, PyMC, PyTensor and pandas are imported inside task factories and a
method's ``prepare``/``fit``. Each check runs a fresh interpreter and reads its
``sys.modules``, so a regression fails here by name, without timing anything
(on this kind of machine SciPy's first submodule costs 0.1-0.2 s, ArviZ 2 s,
PyMC 2.5 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: Top-level packages that ``vibench list`` and ``--help`` must not import (any submodule of them).
HEAVY = ("scipy", "arviz", "pymc", "pytensor", "pandas", "matplotlib", "xarray", "numba",
         "emcee", "nutpie", "pymc_extras")

#: What ``vibench list methods`` does, in a fresh interpreter, reporting its output and modules.
CODE = """
import contextlib, io, json, sys
from vibench.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main({argv!r})
print(json.dumps({{"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}}))
"""


def _fresh(argv: list[str]) -> dict:
    """Run ``vibench.cli.main(argv)`` in a new interpreter; its exit code, stdout and ``sys.modules``."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIBENCH_PLUGINS", "VIBENCH_DISABLE_PLUGINS")}
    proc = subprocess.run([sys.executable, "-c", CODE.format(argv=argv)], capture_output=True, text=True,
                          env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _heavy(modules: list[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})


@pytest.mark.parametrize("argv, expected", [
    (["list", "methods"], ("laplace", "meanfield", "fullrank", "cavi", "emcee", "pymc-nuts")),
    (["list", "tasks"], ("gaussian", "linear_regression_nig", "logistic_regression", "funnel")),
    (["--help"], ()),
], ids=["list-methods", "list-tasks", "help"])
def test_listing_imports_no_heavy_library(argv, expected):
    result = _fresh(argv)
    assert result["code"] == 0
    for name in expected:
        assert name in result["out"]
    assert not _heavy(result["modules"]), f"vibench {' '.join(argv)} imported {_heavy(result['modules'])}"


def test_the_registry_keeps_the_plugins_light():
    """Every built-in plugin is registered (none failed to load), and still nothing heavy is imported."""
    code = ("import json, sys; from vibench.registry import get_registry; r = get_registry(); "
            "print(json.dumps({'errors': [p.error for p in r.plugins.values() if p.error], "
            "'methods': sorted(r.methods), 'modules': sorted(sys.modules)}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert {"laplace", "meanfield", "fullrank", "cavi", "emcee", "pymc-advi"} <= set(result["methods"])
    assert not _heavy(result["modules"])
    assert "vibench_cavi.nig" in result["modules"], "the plugin modules are imported, only their heavy imports wait"


def test_prepare_imports_what_fit_needs(fresh_registry):
    """A method's own heavy imports happen in ``prepare`` (booked as set-up), before the fit clock."""
    code = ("import sys, vibench; from vibench.registry import get_registry; t = vibench.get_task('gaussian', dim=2); "
            "m = get_registry().get_method('{name}'); m.prepare(t); print('{module}' in sys.modules)")
    for name, module in (("laplace", "scipy.optimize"), ("meanfield", "scipy.optimize"),
                         ("fullrank", "scipy.linalg.lapack"), ("cavi", "scipy.special")):
        proc = subprocess.run([sys.executable, "-c", code.format(name=name, module=module)],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "True", f"{name}.prepare() did not import {module}"


# -- no task is built before the run just to check its size ------------------------------------

#: Sizes, good and bad, on which a built-in task's cheap check and its factory must agree
#: (bad ones fail in the factory's first lines; good ones are small enough to build here).
SIZES = {
    "gaussian": [{"dim": 0}, {"dim": 1_000_001}, {"rho": 1.0}, {"rho": -1.0}, {"dim": 3, "rho": 0.5}],
    "gaussian_illcond": [{"dim": 5001}, {"condition": 0.5}, {"dim": 3, "condition": 10.0}],
    "linear_regression": [{"dim": 0}, {"n": 0}, {"noise": 0.0}, {"prior_scale": -1.0}, {"dim": 5001},
                          {"n": 10, "dim": 2}],
    "linear_regression_nig": [{"dim": 0}, {"n": 0}, {"a0": 0.0}, {"b0": -2.0}, {"n": 1, "a0": 0.4},
                              {"n": 1, "a0": 0.6}, {"n": 10, "dim": 2}],
    "funnel": [{"dim": 0}, {"dim": 1}, {"dim": 5001}, {"dim": 2}],
    "banana": [{"dim": 1}, {"curvature": float("nan")}, {"curvature": float("inf")}, {"dim": 3}],
    "mixture": [{"dim": 0}, {"separation": -1.0}, {"separation": float("inf")}, {"dim": 2, "separation": 0.0}],
    "hierarchical": [{"groups": 0}, {"groups": 1001}, {"n_per_group": 0}, {"groups": 2, "n_per_group": 2}],
    "gmrf": [{"grid": 0}, {"grid": 201}, {"kappa": 0.0}, {"tau": -1.0}, {"grid": 2}],
    "eight_schools_centered": [{}],
    "brownian_motion": [{}],
}


def _outcome(call) -> str | None:
    from vibench import VibenchError

    try:
        call()
    except VibenchError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("name, params", [(n, p) for n, sizes in SIZES.items() for p in sizes],
                         ids=[f"{n}-{p}" for n, sizes in SIZES.items() for p in sizes])
def test_a_cheap_check_says_what_building_says(name, params):
    from vibench.registry import get_registry

    registry = get_registry()
    assert registry.has_check(name)
    checked = _outcome(lambda: registry.check_task(name, **params))
    built = _outcome(lambda: registry.get_task(name, **params))
    assert checked == built, f"{name}({params}): the check says {checked!r}, the factory {built!r}"


def test_every_built_in_task_has_a_check_but_logistic_regression():
    from vibench.registry import get_registry

    registry = get_registry()
    unchecked = {name for name in registry.tasks if not registry.has_check(name)}
    assert unchecked == {"logistic_regression"}, "its NUTS reference must be made before the run, once"
    assert set(SIZES) | {"eight_schools_noncentered"} == {n for n in registry.checks if ":" not in n}


def test_check_cells_builds_only_the_tasks_without_a_check(fresh_registry):
    from vibench import Budget, VibenchError
    from vibench.cell import Cell
    from vibench.registry import get_registry
    from vibench.runner import check_cells

    built = []

    def checked_factory(dim: int = 2):
        built.append(("checked", dim))
        return vibench_gaussian(dim)

    def unchecked_factory(dim: int = 2):
        built.append(("unchecked", dim))
        return vibench_gaussian(dim)

    def at_most_five(dim):
        if dim > 5:
            raise VibenchError(f"dim must be at most 5, got {dim}")

    registry = get_registry()
    registry.add_task("lazy-checked", checked_factory, validate=at_most_five)
    registry.add_task("lazy-unchecked", unchecked_factory)
    cells = [Cell.make(t, {"dim": d}, "laplace", Budget(5), s)
             for t in ("lazy-checked", "lazy-unchecked") for d in (2, 3) for s in (0, 1)]
    check_cells(cells)
    assert built == [("unchecked", 2), ("unchecked", 3)], "only the task without a check is built, once a size"
    with pytest.raises(VibenchError, match=r"task lazy-checked\(dim=6\): dim must be at most 5, got 6"):
        check_cells([Cell.make("lazy-checked", {"dim": 6}, "laplace", Budget(5), 0)])
    with pytest.raises(VibenchError, match="has no parameter 'size'"):
        check_cells([Cell.make("lazy-checked", {"size": 2}, "laplace", Budget(5), 0)])
    assert len(built) == 2


def vibench_gaussian(dim: int):
    """A small built-in gaussian task, for the factories above."""
    import vibench

    return vibench.get_task("gaussian", dim=dim, rho=0.5)


def test_an_error_found_only_when_building_is_an_error_row_per_cell(fresh_registry, tmp_path):
    from vibench.cli import main
    from vibench.registry import get_registry
    from vibench.store import load

    def fails_to_build(dim: int = 2):
        raise RuntimeError("no data for this size")

    get_registry().add_task("lazy-fails-to-build", fails_to_build, validate=lambda dim: None)
    suite = tmp_path / "s.toml"
    suite.write_text('seeds = [0, 1]\n[[tasks]]\nname = "lazy-fails-to-build"\n'
                     '[[tasks]]\nname = "gaussian"\ndim = 2\nrho = 0.5\n'
                     '[[methods]]\nname = "laplace"\nbudgets = [20]\n')
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    (run_dir,) = (tmp_path / "r").iterdir()
    df = load(run_dir)
    failed = df[df["task"] == "lazy-fails-to-build"]
    assert len(failed) == 2 and set(failed["status"]) == {"error"}
    assert all("RuntimeError: no data for this size" in e for e in failed["error"])
    assert set(df.loc[df["task"] == "gaussian", "status"]) == {"ok"}
