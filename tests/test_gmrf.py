"""The lattice GMRF task against an independent construction: scipy.sparse's Kronecker sum of path Laplacians.

``Q = tau (kappa^2 I + Delta)`` with ``Delta = L (x) I + I (x) L``, ``L`` the
Laplacian of the path on ``n`` vertices (free boundaries): built here with
scipy.sparse, not with the task's band, so a wrong degree at the lattice's
edge, a wrong neighbour or a wrong default is seen.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import vibench
from vibench import VibenchError
from vibench.tasks import gmrf
from vibench.tasks.gmrf import lattice_band


def lattice_precision(n: int, kappa: float, tau: float) -> np.ndarray:
    """``tau (kappa^2 I + L (x) I + I (x) L)`` as a dense array, from scipy.sparse."""
    path = sp.diags([-np.ones(n - 1), np.r_[1.0, 2.0 * np.ones(n - 2), 1.0] if n > 1 else [0.0], -np.ones(n - 1)],
                    [-1, 0, 1])
    eye = sp.identity(n)
    return (tau * (kappa**2 * sp.identity(n * n) + sp.kron(path, eye) + sp.kron(eye, path))).toarray()


@pytest.mark.parametrize("n, kappa, tau", [(1, 0.5, 1.0), (2, 0.7, 1.5), (3, 1.2, 0.5), (5, 0.3, 2.0)])
def test_lattice_band_is_the_kronecker_sum_of_path_laplacians(n, kappa, tau):
    band = lattice_band(n, kappa, tau)
    want = lattice_precision(n, kappa, tau)
    np.testing.assert_allclose(band.dense(), want, rtol=1e-14, atol=0)
    rng = np.random.default_rng(n)
    y = rng.normal(size=(3, n * n))
    np.testing.assert_allclose(band.matvec_rows(y), y @ want, rtol=1e-12, atol=1e-12)


def test_lattice_band_defaults_to_tau_one():
    np.testing.assert_array_equal(lattice_band(3, 0.5).dense(), lattice_precision(3, 0.5, 1.0))


def test_gmrf_defaults_name_and_params():
    task = vibench.get_task("gmrf")
    assert task.name == "gmrf"
    assert task.params == {"grid": 10, "kappa": 0.5, "tau": 1.0}
    direct = gmrf.make_gmrf(grid=3, kappa=0.25, tau=2.0)  # the factory's own label, not the registry's
    assert (direct.name, direct.params) == ("gmrf", {"grid": 3, "kappa": 0.25, "tau": 2.0})
    assert task.dim == 100
    np.testing.assert_allclose(task.truth.precision.dense(), lattice_precision(10, 0.5, 1.0), rtol=1e-14)


def test_gmrf_mean_is_the_smooth_field_at_the_cell_centres():
    """``mean[i n + j] = sin(pi u_i) cos(pi u_j)`` with ``u_i = (i + 1/2) / n``."""
    n = 4
    task = vibench.get_task("gmrf", grid=n)
    i, j = np.divmod(np.arange(n * n), n)
    want = np.sin(np.pi * (i + 0.5) / n) * np.cos(np.pi * (j + 0.5) / n)
    np.testing.assert_allclose(task.truth.mean, want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("n, kappa, tau", [(1, 0.5, 1.0), (3, 0.8, 1.7), (4, 0.4, 0.6)])
def test_gmrf_log_density_is_the_gaussian_with_that_precision(n, kappa, tau):
    """logp and its gradient, the five-point stencil, against the dense quadratic form (up to the constant
    the task leaves out) and the truth's logpdf against scipy's multivariate normal."""
    from scipy.stats import multivariate_normal

    task = vibench.get_task("gmrf", grid=n, kappa=kappa, tau=tau)
    q = lattice_precision(n, kappa, tau)
    x = np.random.default_rng(1).normal(size=(5, n * n))
    y = x - task.truth.mean
    value, grad = task.log_density.logp_and_grad(x)
    np.testing.assert_allclose(value, -0.5 * np.einsum("nd,de,ne->n", y, q, y), rtol=1e-12)
    np.testing.assert_allclose(grad, -y @ q, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(task.log_density.logp(x), value, rtol=1e-14)
    exact = multivariate_normal(task.truth.mean, np.linalg.inv(q)).logpdf(x)
    np.testing.assert_allclose(task.truth.logpdf(x), exact, rtol=1e-10)


@pytest.mark.parametrize("params, message", [
    ({"grid": 0}, "grid must be between 1 and 200, got 0"),
    ({"kappa": 0.0}, "kappa must be > 0, got 0.0"),
    ({"tau": 0.0}, "tau must be > 0, got 0.0"),
])
def test_gmrf_refuses_impossible_sizes_with_their_message(params, message):
    with pytest.raises(VibenchError, match=f"^{message}$"):
        gmrf.make_gmrf(**params)


def test_gmrf_accepts_max_grid_and_refuses_one_more(monkeypatch):
    monkeypatch.setattr(gmrf, "MAX_GRID", 3)  # the bound itself, without a 40,000-dim build
    assert gmrf.make_gmrf(grid=3).dim == 9
    with pytest.raises(VibenchError, match="^grid must be between 1 and 3, got 4$"):
        gmrf.make_gmrf(grid=4)
