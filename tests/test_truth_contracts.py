"""Contracts of the task truths that the mutation run of the truth area found unchecked (docs/mutation.md).

Each test recomputes what a docstring promises, independently of the code under test: the documented
simulation of the regression data, the documented AR(1) task, the validation messages a user reads,
the band layout's padding, and the whitening of a truth known only by its marginal sds.
"""

from __future__ import annotations

import numpy as np
import pytest

from vibench.banded import BandedPrecision
from vibench.errors import VibenchError
from vibench.tasks.gaussian import make_gaussian
from vibench.tasks.linear_regression import MAX_DIM, MAX_N, check_regression_sizes, simulate_regression
from vibench.truth import Truth


def test_simulate_regression_draws_x_beta_then_eps_as_documented():
    """``X ~ N(0, 1)^(n, dim)``, ``beta ~ N(0, I)``, ``y = X beta + noise * eps``, in that order of draws."""
    n, dim, noise, seed = 50, 3, 0.7, 11
    X, y, beta = simulate_regression(n, dim, noise, seed)
    rng = np.random.default_rng(seed)
    X_ref = rng.standard_normal((n, dim))
    beta_ref = rng.standard_normal(dim)
    eps = rng.standard_normal(n)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(beta, beta_ref)
    np.testing.assert_allclose(y, X_ref @ beta_ref + noise * eps, rtol=1e-14, atol=1e-14)


def test_simulated_residuals_have_the_noise_sd():
    """The residuals are N(0, noise^2): their sd within 4 standard errors (``sd / sqrt(2 n)``) of ``noise``."""
    n, noise = 20_000, 0.5
    X, y, beta = simulate_regression(n, 4, noise, seed=3)
    r = y - X @ beta
    assert abs(r.std(ddof=1) - noise) < 4 * noise / np.sqrt(2 * n)
    assert abs(r.mean()) < 4 * noise / np.sqrt(n)


@pytest.mark.parametrize("n, dim, prior_scale, message", [
    (10, 0, 1.0, f"dim must be between 1 and {MAX_DIM}, got 0"),
    (10, MAX_DIM + 1, 1.0, f"dim must be between 1 and {MAX_DIM}, got {MAX_DIM + 1}"),
    (0, 2, 1.0, f"n must be between 1 and {MAX_N}, got 0"),
    (MAX_N + 1, 2, 1.0, f"n must be between 1 and {MAX_N}, got {MAX_N + 1}"),
    (10, 2, 0.0, "prior_scale must be > 0, got 0.0"),
    (10, 2, -1.0, "prior_scale must be > 0, got -1.0"),
])
def test_regression_sizes_are_rejected_with_their_message(n, dim, prior_scale, message):
    with pytest.raises(VibenchError) as err:
        check_regression_sizes(n, dim, prior_scale)
    assert str(err.value) == message


def test_regression_sizes_at_the_limits_are_accepted():
    check_regression_sizes(MAX_N, MAX_DIM, 1e-12)
    check_regression_sizes(1, 1, 1.0)


@pytest.mark.parametrize("rho", [-1.0, 1.0, -1.5])
def test_gaussian_rho_outside_the_open_interval_is_rejected(rho):
    with pytest.raises(VibenchError) as err:
        make_gaussian(dim=3, rho=rho)
    assert str(err.value) == f"rho must be in (-1, 1), got {rho}"


@pytest.mark.parametrize("dim", [1, 2, 7])
def test_gaussian_task_is_the_documented_ar1(dim):
    """Mean ``linspace(-1, 1, d)`` (0 at d = 1), unit marginal sds, correlation ``rho^|i-j|``."""
    rho = 0.6
    task = make_gaussian(dim=dim, rho=rho)
    mean = np.linspace(-1.0, 1.0, dim) if dim > 1 else np.zeros(1)
    np.testing.assert_allclose(task.truth.mean, mean, rtol=0, atol=1e-15)
    np.testing.assert_allclose(task.truth.sd, 1.0, rtol=1e-12)
    lag = np.abs(np.subtract.outer(np.arange(dim), np.arange(dim)))
    cov = rho**lag
    np.testing.assert_allclose(task.truth.cov, cov, rtol=1e-12, atol=1e-14)
    x = np.random.default_rng(dim).normal(size=(3, dim))
    y = x - mean
    expected = -0.5 * np.einsum("nd,nd->n", y, np.linalg.solve(cov, y.T).T)
    np.testing.assert_allclose(task.log_density.logp(x), expected, rtol=1e-12)


