"""fullrank's pieces against closed forms, and its documented ``info``, where the mutation run found them unchecked.

The Newton iteration's parts each have an exact answer on a Gaussian target: the precision factor
(``C C^T = Lambda^-1``), the predicted gain (a Gaussian KL), the backtracking (the fixed-draw ELBO of a
1-D Gaussian is a known function of the precision), the start's shrinking, and the bookkeeping
(``n_grad = n_evals * n_draws``: every batched evaluation is one gradient per fixed draw).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import vibench
from vibench.density import LogDensity
from vibench_vi.draws import balanced_draws
from vibench_vi.fullrank import (
    MAX_HALVINGS,
    FullRankVI,
    _initial_state,
    _line_search,
    _positive,
    _PrecFactor,
    _State,
    predicted_gain,
)

from oracles import dense_kl, fit_after_earlier_use
from test_fullrank_start import narrow_task


def _fit(task, steps=1000, seed=0, method=None, **budget):
    method = method or vibench.get_method("fullrank")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return method.fit(task, vibench.Budget(steps, **budget), np.random.default_rng(seed))


def _spd(d, seed):
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T + d * np.eye(d)


def test_prec_factor_is_the_lower_cholesky_of_the_covariance():
    prec = _spd(5, 0)
    f = _PrecFactor(prec)
    cov = np.linalg.inv(prec)
    np.testing.assert_allclose(f.chol @ f.chol.T, cov, rtol=1e-12, atol=1e-15)
    assert np.allclose(f.chol, np.tril(f.chol), rtol=0, atol=0)  # lower triangular
    np.testing.assert_allclose(f.inv_chol @ f.chol, np.eye(5), atol=1e-12)
    assert f.logdet_prec == pytest.approx(np.linalg.slogdet(prec)[1], rel=1e-12)
    g = np.arange(5.0)
    np.testing.assert_allclose(f.solve(g), np.linalg.solve(prec, g), rtol=1e-12)
    assert f.identity is False
    with pytest.raises(np.linalg.LinAlgError):
        _PrecFactor(-np.eye(2))


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_isotropic_factor_is_the_computed_one_written_down(scale):
    f, ref = _PrecFactor.isotropic(3, scale), _PrecFactor(np.eye(3) / scale**2)
    np.testing.assert_allclose(f.chol, ref.chol, rtol=1e-14)
    np.testing.assert_allclose(f.inv_chol, ref.inv_chol, rtol=1e-14)
    assert f.logdet_prec == pytest.approx(ref.logdet_prec, rel=1e-12, abs=1e-14)
    assert f.identity is (scale == 1.0)


def _standard_normal_1d():
    return vibench.get_task("gaussian", dim=1, rho=0.0)  # N(0, 1): log Z = 0.5 log(2 pi) for its logp


def _state_1d(prec: float, eps):
    task = _standard_normal_1d()
    p = np.array([[prec]])
    return task, _State(task.log_density, eps, np.zeros(1), p, _PrecFactor(p))


def _elbo_1d(task, prec):
    """Exact ELBO of q = N(0, 1 / prec) against the task's N(0, 1): log Z - KL."""
    return task.truth.log_evidence - dense_kl(np.zeros(1), np.array([[1 / prec]]), np.zeros(1), np.eye(1))


def test_the_fixed_draw_state_of_a_gaussian_is_exact():
    eps = balanced_draws(32, 1, np.random.default_rng(0))
    task, state = _state_1d(0.5, eps)
    assert state.ok and state.elbo == pytest.approx(_elbo_1d(task, 0.5), abs=1e-12)
    np.testing.assert_allclose(state.grad, 0.0, atol=1e-12)  # E_q[-x] over draws of zero mean
    np.testing.assert_allclose(state.target_prec, [[1.0]], rtol=1e-12)  # E_q[-hess log p] = 1, by Stein


