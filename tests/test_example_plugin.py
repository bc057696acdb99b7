"""The example plugin installs like any third-party distribution and runs through ``vibench run``.

It is pip-installed (no dependencies) from a copy of ``examples/vibench-example-plugin`` into a
temporary target directory, and every check runs in a subprocess whose ``PYTHONPATH`` starts with
that directory (``importlib.metadata`` finds its entry point there). Nothing is installed into the
environment under test, and the checkout gains no build files: both are asserted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import vibench

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "vibench-example-plugin"
DIST = "vibench-example-plugin"
ENV = {k: v for k, v in os.environ.items() if k != "VIBENCH_DISABLE_PLUGINS"}
PROBE = f"import importlib.metadata as md; print(md.distribution({DIST!r}).locate_file(''))"


def _python(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or ENV)


def _checkout_files() -> set[Path]:
    return {p.relative_to(EXAMPLE) for p in EXAMPLE.rglob("*")}


@pytest.fixture(scope="module")
def target_env(tmp_path_factory):
    """The environment of a subprocess that sees the example, installed into a temporary target directory.

    ``--no-build-isolation`` is fast and offline when the environment's setuptools can build wheels;
    otherwise pip builds in an isolated environment from the configured index. After the module's
    tests: the example is not installed here, and the checkout has the files it had.
    """
    assert _python("-c", PROBE).returncode != 0, f"{DIST} is already installed in this environment"
    before = _checkout_files()
    root = tmp_path_factory.mktemp("example-plugin")
    source, target = root / "source", root / "site-packages"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    errors = []
    for extra in (["--no-build-isolation"], []):
        proc = _python("-m", "pip", "install", "--no-deps", "--no-compile", "-q", *extra, "--target", str(target),
                       str(source))
        if proc.returncode == 0:
            break
        errors.append(proc.stderr.strip().splitlines()[-1:] or ["?"])
    else:
        pytest.fail(f"cannot pip-install {EXAMPLE} into {target}: {errors}")
    env = dict(ENV, PYTHONPATH=os.pathsep.join([str(target), *filter(None, [ENV.get("PYTHONPATH")])]),
               PYTHONDONTWRITEBYTECODE="1", VIBENCH_EXAMPLE_SOURCE=str(source))
    found = _python("-c", PROBE, env=env)
    assert found.returncode == 0 and Path(found.stdout.strip()) == target, found.stderr
    yield env
    assert _python("-c", PROBE).returncode != 0, f"{DIST} was left installed in this environment"
    assert _checkout_files() == before, "the install wrote into the checkout"


def test_nothing_is_installed_into_the_tested_environment(target_env):
    """The parent process and a fresh interpreter without the target directory do not see the example."""
    import importlib.metadata

    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution(DIST)
    fresh = _python("-m", "pip", "list", "--format=json")
    assert fresh.returncode == 0 and DIST not in {p["name"] for p in json.loads(fresh.stdout)}
    assert _python("-c", PROBE, env=target_env).returncode == 0  # the target directory does


def _vibench(env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = _python("-m", "vibench.cli", *args, env=env)
    assert proc.returncode == 0, f"vibench {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_vibench_plugins_lists_the_example_with_its_distribution(target_env):
    out = _vibench(target_env, "plugins").stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("rwm ")), None)
    assert line is not None, out
    assert "vibench-example-plugin 0.1.0" in line and "methods: rwm" in line
    assert "FAILED" not in line


def test_vibench_run_runs_the_plugin_method(target_env, tmp_path):
    suite = tmp_path / "tiny_rwm.toml"
    suite.write_text(textwrap.dedent("""
        name = "tiny-rwm"
        seeds = [0, 1]
        [[tasks]]
        name = "gaussian"
        dim = [2, 3]
        rho = 0.5
        [[methods]]
        name = "rwm"
        budgets = [500]
    """))
    _vibench(target_env, "run", str(suite), "--out", str(tmp_path / "results"), "--no-progress")
    (run_dir,) = (tmp_path / "results").iterdir()
    df = vibench.load(run_dir)
    assert len(df) == 4
    assert set(df["status"]) == {"ok"}, df[["status", "error"]]
    assert set(df["method"]) == {"rwm"} and set(df["family"]) == {"mcmc"}
    assert (df["n_grad"] == 0).all() and (df["n_logp"] > 4 * 2 * 500).all()  # 4 chains, warm-up + draws
    assert (df["mean_err"] < 0.5).all()
    assert df["kl"].isna().all() and df["dist_estimator"].eq("sliced-w1").all()  # draws only: no KL
    assert (df["dist"] < 0.25).all() and df["chains"].eq(4).all()
    for info in df["info"]:
        assert info["chains"] == 4 and info["draws"] == 500 and 0.1 < info["acceptance"] < 0.5
        json.dumps(info)


def test_the_example_plugin_own_tests_pass(target_env):
    tests = Path(target_env["VIBENCH_EXAMPLE_SOURCE"]) / "tests"  # the copy's tests, against the installed copy
    proc = _python("-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests), env=target_env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
