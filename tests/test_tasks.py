"""Built-in tasks: exact truths checked against independent computations.

For every task at two sizes: exact draws agree with the stated moments
(z-tests with tolerances from standard errors), analytic gradients agree with
central finite differences, ``log_evidence`` agrees with quadrature (at
dimension 1-2) or a closed form computed another way, a Gaussian truth's
``logpdf = logp - log_evidence``, every normalized ``logpdf`` integrates to 1
(quadrature, dimension 1-2), and the mean of ``logpdf`` over exact draws is
minus the entropy, computed without the task's code, at every size.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import gammaln, digamma, logsumexp

import vibench
from vibench.tasks.gaussian import ar1_meanfield_kl, ar1_precision

from oracles import meanfield_kl

Z = 4.5  # z-score tolerance of every Monte Carlo comparison
N_DRAWS = 100_000

CASES = [
    ("gaussian", {"dim": 2, "rho": 0.9}),
    ("gaussian", {"dim": 8, "rho": 0.5}),
    ("gaussian_illcond", {"dim": 2, "condition": 100.0, "seed": 3}),
    ("gaussian_illcond", {"dim": 6, "condition": 1000.0}),
    ("linear_regression", {"dim": 2, "n": 30, "noise": 0.5, "prior_scale": 2.0}),
    ("linear_regression", {"dim": 10, "n": 100}),
    ("funnel", {"dim": 2}),
    ("funnel", {"dim": 10}),
    ("banana", {"dim": 2}),
    ("banana", {"dim": 5, "curvature": 0.1}),
    ("mixture", {"dim": 2}),
    ("mixture", {"dim": 10, "separation": 6.0}),
    ("linear_regression_nig", {"dim": 1, "n": 20, "a0": 3.0, "b0": 1.0, "prior_scale": 2.0}),
    ("linear_regression_nig", {"dim": 5, "n": 100}),
    ("gmrf", {"grid": 2}),
    ("gmrf", {"grid": 4, "kappa": 1.0, "tau": 2.0}),
]
IDS = [f"{name}-{'-'.join(f'{k}{v}' for k, v in p.items())}" for name, p in CASES]


@pytest.fixture(scope="module", params=range(len(CASES)), ids=IDS)
def case(request):
    name, params = CASES[request.param]
    task = vibench.get_task(name, **params)
    draws = task.truth.sample(N_DRAWS, np.random.default_rng(1000 + request.param))
    return task, draws


def _heavy(task) -> np.ndarray:
    """Coordinates whose 4th moment makes sample-variance z-tests meaningless (funnel's x_i)."""
    heavy = np.zeros(task.dim, dtype=bool)
    if task.name == "funnel":
        heavy[1:] = True
    return heavy


# -- (a) exact draws vs stated moments -----------------------------------------------------


def test_task_shape_and_metadata(case):
    task, draws = case
    truth = task.truth
    assert truth.kind in ("gaussian", "exact")
    assert draws.shape == (N_DRAWS, task.dim)
    assert truth.mean.shape == truth.sd.shape == (task.dim,)
    assert truth.cov.shape == (task.dim, task.dim)
    np.testing.assert_allclose(np.sqrt(np.diag(truth.cov)), truth.sd, rtol=1e-12)
    np.testing.assert_allclose(truth.cov, truth.cov.T, atol=1e-12)
    x0 = task.initial_point(np.random.default_rng(0))
    assert x0.shape == (task.dim,) and np.all(np.abs(x0) <= 2)
    assert np.isfinite(task.log_density.logp(x0))


def test_draws_match_mean(case):
    task, draws = case
    se = task.truth.sd / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - task.truth.mean) < Z * se)


def test_draws_match_covariance(case):
    """Every covariance entry (so every sd) within Z standard errors from the draws' 4th moments."""
    task, draws = case
    keep = ~_heavy(task)
    c = draws[:, keep] - draws[:, keep].mean(axis=0)
    n = len(draws)
    for i in range(c.shape[1]):
        prod = c[:, i : i + 1] * c[:, i:]  # products with coordinates j >= i
        est, se = prod.mean(axis=0), prod.std(axis=0) / np.sqrt(n)
        target = task.truth.cov[np.ix_(keep, keep)][i, i:]
        assert np.all(np.abs(est - target) < Z * se), (i, est, target, se)