def test_line_search_backtracks_to_the_first_step_that_raises_the_elbo():
    """From q = N(0, 2) towards a wrong target precision 8: t = 1 (prec 8) and t = 1/2 (4.25) lower the ELBO,
    t = 1/4 (prec 2.375) raises it."""
    eps = balanced_draws(32, 1, np.random.default_rng(0))
    task, state = _state_1d(0.5, eps)
    assert _elbo_1d(task, 8.0) < _elbo_1d(task, 4.25) < _elbo_1d(task, 0.5) < _elbo_1d(task, 2.375)
    target = np.array([[8.0]])
    new, evals, step = _line_search(task.log_density, eps, state, target, _PrecFactor(target))
    assert (step, evals) == (0.25, 3)
    np.testing.assert_allclose(new.prec, [[2.375]], rtol=1e-14)
    assert new.elbo == pytest.approx(_elbo_1d(task, 2.375), abs=1e-12)


def test_line_search_gives_up_after_its_halvings():
    """At the optimum (prec 1) every step towards precision 8 lowers the ELBO: MAX_HALVINGS + 1 tries, no step."""
    eps = balanced_draws(32, 1, np.random.default_rng(0))
    task, state = _state_1d(1.0, eps)
    target = np.array([[8.0]])
    assert _line_search(task.log_density, eps, state, target, _PrecFactor(target)) == (None, MAX_HALVINGS + 1, 0.0)


def test_predicted_gain_is_the_newton_decrement():
    """``0.5 g' T^-1 g + KL(N(0, S) || N(0, T^-1))``: at S = 2, T = 1, g = 0 that is (2 - 1 - log 2) / 2."""
    eps = balanced_draws(32, 1, np.random.default_rng(0))
    _, state = _state_1d(0.5, eps)
    target = np.array([[1.0]])
    expected = 0.5 * (2.0 - 1.0 - np.log(2.0))
    assert predicted_gain(state, target) == pytest.approx(expected, rel=1e-12)
    assert predicted_gain(state, target, _PrecFactor(target)) == pytest.approx(expected, rel=1e-12)
    state.grad = np.array([0.3])
    assert predicted_gain(state, np.array([[4.0]])) == pytest.approx(
        0.5 * 0.09 / 4.0 + 0.5 * (8.0 - 1.0 - np.log(8.0)), rel=1e-12)


def test_positive_floors_the_eigenvalues_at_half_the_current_smallest():
    """An indefinite Stein target: eigenvalues below ``min eig(current) / max_growth`` are raised to it."""
    rot = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    target = (rot * np.array([4.0, -1.0, 2.0])) @ rot.T
    current = np.diag([3.0, 1.0, 5.0])
    fixed, factor = _positive(target, current)
    np.testing.assert_allclose(np.linalg.eigvalsh(fixed), [0.5, 2.0, 4.0], rtol=1e-12)
    np.testing.assert_allclose(factor.chol @ factor.chol.T, np.linalg.inv(fixed), rtol=1e-10)
    same, _ = _positive(np.eye(2), np.eye(2))
    np.testing.assert_array_equal(same, np.eye(2))


def test_positive_raises_the_floor_where_round_off_leaves_it_indefinite():
    """Eigenvalues 1e20 and -1 with a floor of 5e-4: rebuilt in a rotated basis the matrix is indefinite in
    floating point, so the floor rises to 1e-12 of the largest eigenvalue (1e8), the first rung that factorizes."""
    rot = np.linalg.qr(np.random.default_rng(2).normal(size=(2, 2)))[0]
    target = (rot * np.array([1e20, -1.0])) @ rot.T
    fixed, _ = _positive(target, 1e-3 * np.eye(2))
    low, high = np.linalg.eigvalsh(fixed)
    assert high == pytest.approx(1e20, rel=1e-10)
    assert low == pytest.approx(1e8, rel=1e-3)


def test_the_start_shrinks_while_the_elbo_rises():
    """N(0, 0.01^2 I): scales 1, 0.1 and 0.01 each raise the fixed-draw ELBO, 1e-3 lowers it: four evaluations."""
    task = narrow_task(0.01)
    eps = balanced_draws(32, 3, np.random.default_rng(0))
    state, evals = _initial_state(task.log_density, eps, np.zeros(3))
    assert evals == 4
    np.testing.assert_allclose(state.chol, 0.01 * np.eye(3), rtol=1e-14)
    np.testing.assert_allclose(state.prec @ (state.chol @ state.chol.T), np.eye(3), rtol=1e-12)


