"""posteriordb tasks: every translation passes the score identity on its reference draws; wrong ones fail.

The score identity: under the posterior, E[grad log p(x)] = 0 on the
unconstrained space. On posteriordb's 10 x 1,000 reference draws mapped there,
each coordinate's mean gradient is z-tested against its Monte Carlo error
(gradient sd / sqrt(ESS), ESS by ArviZ over the 10 chains), Bonferroni across
coordinates. A wrong prior, wrong data or a wrong transform of the draws moves
the mean gradient far from zero and fails the same test.
"""

from __future__ import annotations

import json
import time
import zipfile

import numpy as np
import pytest
from scipy.stats import norm

import pymc  # noqa: E402,F401  (a hard dependency: a missing PyMC fails, never skips)

from vibench.pymc_bridge import log_density_from_model, quiet_pymc  # noqa: E402
from vibench.tasks import posteriordb as pdb  # noqa: E402
from vibench.tasks.posteriordb.source import ENV, decode_draws, encode_draws  # noqa: E402
from vibench.tasks.posteriordb.translation import Translation  # noqa: E402
from vibench.tasks.posteriordb.unconstrained import ess  # noqa: E402

ALPHA = 1e-3  # family-wise level per posterior (the draws are fixed, so the outcome is too)
SECONDS = 0.5  # gradient budget per posterior: costly densities (GPs, HMMs) use evenly thinned chains
NAMES = pdb.task_names()


@pytest.fixture(autouse=True, scope="module")
def _shipped_copy():
    """These tests use the shipped copy, whatever the environment says."""
    mp = pytest.MonkeyPatch()
    mp.delenv(ENV, raising=False)
    yield
    mp.undo()


def score_test(grad: np.ndarray, chains: int = 10) -> tuple[np.ndarray, bool]:
    """z per coordinate of the mean gradient and whether all pass (Bonferroni at ``ALPHA``)."""
    g = grad.reshape(chains, -1, grad.shape[-1])
    se = g.std(axis=(0, 1)) / np.sqrt(ess(g, "mean"))
    z = g.mean(axis=(0, 1)) / se
    return z, bool(np.all(np.abs(z) < norm.isf(ALPHA / (2 * z.size))))


def _z_of(model, samples) -> tuple[np.ndarray, bool]:
    with quiet_pymc():
        density = log_density_from_model(model)
    value, grad = density.logp_and_grad(samples.reshape(-1, samples.shape[-1]))
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    return score_test(grad, samples.shape[0])


_TASKS: dict[str, object] = {}


def _task(name):
    if name not in _TASKS:
        _TASKS[name] = pdb.make_task(name)
    return _TASKS[name]


def test_at_least_twenty_translated_posteriors_ship():
    assert len(NAMES) >= 20
    families = ("kidiq", "earnings", "mesquite", "nes", "kilpisjarvi", "diamonds", "eight_schools_centered",
                "eight_schools_noncentered", "arK", "arma11", "garch11", "low_dim_gauss_mix", "hmm_example",
                "gp_pois_regr")
    for family in families:
        assert any(family in n for n in NAMES), family


@pytest.mark.parametrize("name", NAMES)
def test_score_identity_on_reference_draws(name):
    task = _task(name)
    draws = task.truth.draws
    assert draws.shape == (10_000, task.dim)
    started = time.perf_counter()
    task.log_density.logp_and_grad(draws[:20])
    per_chain = int(np.clip(SECONDS / ((time.perf_counter() - started) / 20) / 10, 100, 1000))
    chains = draws.reshape(10, 1000, -1)[:, np.linspace(0, 999, per_chain).round().astype(int)]
    value, grad = task.log_density.logp_and_grad(chains.reshape(-1, task.dim))
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    z, ok = score_test(grad)
    assert ok, f"{name}: mean gradient not zero within MCSE, z = {np.round(z, 1)}"


@pytest.mark.parametrize("name", NAMES[:3])
def test_task_truth_and_provenance(name):
    task = _task(name)
    truth = task.truth
    assert task.name == name and task.params == {} and task.pymc_model() is not None
    assert truth.kind == "reference" and truth.cov.shape == (task.dim, task.dim)
    assert np.all(truth.mean_se > 0) and np.all(truth.sd_se > 0) and np.all(truth.mean_se < 0.1 * truth.sd)
    np.testing.assert_allclose(truth.mean, truth.draws.mean(axis=0))
    prov = truth.provenance
    assert prov["posterior"] == name.split(":", 1)[1] and len(prov["posteriordb_commit"]) == 40
    assert prov["reference_info"]["inference"]["method"] == "stan_sampling"
    assert len(prov["coordinates"]) == task.dim
    assert np.isfinite(task.log_density.logp(task.initial_point(np.random.default_rng(0))))


def test_registry_resolves_posteriordb_names():
    import vibench

    task = vibench.get_task("posteriordb:kidiq-kidscore_momhs")
    assert task.name == "posteriordb:kidiq-kidscore_momhs" and task.dim == 3


def _eight_schools():
    return pdb.load_posterior("eight_schools-eight_schools_noncentered")


def test_wrong_prior_scale_fails():
    """eight schools with ``mu ~ N(0, 2.5)`` instead of ``N(0, 5)``."""
    import pymc as pm

    post = _eight_schools()

    def wrong(d):
        with pm.Model() as model:
            theta_trans = pm.Normal("theta_trans", 0.0, 1.0, shape=8)
            mu = pm.Normal("mu", 0.0, 2.5)
            tau = pm.HalfCauchy("tau", beta=5.0)
            pm.Normal("y", mu=theta_trans * tau + mu, sigma=np.asarray(d["sigma"], float), observed=d["y"])
        return model

    bad = Translation("eight_schools_noncentered", wrong, pdb.TRANSLATIONS["eight_schools_noncentered"].free)
    model = wrong(post.data)
    z, ok = _z_of(model, pdb.unconstrained_draws(post, model, bad))
    assert not ok and abs(z[8]) > 10  # the mu coordinate