def test_funnel_heavy_coordinates():
    """Funnel's x_i: whitened draws are N(0, 1) independent of v, and var(x_i) = E[e^v] by quadrature."""
    task = vibench.get_task("funnel", dim=4)
    draws = task.truth.sample(N_DRAWS, np.random.default_rng(7))
    v, x = draws[:, 0], draws[:, 1:]
    w = x * np.exp(-0.5 * v)[:, None]
    se = 1 / np.sqrt(len(w))
    assert np.all(np.abs(w.mean(axis=0)) < Z * se)
    assert np.all(np.abs(w.var(axis=0) - 1) < Z * np.sqrt(2) * se)
    assert np.all(np.abs(np.corrcoef(np.column_stack([v, w]).T)[0, 1:]) < Z * se)
    var_x, _ = integrate.quad(lambda t: np.exp(t) * stats.norm.pdf(t, 0, 3), -40, 40)
    np.testing.assert_allclose(task.truth.sd[1:] ** 2, var_x, rtol=1e-8)
    np.testing.assert_allclose(task.truth.sd[0], 3.0)


# -- (b) gradients ---------------------------------------------------------------------------


def test_gradient_matches_finite_differences(case):
    task, draws = case
    ld = task.log_density
    rng = np.random.default_rng(5)
    points = np.vstack([np.array([task.initial_point(rng) for _ in range(3)]), draws[:3]])
    value, grad = ld.logp_and_grad(points)
    np.testing.assert_allclose(value, ld.logp(points), rtol=1e-12, atol=1e-10)
    fd = np.empty_like(grad)
    for j in range(task.dim):
        h = 1e-5 * np.maximum(1.0, np.abs(points[:, j]))
        step = np.zeros_like(points)
        step[:, j] = h
        fd[:, j] = (ld.logp(points + step) - ld.logp(points - step)) / (2 * h)
    scale = 1.0 + np.abs(grad).max(axis=1, keepdims=True) + 1e-6 * np.abs(value)[:, None]
    assert np.all(np.abs(grad - fd) < 1e-5 * scale), np.abs(grad - fd).max()
    single_value, single_grad = ld.logp_and_grad(points[0])
    assert np.ndim(single_value) == 0 and single_grad.shape == (task.dim,)


# -- (c) log evidence --------------------------------------------------------------------------


def _quad_log_integral(logf, task, lo, hi, inner=None) -> float:
    """log of the integral of exp(logf) over a box (1-D) or a region (2-D) by adaptive quadrature."""
    shift = float(logf(np.atleast_2d(task.truth.mean))[0])  # any constant: keeps exp() in range
    opts = {"epsabs": 0.0, "epsrel": 1e-10}
    if task.dim == 1:
        val, _ = integrate.quad(lambda t: np.exp(logf(np.array([[t]]))[0] - shift), lo, hi, limit=200, **opts)
    else:
        glo, ghi = inner

        def f(t2, t1):
            return np.exp(logf(np.array([[t1, t2]]))[0] - shift)

        val, _ = integrate.dblquad(f, lo, hi, glo, ghi, **opts)
    return shift + np.log(val)


def _box(task, k=12.0):
    m, s = task.truth.mean, task.truth.sd
    return m - k * s, m + k * s


def _region(task):
    """Where the posterior's mass is, for quadrature: outer bounds and, in 2-D, inner bounds in t1."""
    name, params = task.name, task.params
    lo, hi = _box(task)
    inner = (lambda t1, a=lo[1]: a, lambda t1, b=hi[1]: b) if task.dim == 2 else None
    if name == "funnel":  # x | v has scale exp(v / 2)
        lo, hi = (-30.0,), (30.0,)
        inner = (lambda v: -40 * np.exp(0.5 * v), lambda v: 40 * np.exp(0.5 * v))
    elif name == "banana":  # x2 | x1 is centred on the parabola
        b = params.get("curvature", 0.03)
        lo, hi = (-120.0,), (120.0,)
        inner = (lambda t: b * (t**2 - 100) - 40, lambda t: b * (t**2 - 100) + 40)
    elif name == "mixture":
        lo, hi = np.full(task.dim, -25.0), np.full(task.dim, 25.0)
        inner = (lambda t: -25.0, lambda t: 25.0) if task.dim == 2 else None
    return lo[0], hi[0], inner


