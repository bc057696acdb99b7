"""The example plugin installs like any third-party distribution and runs through ``vibench run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import vibench

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "vibench-example-plugin"
DIST = "vibench-example-plugin"
ENV = {k: v for k, v in os.environ.items() if k != "VIBENCH_DISABLE_PLUGINS"}


def _python(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=ENV)


def _installed_from_here() -> bool:
    """Is the example installed, editable, from this checkout (so reinstalling changes nothing)?"""
    probe = _python("-c", textwrap.dedent(f"""
        import importlib.metadata as md, json, vibench_rwm
        print(json.loads(md.distribution({DIST!r}).read_text("direct_url.json") or "{{}}").get("url", ""))
    """))
    return probe.returncode == 0 and probe.stdout.strip() == EXAMPLE.as_uri()


@pytest.fixture(scope="module")
def example_installed():
    """pip-install the example (editable, no dependencies), once; a no-op if already installed from here.

    ``--no-build-isolation`` is fast and offline when the environment's setuptools can build
    editable wheels; otherwise pip builds in an isolated environment from the configured index.
    """
    if not _installed_from_here():
        errors = []
        for extra in (["--no-build-isolation"], []):
            proc = _python("-m", "pip", "install", "--no-deps", "-q", *extra, "-e", str(EXAMPLE))
            if proc.returncode == 0:
                break
            errors.append(proc.stderr.strip().splitlines()[-1:] or ["?"])
        else:
            pytest.fail(f"cannot pip-install {EXAMPLE}: {errors}")
        _make_importable_here()
    assert _installed_from_here()


def _make_importable_here() -> None:
    """Let this test process import what pip just installed (its .pth files run only at start-up),
    so later tests that build the registry in-process do not see a plugin that cannot load."""
    import importlib
    import site
    import sysconfig

    from vibench.registry import reset_registry

    site.addsitedir(sysconfig.get_paths()["purelib"])
    importlib.invalidate_caches()
    reset_registry()


def _vibench(*args: str) -> subprocess.CompletedProcess:
    proc = _python("-m", "vibench.cli", *args)
    assert proc.returncode == 0, f"vibench {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_vibench_plugins_lists_the_example_with_its_distribution(example_installed):
    out = _vibench("plugins").stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("rwm ")), None)
    assert line is not None, out
    assert "vibench-example-plugin 0.1.0" in line and "methods: rwm" in line
    assert "FAILED" not in line


def test_vibench_run_runs_the_plugin_method(example_installed, tmp_path):
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
    _vibench("run", str(suite), "--out", str(tmp_path / "results"), "--no-progress")
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


def test_the_example_plugin_own_tests_pass(example_installed):
    proc = _python("-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