def test_band_padding_is_ignored():
    """Entries past the end of each sub-diagonal (``band[k, d - k:]``) are padding: zeroed, whatever was given."""
    d = 6
    band = np.array([np.full(d, 4.0), np.full(d, -1.0), np.full(d, 0.5)])
    padded = band.copy()
    padded[1, d - 1:] = 7.0
    padded[2, d - 2:] = -9.0
    p, q = BandedPrecision(band), BandedPrecision(padded)
    clean = band.copy()
    clean[1, d - 1:] = 0.0
    clean[2, d - 2:] = 0.0
    np.testing.assert_array_equal(q.band, clean)
    np.testing.assert_array_equal(q.dense(), p.dense())
    assert q.logdet() == pytest.approx(np.linalg.slogdet(p.dense())[1], rel=1e-12)
    np.testing.assert_allclose(q.variances(), np.diag(np.linalg.inv(p.dense())), rtol=1e-12)


def test_a_one_dimensional_band_is_a_diagonal_precision():
    p = BandedPrecision(np.array([2.0, 4.0, 8.0]))
    assert p.bandwidth == 0 and p.dim == 3
    np.testing.assert_allclose(p.variances(), [0.5, 0.25, 0.125], rtol=1e-14)


def test_whitening_a_truth_known_by_its_sds_divides_by_them():
    """Without a covariance, the whitened projection of ``x - mean`` on ``u`` is ``(x - mean) @ (u / sd)``."""
    sd = np.array([0.5, 2.0, 4.0])
    truth = Truth(kind="gaussian", mean=np.zeros(3), sd=sd)
    assert truth.precision is None and not truth.has_dense_cov
    u = np.eye(3)
    x = np.array([[1.0, 1.0, 1.0]])
    np.testing.assert_allclose(x @ truth.whiten_directions(u), x / sd, rtol=1e-14)


def test_truth_stores_float_arrays_whatever_it_is_given():
    truth = Truth(kind="gaussian", mean=[0, 1, 2], sd=[1, 2, 3])
    assert truth.mean.dtype == np.float64 and truth.sd.dtype == np.float64
    truth.cov = np.diag([1, 4, 9])
    assert truth.cov.dtype == np.float64
    assert BandedPrecision(np.array([[2, 2, 2], [-1, -1, 0]])).band.dtype == np.float64


def test_an_unknown_truth_kind_is_named_in_the_error():
    with pytest.raises(ValueError, match=r"Truth.kind must be one of .*, got 'bogus'"):
        Truth(kind="bogus", mean=np.zeros(1), sd=np.ones(1))


def test_a_banded_truth_caches_its_dense_covariance_up_to_the_dense_size(monkeypatch):
    import vibench.truth as truth_module

    monkeypatch.setattr(truth_module, "DENSE_COV_MAX_DIM", 4)
    small, large = make_gaussian(dim=4, rho=0.5).truth, make_gaussian(dim=5, rho=0.5).truth
    assert small.cov is not None and small.cov is small.cov  # computed once, at d = DENSE_COV_MAX_DIM
    np.testing.assert_allclose(small.cov, 0.5 ** np.abs(np.subtract.outer(np.arange(4), np.arange(4))), rtol=1e-12)
    assert large.cov is None and large.precision is not None


def test_setting_the_covariance_drops_the_cached_cholesky_factor():
    truth = Truth(kind="gaussian", mean=np.zeros(2), sd=np.ones(2))
    truth.cov = np.eye(2)
    np.testing.assert_allclose(truth.cov_chol, np.eye(2))
    new = np.array([[4.0, 1.0], [1.0, 2.0]])
    truth.cov = new
    np.testing.assert_allclose(truth.cov_chol @ truth.cov_chol.T, new, rtol=1e-14)


def test_brownian_motion_exposes_its_data_under_the_documented_keys():
    from vibench.tasks.brownian_motion import INNOVATION_SCALE, OBSERVATION_SCALE, OBSERVED, make_brownian_motion

    data = make_brownian_motion().data
    assert set(data) == {"observed", "innovation_scale", "observation_scale"}
    assert data["innovation_scale"] == INNOVATION_SCALE and data["observation_scale"] == OBSERVATION_SCALE
    np.testing.assert_array_equal(data["observed"], OBSERVED)