QUAD_CASES = [
    ("gaussian", {"dim": 1, "rho": 0.5}),
    ("gaussian", {"dim": 2, "rho": 0.9}),
    ("gaussian_illcond", {"dim": 1}),
    ("gaussian_illcond", {"dim": 2, "condition": 100.0, "seed": 3}),
    ("linear_regression", {"dim": 1, "n": 40}),
    ("linear_regression", {"dim": 2, "n": 30, "noise": 0.5, "prior_scale": 2.0}),
    ("funnel", {"dim": 2}),
    ("banana", {"dim": 2}),
    ("banana", {"dim": 2, "curvature": 0.1}),
    ("mixture", {"dim": 2}),
    ("mixture", {"dim": 1, "separation": 5.0}),
    ("linear_regression_nig", {"dim": 1, "n": 20, "a0": 3.0, "b0": 1.0, "prior_scale": 2.0}),
    ("gmrf", {"grid": 1}),
]
QUAD_IDS = [f"{n}-{p}" for n, p in QUAD_CASES]


@pytest.mark.parametrize("name,params", QUAD_CASES, ids=QUAD_IDS)
def test_log_evidence_by_quadrature(name, params):
    task = vibench.get_task(name, **params)
    expected = _quad_log_integral(task.log_density.logp, task, *_region(task))
    np.testing.assert_allclose(task.truth.log_evidence, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name,params", QUAD_CASES, ids=QUAD_IDS)
def test_normalized_logpdf_integrates_to_one(name, params):
    """The truth's normalized density, integrated by quadrature without its ``log_evidence``: log 1 = 0.

    Funnel, banana, mixture and the normal-inverse-gamma define ``logpdf`` as ``logp - log_evidence``;
    this is what checks that it is normalized (in every dimension: the entropy test below)."""
    task = vibench.get_task(name, **params)
    assert abs(_quad_log_integral(task.truth.logpdf, task, *_region(task))) < 1e-6


@pytest.mark.parametrize("params", [{"dim": 2, "n": 30, "noise": 0.5, "prior_scale": 2.0}, {"dim": 10, "n": 100}, {}])
def test_linear_regression_evidence_is_marginal_likelihood(params):
    task = vibench.get_task("linear_regression", **params)
    X, y, noise, tau = (task.data[k] for k in ("X", "y", "noise", "prior_scale"))
    cov_y = noise**2 * np.eye(len(y)) + tau**2 * X @ X.T
    expected = stats.multivariate_normal(np.zeros(len(y)), cov_y).logpdf(y)
    np.testing.assert_allclose(task.truth.log_evidence, expected, rtol=0, atol=1e-8)


@pytest.mark.parametrize("params", [{"dim": 1, "n": 20, "a0": 3.0, "b0": 1.0, "prior_scale": 2.0}, {}])
def test_nig_evidence_is_student_t(params):
    task = vibench.get_task("linear_regression_nig", **params)
    X, y, a0, b0, tau = (task.data[k] for k in ("X", "y", "a0", "b0", "prior_scale"))
    shape = b0 / a0 * (np.eye(len(y)) + tau**2 * X @ X.T)
    expected = stats.multivariate_t(np.zeros(len(y)), shape, df=2 * a0).logpdf(y)
    np.testing.assert_allclose(task.truth.log_evidence, expected, rtol=0, atol=1e-8)


# -- logp is the model as defined, computed another way ----------------------------------------


def _direct_logp(task, x):
    """The task's unnormalized log density written straight from its model definition."""
    p, d = task.params, task.data
    if task.name == "linear_regression":
        X, y = d["X"], d["y"]
        return np.array(
            [stats.norm.logpdf(y, X @ b, p["noise"]).sum() + stats.norm.logpdf(b, 0, p["prior_scale"]).sum() for b in x]
        )
    if task.name == "linear_regression_nig":
        X, y, k = d["X"], d["y"], p["dim"]
        out = []
        for z in x:
            b, s = z[:k], z[k]
            sig = np.exp(0.5 * s)
            lp = stats.invgamma.logpdf(np.exp(s), p["a0"], scale=p["b0"]) + s
            lp += stats.norm.logpdf(b, 0, sig * p["prior_scale"]).sum() + stats.norm.logpdf(y, X @ b, sig).sum()
            out.append(lp)
        return np.array(out)
    if task.name == "funnel":
        v = x[:, 0]
        return stats.norm.logpdf(v, 0, 3) + stats.norm.logpdf(x[:, 1:], 0, np.exp(0.5 * v)[:, None]).sum(axis=1)
    if task.name == "banana":
        b = p["curvature"]
        z = x.copy()
        z[:, 1] -= b * (x[:, 0] ** 2 - 100)
        return stats.norm.logpdf(z[:, 0], 0, 10) + stats.norm.logpdf(z[:, 1:]).sum(axis=1)
    if task.name == "mixture":
        e = np.ones(task.dim) / np.sqrt(task.dim)
        delta = p["separation"] / 2
        comps = [stats.multivariate_normal(s * delta * e, np.eye(task.dim)).logpdf(x) for s in (-1, 1)]
        return logsumexp(np.column_stack(comps).reshape(len(x), 2), axis=1) + np.log(0.5)
    return task.truth.logpdf(x) + task.truth.log_evidence  # Gaussian tasks: covered by quadrature


def test_logp_matches_model_definition(case):
    task, draws = case
    rng = np.random.default_rng(11)
    points = np.vstack([np.array([task.initial_point(rng) for _ in range(4)]), draws[:4]])
    np.testing.assert_allclose(task.log_density.logp(points), _direct_logp(task, points), rtol=1e-10, atol=1e-8)


# -- (d) normalized logpdf ---------------------------------------------------------------------


GAUSSIAN_CASES = [(n, p) for n, p in CASES if vibench.get_task(n, **p).truth.kind == "gaussian"]


@pytest.mark.parametrize("name,params", GAUSSIAN_CASES, ids=[f"{n}-{p}" for n, p in GAUSSIAN_CASES])
def test_gaussian_logpdf_is_logp_minus_log_evidence(name, params):
    """A Gaussian truth's ``logpdf`` comes from its mean and covariance (or precision), ``log_evidence``
    from a closed form and ``logp`` from the model: three computations that must agree. (The exact tasks
    define ``logpdf`` as ``logp - log_evidence``, so for them this would be true by construction: their
    normalization is tested by quadrature and by the entropy instead.)"""
    task = vibench.get_task(name, **params)
    rng = np.random.default_rng(3)
    points = np.vstack([np.array([task.initial_point(rng) for _ in range(5)]), task.truth.sample(5, rng)])
    expected = task.log_density.logp(points) - task.truth.log_evidence
    np.testing.assert_allclose(task.truth.logpdf(points), expected, rtol=1e-10, atol=1e-8)


def _mixture_entropy(dim: int, separation: float) -> float:
    """The two-component mixture along ``e`` times N(0, I) across it: (d - 1) Gaussian entropies plus
    the entropy of the 1-D mixture 0.5 N(-s/2, 1) + 0.5 N(s/2, 1), by quadrature."""
    delta = 0.5 * separation

    def log_p(t):
        return np.logaddexp(stats.norm.logpdf(t, -delta, 1), stats.norm.logpdf(t, delta, 1)) + np.log(0.5)

    h1, _ = integrate.quad(lambda t: -np.exp(log_p(t)) * log_p(t), -delta - 40, delta + 40, limit=400,
                           epsabs=1e-12)
    return (dim - 1) * 0.5 * np.log(2 * np.pi * np.e) + h1


def _entropy(task) -> float:
    """The posterior's entropy, computed without the task's code (closed forms, 1-D quadrature)."""
    d = task.dim
    gauss1 = 0.5 * np.log(2 * np.pi * np.e)
    if task.truth.kind == "gaussian":
        return 0.5 * np.linalg.slogdet(2 * np.pi * np.e * task.truth.cov)[1]
    if task.name == "funnel":  # H(v) + E[H(x | v)], E[v] = 0
        return gauss1 + np.log(3.0) + (d - 1) * gauss1
    if task.name == "banana":  # unit-Jacobian map of N(0, diag(100, 1, ...))
        return d * gauss1 + np.log(10.0)
    if task.name == "linear_regression_nig":  # H(s) + E[H(beta | s)]
        a, b, k = task.data["a_n"], task.data["b_n"], task.params["dim"]
        e_s = np.log(b) - digamma(a)
        h_s = gammaln(a) - a * digamma(a) + a
        return h_s + 0.5 * np.linalg.slogdet(2 * np.pi * np.e * task.data["V_n"])[1] + 0.5 * k * e_s
    if task.name == "mixture":
        return _mixture_entropy(d, task.params["separation"])
    raise AssertionError(f"no closed-form entropy for {task.label}: add one")


def test_logpdf_mean_over_draws_is_minus_entropy(case):
    task, draws = case
    entropy = _entropy(task)
    lp = task.truth.logpdf(draws)
    assert abs(lp.mean() + entropy) < Z * lp.std() / np.sqrt(len(lp))


def test_mixture_entropy_bounds():
    """Well-separated equal mixture: entropy = Gaussian entropy + log 2, up to the overlap."""
    task = vibench.get_task("mixture", dim=3, separation=12.0)
    lp = task.truth.logpdf(task.truth.sample(N_DRAWS, np.random.default_rng(2)))
    expected = 3 * 0.5 * np.log(2 * np.pi * np.e) + np.log(2)
    assert abs(lp.mean() + expected) < Z * lp.std() / np.sqrt(len(lp)) + 1e-6
    assert task.tags["multimodal"] is True


# -- structure that other components rely on -------------------------------------------------


def test_nig_data_contract():
    task = vibench.get_task("linear_regression_nig", n=50, dim=3)
    d = task.data
    assert set(d) == {"X", "y", "a0", "b0", "prior_scale", "m_n", "V_n", "a_n", "b_n"}
    assert d["X"].shape == (50, 3) and d["y"].shape == (50,) and d["V_n"].shape == (3, 3)
    assert task.dim == 4 and d["a_n"] == d["a0"] + 25
    np.testing.assert_allclose(task.truth.mean[:3], d["m_n"])
    np.testing.assert_allclose(task.truth.cov[:3, :3], d["b_n"] / (d["a_n"] - 1) * d["V_n"])
    lr = vibench.get_task("linear_regression", n=50, dim=3)  # same simulated data
    np.testing.assert_array_equal(lr.data["X"], d["X"])
    np.testing.assert_array_equal(lr.data["y"], d["y"])


def test_params_are_coerced_and_recorded():
    task = vibench.get_task("funnel", dim=4.0)
    assert task.params == {"dim": 4} and task.dim == 4 and task.label == "funnel(dim=4)"
    task = vibench.get_task("banana", curvature=1)
    assert task.params == {"dim": 2, "curvature": 1.0}


# -- (e) impossible sizes ------------------------------------------------------------------------

BAD = [
    ("gaussian", {"dim": 0}),
    ("gaussian", {"rho": 1.0}),
    ("gaussian_illcond", {"condition": 0.5}),
    ("linear_regression", {"dim": 0}),
    ("linear_regression", {"n": 0}),
    ("linear_regression", {"noise": 0.0}),
    ("linear_regression", {"prior_scale": -1.0}),
    ("funnel", {"dim": 0}),
    ("funnel", {"dim": 1}),
    ("banana", {"dim": 1}),
    ("banana", {"curvature": float("nan")}),
    ("mixture", {"dim": 0}),
    ("mixture", {"separation": -1.0}),
    ("linear_regression_nig", {"dim": 0}),
    ("linear_regression_nig", {"n": 0}),
    ("linear_regression_nig", {"a0": 0.0}),
    ("linear_regression_nig", {"b0": -2.0}),
    ("linear_regression_nig", {"n": 1, "a0": 0.4}),
    ("funnel", {"size": 3}),
]


@pytest.mark.parametrize("name,params", BAD, ids=[f"{n}-{p}" for n, p in BAD])
def test_bad_sizes_raise(name, params):
    with pytest.raises(vibench.VibenchError):
        vibench.get_task(name, **params)


# -- the Gaussian tasks' own oracle -----------------------------------------------------------


@pytest.mark.parametrize("dim,rho", [(1, 0.9), (2, 0.9), (5, 0.5), (100, 0.9), (30, -0.7)])
def test_ar1_meanfield_kl_formula(dim, rho):
    prec = ar1_precision(dim, rho)
    np.testing.assert_allclose(ar1_meanfield_kl(dim, rho), meanfield_kl(prec), rtol=1e-10, atol=1e-12)
    cov = rho ** np.abs(np.subtract.outer(np.arange(dim), np.arange(dim)))
    np.testing.assert_allclose(prec @ cov, np.eye(dim), atol=1e-10)
    if dim == 100 and rho == 0.9:
        assert round(ar1_meanfield_kl(dim, rho), 2) == 29.90


def test_an_exact_truth_says_how_it_was_computed(capsys):
    from vibench import cli

    truth = vibench.get_task("brownian_motion").truth
    assert truth.provenance["method"] == "closed form (Gaussian posterior)"
    assert truth.provenance["coordinates"] == [f"x[{t}]" for t in range(truth.dim)]
    assert cli.main(["truth", "brownian_motion"]) == 0  # and `vibench truth` prints it
    assert "  method: closed form (Gaussian posterior)" in capsys.readouterr().out.splitlines()
