"""Bring your own model, as a new user would: the README's radon example from a suite file alone.

A small non-centered radon model (the README's), its reference run set by the
suite's ``[tasks.reference]`` table; a task whose reference is refused becomes
error rows while the run goes on; a PyMC density outside its support is -inf,
never an exception; and a truth brought as an InferenceData.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from scipy.special import digamma, polygamma

import vibench
import vibench.tasks
from vibench import VibenchError, cli, reference
from vibench.testing import _z

import pymc  # noqa: E402,F401  (a hard dependency: a missing PyMC fails, never skips)

#: The README's radon example, with its data simulated (as a user would write mymodels.py).
RADON = '''
import numpy as np
import pymc as pm


def radon(groups: int = 20, seed: int = 0):
    """log radon ~ county intercept + floor effect; county intercepts non-centered."""
    rng = np.random.default_rng(seed)
    county = np.repeat(np.arange(groups), 4)
    floor = rng.integers(0, 2, county.size)
    intercept = rng.normal(1.5, 0.4, groups)
    log_radon = intercept[county] - 0.7 * floor + rng.normal(0.0, 0.6, county.size)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 5)
        tau = pm.HalfNormal("tau", 5)
        z = pm.Normal("z", 0, 1, shape=groups)          # non-centered: a = mu + tau * z
        beta = pm.Normal("beta", 0, 5)
        sigma = pm.HalfNormal("sigma", 5)
        pm.Normal("y", mu + tau * z[county] + beta * floor, sigma, observed=log_radon)
    return model
'''


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(reference.CACHE_ENV, str(folder))
    return folder / "references"


@pytest.fixture
def mymodels(tmp_path, monkeypatch, request):
    name = f"mymodels_{request.node.name[-10:]}"
    (tmp_path / f"{name}.py").write_text(RADON)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_the_readme_radon_example_runs_from_a_suite_file_alone(mymodels, tmp_path):
    suite = tmp_path / "mine.toml"
    suite.write_text(textwrap.dedent(f"""
        name = "mine"
        [[tasks]]
        name = "{mymodels}:radon"
        groups = [5]
        [tasks.reference]                  # a short reference run, for the test
        chains = 2
        draws = 1000
        tune = 500
        target_accept = 0.9
        min_ess_bulk = 300
        min_ess_tail = 300

        [[tasks]]                          # this one's reference is refused: its cells become error rows
        name = "{mymodels}:radon"
        groups = [3]
        [tasks.reference]
        chains = 2
        draws = 200
        tune = 200

        [[methods]]
        name = "meanfield"
        budgets = [1000]

        [[methods]]
        name = "fullrank"
        budgets = [200]
    """))
    assert cli.main(["run", str(suite), "--out", str(tmp_path / "results"), "--no-progress"]) == 0
    rows = vibench.load(next((tmp_path / "results").iterdir()))
    ok = rows[rows["dim"] == 9]
    assert ok["status"].tolist() == ["ok", "ok"], ok["error"].tolist()
    assert ok["dist"].notna().all() and ok["kl"].isna().all() and (ok["mean_err"] < 1.0).all()
    refused = rows[rows["dim"] == 7]
    assert refused["status"].tolist() == ["error", "error"]
    message = refused["error"].iloc[0]
    assert f"reference for {mymodels}:radon(groups=3,seed=0) refused: " in message and "ess bulk" in message
    assert "run longer" in message and "[tasks.reference]" in message
    # the refusal is stored: a second build does not sample again
    assert len(list(reference.cache_dir().glob("*.refused.json"))) == 1


def test_the_reference_table_is_checked_and_keys_the_reference(mymodels, tmp_path):
    from vibench.suite import load_suite

    bad = tmp_path / "bad.toml"
    bad.write_text(f'[[tasks]]\nname = "{mymodels}:radon"\n[tasks.reference]\ndraw = 10\n'
                   '[[methods]]\nname = "laplace"\nbudgets = [10]\n')
    with pytest.raises(VibenchError, match="unknown reference setting 'draw'"):
        load_suite(str(bad))
    bad.write_text(f'[[tasks]]\nname = "{mymodels}:radon"\n[tasks.reference]\ntarget_accept = 1.5\n'
                   '[[methods]]\nname = "laplace"\nbudgets = [10]\n')
    with pytest.raises(VibenchError, match="target_accept must be in"):
        load_suite(str(bad))
    good = tmp_path / "good.toml"
    good.write_text(f'[[tasks]]\nname = "{mymodels}:radon"\ngroups = 4\n[tasks.reference]\n'
                    'draws = 20000\ntarget_accept = 0.95\n[[methods]]\nname = "laplace"\nbudgets = [10]\n')
    (cell,) = load_suite(str(good)).cells()
    assert cell.params_dict == {"groups": 4, "reference": "draws=20000,target_accept=0.95"}
    settings = reference.parse_settings(cell.params_dict["reference"])
    assert settings.draws == 20000 and settings.target_accept == 0.95 and settings.chains == 4


def test_a_small_fraction_of_divergences_is_allowed():
    settings = reference.ReferenceSettings()
    assert settings.allowed_divergences() == 20  # 0.1 % of 4 x 5,000
    good = {"rhat": np.array([1.001]), "ess_bulk": np.array([5000.0]), "ess_tail": np.array([4000.0]),
            "bfmi": np.array([1.0])}
    assert reference._failures(good, 2, settings, ["a"]) == []   # the non-centered radon model's 2 in 20,000
    (failed,) = reference._failures(good, 21, settings, ["a"])
    assert failed == "21 divergent transitions after tuning (0.10% of 20000 draws; allowed: 20)"
    assert "raise target_accept" in reference._advice([failed]) and "run longer" not in reference._advice([failed])
    strict = reference.ReferenceSettings(max_divergence_rate=0.0)
    assert strict.allowed_divergences() == 0 and strict.key() != settings.key()
    # the stored references made before the rate existed keep their key
    assert settings.key() == "b5f2eba3"


def test_a_pymc_density_is_minus_infinity_outside_the_support_for_every_method():
    import pymc as pm

    from vibench.pymc_bridge import log_density_from_model

    with pm.Model() as model:
        a = pm.Normal("a", 4.0, 0.5)
        b = pm.Normal("b", 0.0, 0.5)
        pm.Normal("y", 0.0, sigma=a - b, observed=[0.3, -0.2, 0.5])  # sigma > 0 only where a > b
    density = log_density_from_model(model)
    value, grad = density.logp_and_grad(np.array([[4.0, 0.0], [0.0, 2.0]]))
    assert np.isfinite(value[0]) and value[1] == -np.inf and np.all(grad[1] == 0)
    assert density.logp(np.array([[np.nan, 0.0]]))[0] == -np.inf
    with model:
        idata = pm.sample(500, tune=500, chains=2, cores=1, random_seed=0, progressbar=False,
                          compute_convergence_checks=False)
    task = vibench.tasks.from_pymc(model, name="sigma_difference", truth=idata)
    for name in ("fullrank", "meanfield", "laplace"):  # fullrank raised ParameterValueError: sigma > 0
        approx = vibench.get_method(name).fit(task, vibench.Budget(200), np.random.default_rng(1))
        assert np.all(np.isfinite(approx.mean))


def test_bring_your_own_truth_from_an_inference_data():
    import pymc as pm

    n, seed = 12, 0
    y = np.random.default_rng(seed).normal(1.0, 1.0, n)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 2.0)
        pm.Gamma("s", alpha=4.0, beta=4.0)
        pm.Normal("y", mu, 1.0, observed=y)
        idata = pm.sample(2000, tune=500, chains=2, cores=1, random_seed=3, progressbar=False,
                          compute_convergence_checks=False)
    assert "s_log__" not in idata.posterior  # constrained draws: mapped through the log transform
    task = vibench.tasks.from_pymc(model, name="conjugate", truth=idata)
    truth = task.truth
    assert truth.kind == "reference" and truth.provenance["coordinates"] == ["mu", "s_log__"]
    assert truth.provenance["chains"] == 2 and truth.provenance["draws"] == 2000
    assert truth.draws.shape == (4000, 2) and np.all(truth.mean_se > 0)
    var = 1 / (1 / 4 + n)
    exact_mean = np.array([var * y.sum(), digamma(4.0) - np.log(4.0)])
    exact_sd = np.array([np.sqrt(var), np.sqrt(polygamma(1, 4.0))])
    assert np.max(np.abs(truth.mean - exact_mean) / truth.mean_se) < _z(4)
    assert np.max(np.abs(truth.sd - exact_sd) / truth.sd_se) < _z(4)
    with pytest.raises(VibenchError, match="neither 'mu' nor 'mu'|neither"):
        vibench.tasks.from_pymc(model, name="conjugate", truth=idata.posterior.drop_vars("mu"))
    assert not reference.cache_dir().exists()  # no reference run, nothing stored
    json.dumps(truth.provenance)


def test_constrained_simplex_draws_map_to_their_k_minus_1_free_coordinates():
    # a Dirichlet's constrained draws have K entries, its value variable K - 1 (pathfinder on the HMMs)
    import arviz as az
    import pymc as pm

    from vibench.pymc_bridge import unconstrained_draws

    with pm.Model() as model:
        pm.Dirichlet("w", a=np.ones(3))
    w = np.random.default_rng(0).dirichlet(np.ones(3), size=(2, 50))
    flat = unconstrained_draws(model, az.convert_to_dataset({"w": w}))
    assert flat.shape == (2, 50, 2) and np.all(np.isfinite(flat))
    # and back through PyMC's own simplex transform
    rv = model["w"]
    back = model.rvs_to_transforms[rv].backward(flat[0, 0], *rv.owner.inputs).eval()
    np.testing.assert_allclose(back, w[0, 0], rtol=1e-8)