def test_a_state_is_not_ok_when_the_gradient_is_not_finite():
    base = _standard_normal_1d().log_density
    ld = LogDensity(1, base.logp, lambda x: (base.logp(x), np.full(x.shape, np.nan)))
    eps = balanced_draws(32, 1, np.random.default_rng(0))
    state = _State(ld, eps, np.zeros(1), np.eye(1), _PrecFactor(np.eye(1)))
    assert state.ok is False and state.elbo == -np.inf


def test_a_state_silences_overflow_and_invalid_values_of_the_log_density():
    """A log density whose draws overflow (exp(1000)) and subtract infinities: a failed state, no warning."""
    def logp_and_grad(x):
        v = np.exp(1000.0 * np.abs(x[:, 0]) + 1000.0)
        return -(v - v), np.zeros_like(x)

    ld = LogDensity(1, lambda x: logp_and_grad(x)[0], logp_and_grad)
    eps = balanced_draws(32, 1, np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state = _State(ld, eps, np.zeros(1), np.eye(1), _PrecFactor(np.eye(1)))
    assert state.ok is False


def test_state_elbo_se_matches_the_spread_over_iid_draws():
    """On iid draws, the fixed-draw ELBO's reported SE is its sd over 30 replicate draw sets.

    The ratio of the sample sd (29 degrees of freedom) to the true sd has a relative sd of about
    1 / sqrt(58) = 0.13; 3.5 of those bound the comparison.
    """
    task = vibench.get_task("banana")
    d, m = task.dim, 64
    prec = np.eye(d) / 0.25
    elbos, ses = [], []
    for seed in range(30):
        eps = np.random.default_rng(seed).standard_normal((m, d))
        state = _State(task.log_density, eps, np.zeros(d), prec, _PrecFactor(prec))
        elbos.append(state.elbo)
        ses.append(state.elbo_se)
    ratio = np.std(elbos, ddof=1) / np.sqrt(np.mean(np.square(ses)))
    assert abs(ratio - 1.0) < 3.5 / np.sqrt(2 * 29)


def test_n_draws_follows_its_formula():
    fr = FullRankVI()
    assert fr.n_draws(20) == 42 and fr.n_draws(3) == 32  # max(32, ceil(2 (d + 1)))
    assert FullRankVI(draws_per_dim=1.5, min_draws=4).n_draws(10) == 17


def test_fullrank_info_is_the_documented_one():
    task = vibench.get_task("gaussian", dim=10, rho=0.9)
    # a fresh instance, not the registry's: its defaults are the ones under test
    approx, before, wall = fit_after_earlier_use(lambda t: _fit(t, method=FullRankVI()), task)
    info = approx.info  # info counts only this fit's evaluations
    assert info["n_grad"] == task.log_density.n_grad - before["n_grad"]
    assert info["n_logp"] == task.log_density.n_logp - before["n_logp"]
    assert info["n_grad"] == info["n_evals"] * info["n_draws"] and info["n_draws"] == 32
    assert info["n_logp"] == 256  # value-only: the reported ELBO's fresh draws, n_elbo = 256 by default
    kl = dense_kl(approx.mean, approx.cov, task.truth.mean, task.truth.cov)
    assert info["elbo_fixed"] == pytest.approx(task.truth.log_evidence - kl, abs=1e-8)  # exact on a Gaussian
    assert info["elbo_trace"][-1] == info["elbo_fixed"] and info["elbo_trace"][0] < info["elbo_fixed"]
    assert info["iterations"] == 1 and info["last_step"] == 1.0 and info["converged"]
    assert 0.0 <= info["predicted_gain"] < FullRankVI().tol
    assert 0.0 <= info["seconds"] <= wall


def test_fullrank_info_on_a_long_run():
    """funnel, seed 0: 73 Newton steps, the trace holds the last ten ELBOs, every evaluation is counted."""
    approx = _fit(vibench.get_task("funnel", dim=5))
    info = approx.info
    assert info["iterations"] == 73 and len(info["elbo_trace"]) == 10
    assert info["n_grad"] == info["n_evals"] * info["n_draws"]


def test_fullrank_claims_convergence_when_no_step_helps_within_the_threshold():
    """banana, seed 0: the line search finds no step (last_step 0) with a predicted gain below 100 tol."""
    info = _fit(vibench.get_task("banana")).info
    assert info["last_step"] == 0.0 and info["predicted_gain"] < 100 * FullRankVI().tol
    assert info["converged"] is True


def test_fullrank_at_its_optimum_takes_no_step():
    """N(0, 1) started at its mean: the start is the optimum, so no Newton step and no iteration."""
    task = dataclasses.replace(_standard_normal_1d(), initial_point=lambda rng: np.zeros(1))
    info = _fit(task).info
    assert info["iterations"] == 0 and info["last_step"] == 0.0 and info["converged"]
    assert info["elbo_trace"] == [info["elbo_fixed"]]


def test_fullrank_budget_ends_without_a_convergence_claim():
    task = vibench.get_task("gaussian", dim=10, rho=0.9)
    timed = _fit(task, max_seconds=1e-9).info  # the deadline passes during the first step
    assert timed["iterations"] == 1 and timed["converged"] is False
    short = _fit(vibench.get_task("funnel", dim=5), steps=1).info
    assert short["iterations"] == 1 and short["converged"] is False


def test_fullrank_says_when_the_start_is_not_finite():
    task = vibench.get_task("gaussian", dim=2, rho=0.0)
    ld = LogDensity(2, lambda x: np.full(len(x), -np.inf),
                    lambda x: (np.full(len(x), -np.inf), np.zeros_like(x)))
    bad = dataclasses.replace(task, log_density=ld)
    with pytest.raises(FloatingPointError, match=r"^fullrank: log density not finite near the initial point of "):
        _fit(bad)


@pytest.mark.parametrize(
    ("elbo_se", "gain", "converged"),
    [
        # the Monte Carlo error is negligible: the threshold is 100 tol = 0.01 nats
        (1e-6, 0.0099, True), (1e-6, 0.01, False),
        # within (100 tol, 1): the predicted gain must be below the fixed draws' Monte Carlo error
        (0.5, 0.49, True), (0.5, 0.5, False),
        # an error above one nat resolves nothing: the threshold stops at one nat
        (3.0, 0.99, True), (3.0, 1.0, False), (3.0, 1.5, False),
    ],
)
def test_a_failed_line_search_converges_only_below_its_threshold(monkeypatch, elbo_se, gain, converged):
    """``converged = gain < max(100 tol, min(elbo_se, 1))`` when no step along the Newton direction helps.

    The pieces before it are replaced: the start's Monte Carlo error is set, the predicted gain is
    fixed (above ``tol``, so the loop does not stop on it) and the line search finds no step.
    """
    import vibench_vi.fullrank as fr

    real_initial = fr._initial_state

    def initial_with_se(ld, eps, mean0):
        state, n_evals = real_initial(ld, eps, mean0)
        state.elbo_se = elbo_se
        return state, n_evals

    monkeypatch.setattr(fr, "_initial_state", initial_with_se)
    monkeypatch.setattr(fr, "predicted_gain", lambda state, target, factor=None: gain)  # the factor is optional
    monkeypatch.setattr(fr, "_line_search", lambda ld, eps, state, target, factor: (None, 1, 0.0))
    assert FullRankVI().tol == 1e-4 and gain > FullRankVI().tol
    info = _fit(vibench.get_task("gaussian", dim=2, rho=0.5)).info
    assert info["converged"] is converged
    assert info["iterations"] == 0 and info["predicted_gain"] == gain and info["last_step"] == 0.0


@pytest.mark.parametrize("bad", [dict(draws_per_dim=1.0), dict(min_draws=1), dict(tol=0.0), dict(n_elbo=1)])
def test_fullrank_rejects_each_setting_at_its_bound(bad):
    with pytest.raises(ValueError, match=r"^need draws_per_dim > 1, min_draws >= 2, tol > 0 and n_elbo >= 2$"):
        FullRankVI(**bad)


def test_fullrank_accepts_each_setting_just_inside_its_bound():
    """Each bound on its own: the other three settings valid, one of them at the edge that is allowed."""
    for ok in (dict(draws_per_dim=1.001), dict(min_draws=2), dict(tol=1e-300), dict(n_elbo=2)):
        method = FullRankVI(**ok)
        assert {k: getattr(method, k) for k in ok} == ok
