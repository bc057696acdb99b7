"""Reference truths: stored with provenance, reused, keyed by data, refused when a check fails; user models.

Every test uses a temporary cache folder ($VIBENCH_CACHE) and small reference
runs (2 chains x 1000 draws).
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict

import arviz as az
import numpy as np
import pytest
from scipy.special import digamma, polygamma

import vibench
import vibench.console
import vibench.tasks
from vibench import VibenchError, cli, reference
from vibench.reference import ReferenceSettings
from vibench.testing import _z, check_task

import pymc  # noqa: E402,F401  (a hard dependency: a missing PyMC fails, never skips)

SMALL = ReferenceSettings(chains=2, draws=1000, tune=500, keep=1000, min_ess_bulk=300, min_ess_tail=300)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(reference.CACHE_ENV, str(folder))
    return folder / "references"


def _small_logistic(**params):
    with reference.using(SMALL):
        return vibench.get_task("logistic_regression", n=30, dim=2, **params)


def _no_sampling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a stored reference should have been reused")

    monkeypatch.setattr(reference, "compute_reference", refuse)


def test_reference_is_stored_with_provenance_then_reused(cache, monkeypatch):
    messages: list[str] = []
    monkeypatch.setattr(vibench.console, "info", messages.append)  # information, not a warning
    task = _small_logistic()
    assert any("computing the reference truth of logistic_regression" in m for m in messages)
    truth = task.truth
    assert truth.kind == "reference" and truth.draws.shape == (1000, 2) and truth.logpdf is None
    assert np.all(truth.mean_se > 0) and np.all(truth.sd_se > 0)
    files = sorted(p.suffix for p in cache.iterdir())
    assert files == [".nc"]  # one ArviZ InferenceData file: draws, moments, provenance (tests/test_formats.py)
    meta = json.loads(az.from_netcdf(next(cache.glob("*.nc"))).posterior.attrs["vibench_provenance"])
    assert meta["settings"]["chains"] == 2 and meta["settings"]["draws"] == 1000 and meta["settings"]["seed"] == 0
    assert {"pymc", "pytensor", "arviz", "numpy", "vibench"} <= set(meta["versions"])
    assert meta["command"] == "vibench truth logistic_regression dim=2 n=30 prior_scale=1.0 seed=0 --refresh"
    assert meta["coordinates"] == ["beta[0]", "beta[1]"] and meta["divergences"] == 0
    assert min(meta["ess_bulk"]) == meta["ess_bulk_min"] >= 300 and meta["rhat_max"] < 1.01
    assert np.allclose(meta["mcse_mean"], truth.mean_se) and meta["fingerprint"] in truth.provenance["path"]
    check_task(task)

    _no_sampling(monkeypatch)
    again = _small_logistic()
    assert np.array_equal(again.truth.mean, truth.mean) and np.array_equal(again.truth.draws, truth.draws)
    assert again.truth.provenance["path"] == truth.provenance["path"]


def test_other_data_or_settings_get_their_own_reference(cache, monkeypatch):
    first = _small_logistic().truth
    _no_sampling(monkeypatch)
    with pytest.raises(AssertionError, match="should have been reused"):
        _small_logistic(seed=1)  # other data: a new fingerprint, a new run
    with pytest.raises(AssertionError, match="should have been reused"):
        with reference.using(ReferenceSettings(chains=2, draws=1200)):
            vibench.get_task("logistic_regression", n=30, dim=2)
    with pytest.raises(AssertionError, match="should have been reused"):
        with reference.using(refresh=True):
            _small_logistic()  # the enclosing refresh is kept by the inner block
    assert _small_logistic().truth.provenance["path"] == first.provenance["path"]


def test_the_shipped_reference_is_read_when_the_cache_has_none(cache, monkeypatch):
    _no_sampling(monkeypatch)
    truth = vibench.get_task("logistic_regression").truth
    assert truth.provenance["path"].startswith(str(reference.SHIPPED_DIR)) and not cache.exists()
    # stored before max_divergence_rate existed: same key, the other settings equal
    assert truth.provenance["settings"] == {k: v for k, v in asdict(ReferenceSettings()).items()
                                            if k != "max_divergence_rate"}
    assert truth.provenance["ess_bulk_min"] >= 1000 and truth.provenance["ess_tail_min"] >= 1000


def test_a_run_that_fails_its_checks_is_refused_and_not_stored(cache):
    task = vibench.get_task("eight_schools_centered")
    refused = r"reference for eight_schools_centered\(\) refused: .*divergent transitions"
    with pytest.raises(VibenchError, match=refused):
        reference.task_reference(task, SMALL)
    assert not cache.exists()


def test_each_failed_check_is_named():
    diag = {"rhat": np.array([1.0, 1.05]), "ess_bulk": np.array([50.0, 2000.0]), "ess_tail": np.array([2000.0, 80.0]),
            "bfmi": np.array([0.9, 0.1])}
    failed = reference._failures(diag, 21, ReferenceSettings(), ["a", "b"])
    assert failed == ["R-hat 1.0500 >= 1.01 at b", "ess bulk 50 < 1000 at a", "ess tail 80 < 1000 at b",
                      "21 divergent transitions after tuning (0.10% of 20000 draws; allowed: 20)", "E-BFMI 0.10 < 0.3"]
    assert len(reference._failures(diag, 3, ReferenceSettings(), ["a", "b"])) == 4  # 3 in 20,000 are allowed
    strict = ReferenceSettings(max_divergence_rate=0.0)
    assert "3 divergent transitions after tuning (0.01% of 20000 draws; allowed: 0)" in \
        reference._failures(diag, 3, strict, ["a", "b"])
    good = {"rhat": np.array([1.001]), "ess_bulk": np.array([5000.0]), "ess_tail": np.array([4000.0]),
            "bfmi": np.array([1.0])}
    assert reference._failures(good, 0, ReferenceSettings(), ["a"]) == []
    stuck = {**good, "rhat": np.array([np.nan]), "ess_bulk": np.array([np.nan])}
    assert reference._failures(stuck, 0, ReferenceSettings(), ["a"]) == ["R-hat inf >= 1.01 at a",
                                                                          "ess bulk nan < 1000 at a"]


# -- bring your own model ---------------------------------------------------------------------------

MODULE = '''
import numpy as np
import pymc as pm


def conjugate(n: int = 10, seed: int = 0):
    """mu ~ N(0, 2^2), y_i ~ N(mu, 1); and s ~ Gamma(4, 4), untouched by the data."""
    y = np.random.default_rng(seed).normal(1.0, 1.0, n)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 2.0)
        pm.Gamma("s", alpha=4.0, beta=4.0)
        pm.Normal("y", mu, 1.0, observed=y)
    return model


def not_a_model(n: int = 1):
    return 42
'''


def _exact_conjugate(n: int, seed: int):
    """Posterior mean and sd of (mu, log s): conjugate normal; the log of a Gamma(4, 4) variable."""
    y = np.random.default_rng(seed).normal(1.0, 1.0, n)
    var = 1 / (1 / 4 + n)
    log_s_mean, log_s_sd = digamma(4.0) - np.log(4.0), np.sqrt(polygamma(1, 4.0))
    return np.array([var * y.sum(), log_s_mean]), np.array([np.sqrt(var), log_s_sd])


@pytest.fixture
def user_module(tmp_path, monkeypatch, request):
    name = f"usermodels_{request.node.name.split('[')[0][-12:]}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_from_pymc_gives_a_reference_task_that_matches_the_exact_posterior(user_module):
    import importlib

    model = importlib.import_module(user_module).conjugate(n=12)
    task = vibench.tasks.from_pymc(model, name="conjugate", settings=SMALL)
    assert task.dim == 2 and task.truth.kind == "reference" and task.pymc_model() is model
    assert task.truth.provenance["coordinates"] == ["mu", "s_log__"]
    assert task.initial_point(np.random.default_rng(0)).shape == (2,)
    mean, sd = _exact_conjugate(12, 0)
    bound = _z(4)
    assert np.max(np.abs(task.truth.mean - mean) / task.truth.mean_se) < bound
    assert np.max(np.abs(task.truth.sd - sd) / task.truth.sd_se) < bound
    check_task(task)


def test_a_suite_names_a_user_model_as_module_function(user_module, tmp_path, capsys):
    spec = f"{user_module}:conjugate"
    with reference.using(SMALL):
        assert cli.main(["truth", spec, "n=8"]) == 0
        shown = capsys.readouterr().out
        assert f"{spec}(n=8, seed=0): reference truth, dim 2" in shown and "s_log__" in shown
        assert f"command: vibench truth {spec} n=8 seed=0 --refresh" in shown
        suite = tmp_path / "mine.toml"
        suite.write_text(textwrap.dedent(f"""
            name = "mine"
            [[tasks]]
            name = "{spec}"
            n = 8
            [[methods]]
            name = "laplace"
            budgets = [100]
        """))
        assert cli.main(["run", str(suite), "--out", str(tmp_path / "results"), "--no-progress"]) == 0
    rows = vibench.load(next((tmp_path / "results").iterdir()))
    assert rows["status"].tolist() == ["ok"] and rows["kl"].isna().all() and rows["dist"].notna().all()
    assert rows["mean_err"].iloc[0] < 0.5  # exact on mu; the mode of log s is 0.25 sd below its mean


def test_user_model_errors_are_clear(user_module):
    with pytest.raises(VibenchError, match="cannot import 'no_such_module'"):
        vibench.get_task("no_such_module:conjugate")
    with pytest.raises(VibenchError, match=f"module '{user_module}' has no function 'nope'"):
        vibench.get_task(f"{user_module}:nope")
    with pytest.raises(VibenchError, match=r"not_a_model\(\) returned int, not a pymc.Model"):
        vibench.get_task(f"{user_module}:not_a_model")
    with pytest.raises(VibenchError, match="has no parameter 'dim'"):
        vibench.get_task(f"{user_module}:conjugate", dim=3)


def test_vibench_truth_check_compares_an_exact_truth_with_nuts(capsys):
    with reference.using(SMALL):
        assert cli.main(["truth", "brownian_motion", "--check"]) == 0
    out = capsys.readouterr().out
    assert "brownian_motion(): gaussian truth, dim 30" in out and "truth and reference agree" in out
    assert cli.main(["truth", "logistic_regression", "--check"]) == 2
    assert "this truth is one" in capsys.readouterr().err