def test_wrong_transform_fails():
    """The non-centered eight schools with the stored ``theta`` taken for ``theta_trans``."""
    post = _eight_schools()
    model = pdb.build_model(post)
    naive = Translation("eight_schools_noncentered", pdb.TRANSLATIONS["eight_schools_noncentered"].build,
                        lambda draws, data: {"theta_trans": draws["theta"], "mu": draws["mu"], "tau": draws["tau"]})
    z, ok = _z_of(model, pdb.unconstrained_draws(post, model, naive))
    assert not ok


def test_normalized_uniform_bound_fails():
    """garch11 without cancelling ``pm.Uniform(0, 1 - alpha1)``'s ``1 / (1 - alpha1)``: not Stan's flat prior."""
    import pymc as pm
    import pytensor.tensor as pt

    post = pdb.load_posterior("garch-garch11")
    right = pdb.build_model(post)
    with right:  # the same model plus log(1 / (1 - alpha1)) undoes the correction
        pm.Potential("undo", -pt.log1p(-right["alpha1"]))
    z, ok = _z_of(right, pdb.unconstrained_draws(post, right))
    assert not ok


def test_wrong_data_fails():
    """kidscore_momiq with the mothers' IQs shuffled."""
    post = pdb.load_posterior("kidiq-kidscore_momiq")
    good = pdb.build_model(post)
    post.data = {**post.data, "mom_iq": np.random.default_rng(0).permutation(post.data["mom_iq"])}
    shuffled = pdb.build_model(post)
    z, ok = _z_of(shuffled, pdb.unconstrained_draws(post, good))
    assert not ok


def test_centered_eight_schools_matches_exact_truth():
    """posteriordb's draws of (mu, log tau) against vibench's quadrature truth of the same model."""
    import vibench

    exact = vibench.get_task("eight_schools_centered").truth  # (mu, log tau, theta_1..8)
    ref = _task("posteriordb:eight_schools-eight_schools_centered").truth  # (theta_1..8, mu, log tau)
    order = [8, 9] + list(range(8))
    z = (ref.mean[order] - exact.mean) / ref.mean_se[order]
    assert np.all(np.abs(z) < 4), z
    np.testing.assert_allclose(ref.sd[order], exact.sd, rtol=0.05)


def test_forward_algorithm_matches_a_loop():
    """The pairwise (logsumexp, +) product equals the step-by-step forward recursion."""
    import pytensor.tensor as pt
    from scipy.special import logsumexp

    from vibench.tasks.posteriordb.models_latent import _forward

    rng = np.random.default_rng(1)
    for n in (2, 7, 16):
        emission, trans = rng.normal(size=(n, 3)), np.log(rng.dirichlet(np.ones(3), size=3))
        gamma = emission[0]
        for t in range(1, n):
            gamma = logsumexp(gamma[:, None] + trans, axis=0) + emission[t]
        got = _forward(pt.as_tensor(emission), pt.as_tensor(trans), n).eval()
        np.testing.assert_allclose(got, logsumexp(gamma), rtol=1e-12)


def test_draws_roundtrip_and_clone(tmp_path, monkeypatch, capsys):
    """float32 byte planes decode exactly; a clone named by $VIBENCH_POSTERIORDB is read instead."""
    x = np.random.default_rng(0).normal(size=(10, 1000, 3))
    np.testing.assert_array_equal(decode_draws(encode_draws(x), x.shape), x.astype(np.float32).astype(float))

    shipped = pdb.load_posterior("kidiq-kidscore_momhs")
    root = tmp_path / "posterior_database"
    for sub in ("posteriors", "data/data", "reference_posteriors/draws/draws", "reference_posteriors/draws/info"):
        (root / sub).mkdir(parents=True)
    name, ref = "kidiq-kidscore_momhs", "kidiq-kidscore_momhs"
    (root / "posteriors" / f"{name}.json").write_text(json.dumps(
        {"name": name, "model_name": "kidscore_momhs", "data_name": "kidiq", "reference_posterior_name": ref}))
    (root / "posteriors" / "other-untranslated.json").write_text(json.dumps(
        {"name": "other-untranslated", "model_name": "no_such_model", "data_name": "x"}))
    with zipfile.ZipFile(root / "data" / "data" / "kidiq.json.zip", "w") as zf:
        zf.writestr("kidiq.json", json.dumps({k: np.asarray(v).tolist() for k, v in shipped.data.items()}))
    chains = [{c: shipped.draws[i, :, j].tolist() for j, c in enumerate(shipped.columns)} for i in range(10)]
    with zipfile.ZipFile(root / "reference_posteriors" / "draws" / "draws" / f"{ref}.json.zip", "w") as zf:
        zf.writestr(f"{ref}.json", json.dumps(chains))
    monkeypatch.setenv(ENV, str(tmp_path))
    assert pdb.available() == [("kidiq-kidscore_momhs", True), ("other-untranslated", False)]
    assert pdb.task_names() == ["posteriordb:kidiq-kidscore_momhs"]
    task = pdb.make_task("posteriordb:kidiq-kidscore_momhs")
    assert "clone" in task.truth.provenance["source"]
    np.testing.assert_allclose(task.truth.mean, _task("posteriordb:kidiq-kidscore_momhs").truth.mean)
    from vibench import cli

    capsys.readouterr()
    assert cli.main(["list", "posteriordb"]) == 0  # what the clone has, and which posteriors are tasks
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert lines == {"kidiq-kidscore_momhs": "task", "other-untranslated": "no translation"}
