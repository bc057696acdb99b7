"""Full-rank Gaussian VI: a damped Gaussian-Newton iteration on a fixed-draw ELBO.

Why this optimizer
------------------
A full-rank Gaussian has ``d + d(d+1)/2`` parameters (5,150 at ``d = 100``);
first-order methods on them (PyMC's ``fullrank_advi``, or L-BFGS on a
Cholesky factor) need thousands of iterations because the covariance block
is badly scaled. But the optimal ``q = N(m, S)`` satisfies two fixed-point
equations, ``E_q[grad log p] = 0`` and ``S^-1 = E_q[-hess log p]``, and both
expectations can be estimated from gradients alone: by Stein's lemma
(Price's theorem), with ``x_j = m + C eps_j`` and ``S = C C^T``,
``E_q[hess log p] = E[g eps^T] C^-1``. Iterating

    Lambda <- (1 - t) Lambda + t sym(-E[g eps^T] C^-1),
    m      <- m + t Lambda^-1 E[g]

is Newton's method in the Gaussian family: the variational online Newton /
natural-gradient update of the Bayesian learning rule (Khan and Rue 2023;
Opper and Archambeau 2009's fixed point at ``t = 1``). It converges in a
handful of iterations on smooth targets and in one on a Gaussian.

The expectations are averages over ``M`` *fixed* balanced draws
(:mod:`vibench_vi.draws`: zero sample mean and, because ``M > d``, sample
covariance exactly ``I``), so every quantity is deterministic: the step size
``t`` comes from backtracking on the fixed-draw ELBO (DADVI; Giordano, Ingram
and Broderick 2024), starting at the full Newton step ``t = 1``. Balanced
draws make both estimates exact whenever ``log p`` is quadratic. The run
stops when the ELBO gain that Newton predicts for the next step,
``0.5 g^T Lambda*^-1 g + KL(N(0, S) || N(0, Lambda*^-1))``, falls below
``tol`` nats, so convergence costs no extra evaluation.
"""

from __future__ import annotations

import time

import numpy as np

from vibench import Budget, GaussianApproximation, Method, Task

from .draws import balanced_draws
from .objective import Stopper, fresh_elbo, gaussian_entropy

__all__ = ["FullRankVI"]

#: Backtracking halvings of the Newton step before giving up.
MAX_HALVINGS = 12
#: Largest dimension supported: the draws take O(d^2) memory and a step O(d^3) time.
MAX_DIM = 2000
INITIAL_SCALES = (0.1, 0.01, 1e-3, 1e-4)  # tried in turn by _initial_state

LinAlgError = np.linalg.LinAlgError  # what scipy.linalg raises too

# SciPy's LAPACK and BLAS, imported on first use so that registering the plugin imports no SciPy
# (FullRankVI.prepare imports them before the fit clock starts).


def cholesky(a: np.ndarray, **kwargs) -> np.ndarray:
    """:func:`scipy.linalg.cholesky`."""
    from scipy.linalg import cholesky as _cholesky

    return _cholesky(a, **kwargs)


def eigh(a: np.ndarray, **kwargs):
    """:func:`scipy.linalg.eigh`."""
    from scipy.linalg import eigh as _eigh

    return _eigh(a, **kwargs)


def dtrmm(*args, **kwargs) -> np.ndarray:
    """BLAS ``dtrmm`` (:mod:`scipy.linalg.blas`)."""
    from scipy.linalg.blas import dtrmm as _dtrmm

    return _dtrmm(*args, **kwargs)


def dtrtri(*args, **kwargs):
    """LAPACK ``dtrtri`` (:mod:`scipy.linalg.lapack`)."""
    from scipy.linalg.lapack import dtrtri as _dtrtri

    return _dtrtri(*args, **kwargs)


def _lmul(lower: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``lower @ right`` for a lower triangular ``lower``: BLAS ``trmm``, half the flops of a product."""
    return dtrmm(1.0, lower.T, right, lower=0, trans_a=1)


def _rmul(left: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """``left @ lower`` for a lower triangular ``lower`` (``(lower^T left^T)^T`` by ``trmm``)."""
    return dtrmm(1.0, lower.T, left.T, lower=0, trans_a=0).T


class _PrecFactor:
    """The one Cholesky factorization of a precision ``Lambda`` that a Newton step needs.

    The reversed matrix is factorized, ``J Lambda J = Lr Lr^T`` (``J`` reverses
    the coordinates), so that ``C = J Lr^-T J`` is exactly the lower Cholesky
    factor of the covariance ``Lambda^-1`` and ``C^-1 = J Lr^T J`` comes free:
    draws use ``C``, the Stein Hessian ``E[g eps^T] C^-1`` is a product, and
    ``Lambda^-1 g = C C^T g`` two products. ``C`` is inverted once (one
    triangular inversion), never refactorized.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``Lambda`` is not positive definite.
    """

    def __init__(self, prec: np.ndarray):
        self.identity = False  # True only for the written-down identity (:meth:`isotropic`)
        lr = cholesky(prec[::-1, ::-1], lower=True, check_finite=False)
        inv, info = dtrtri(lr, lower=1)
        if info != 0:
            raise LinAlgError("singular precision")
        self.chol = np.ascontiguousarray(inv.T[::-1, ::-1])
        self.inv_chol = np.ascontiguousarray(lr.T[::-1, ::-1])
        self.logdet_prec = float(2.0 * np.sum(np.log(np.diag(lr))))

    @classmethod
    def isotropic(cls, dim: int, scale: float) -> "_PrecFactor":
        """The factor of ``Lambda = I / scale^2`` written down, not computed: ``C = scale I``."""
        factor = cls.__new__(cls)
        factor.identity = scale == 1.0
        factor.chol = scale * np.eye(dim)
        factor.inv_chol = np.eye(dim) / scale
        factor.logdet_prec = float(-2.0 * dim * np.log(scale))
        return factor

    def solve(self, g: np.ndarray) -> np.ndarray:
        """``Lambda^-1 g``."""
        return self.chol @ (self.chol.T @ g)


class _State:
    """The fixed-draw ELBO and its Stein estimates at ``q = N(m, C C^T)``."""

    def __init__(self, ld, eps: np.ndarray, mean: np.ndarray, prec: np.ndarray, factor: _PrecFactor):
        self.mean, self.prec, self.chol = mean, prec, factor.chol
        chol = factor.chol
        with np.errstate(over="ignore", invalid="ignore"):
            logp, grad = ld.logp_and_grad(mean + (eps if factor.identity else _lmul(chol, eps.T).T))
            self.elbo = float(np.mean(logp)) + gaussian_entropy(np.log(np.diag(chol)))
            self.elbo_se = float(np.std(logp) / np.sqrt(len(logp)))
        self.ok = bool(np.isfinite(self.elbo) and np.all(np.isfinite(grad)))
        if not self.ok:
            self.elbo = -np.inf
            return
        self.grad = grad.mean(axis=0)
        cross = grad.T @ eps / eps.shape[0]  # E[g eps^T]
        hess = cross if factor.identity else _rmul(cross, factor.inv_chol)  # E[g eps^T] C^-1
        self.target_prec = -0.5 * (hess + hess.T)


def _positive(target: np.ndarray, current: np.ndarray, max_growth: float = 2.0) -> tuple[np.ndarray, _PrecFactor]:
    """``target`` made positive definite, no variance growing more than ``max_growth``-fold, and its factor.

    Where ``log p`` curves upwards (between the modes of a mixture, in a
    funnel's mouth) the Stein estimate of ``E[-hess log p]`` is not positive
    definite; its eigenvalues are floored at ``1 / max_growth`` times the
    smallest eigenvalue of the current precision, a trust region on the
    covariance that keeps one step from jumping to a mode-covering Gaussian.
    The factorization that tests definiteness is returned for reuse.
    """
    try:
        return target, _PrecFactor(target)
    except LinAlgError:
        w, v = eigh(target)
        floor = eigh(current, eigvals_only=True, subset_by_index=[0, 0])[0] / max_growth
        # a floor below the round-off of the largest eigenvalue leaves the rebuilt matrix indefinite
        # in floating point (ill-conditioned posteriors such as arma11): raise it until it factorizes
        top = float(np.max(np.abs(w)))
        for relative in (0.0, 1e-12, 1e-9, 1e-6):
            fixed = (v * np.maximum(w, max(floor, relative * top))) @ v.T
            fixed = 0.5 * (fixed + fixed.T)
            try:
                return fixed, _PrecFactor(fixed)
            except LinAlgError:
                continue
        raise


def predicted_gain(state: _State, target: np.ndarray, factor: _PrecFactor | None = None) -> float:
    """ELBO gain of the full Newton step if ``log p`` were quadratic (the Newton decrement)."""
    d = target.shape[0]
    factor = factor if factor is not None else _PrecFactor(target)
    half = factor.chol.T @ state.grad
    mean_part = float(half @ half)
    trace = float(np.sum(_lmul(factor.inv_chol, state.chol) ** 2))  # tr(target S) = ||C_t^-1 C||_F^2
    logdet = factor.logdet_prec + 2 * np.sum(np.log(np.diag(state.chol)))
    return 0.5 * mean_part + 0.5 * (trace - d - logdet)


def _line_search(ld, eps: np.ndarray, state: _State, target: np.ndarray,
                 target_factor: _PrecFactor) -> tuple[_State | None, int, float]:
    """Backtrack from the full Newton step ``t = 1`` until the fixed-draw ELBO rises.

    Each trial factorizes its precision once (the full step reuses ``target_factor``).

    Returns
    -------
    state : _State or None
        The accepted point, or None when no step in ``MAX_HALVINGS`` halvings helps.
    evals : int
        Batched evaluations spent.
    step : float
        The accepted ``t`` (0 when none).
    """
    t, evals = 1.0, 0
    for _ in range(MAX_HALVINGS + 1):
        prec = (1 - t) * state.prec + t * target
        try:
            factor = target_factor if t == 1.0 else _PrecFactor(prec)
        except LinAlgError:
            t *= 0.5
            continue
        mean = state.mean + t * factor.solve(state.grad)
        cand = _State(ld, eps, mean, prec, factor)
        evals += 1
        if cand.ok and cand.elbo > state.elbo:
            return cand, evals, t
        t *= 0.5
    return None, evals, 0.0


def _initial_state(ld, eps: np.ndarray, mean0: np.ndarray) -> tuple[_State, int]:
    """The start ``N(mean0, s^2 I)``: ``s = 1``, shrunk tenfold while that raises the fixed-draw ELBO.

    A unit covariance is far too wide on posteriors whose density explodes a
    few units from the initial point (an ARMA's recursion for ``|theta| > 1``
    gives log densities near ``-1e231``); there the Stein estimates are
    useless. Shrinking costs one batched evaluation per try, and one on a
    posterior whose scale is near 1.

    Returns
    -------
    state : _State
    evals : int
        Batched evaluations spent.
    """
    dim = mean0.size
    state = _State(ld, eps, mean0, np.eye(dim), _PrecFactor.isotropic(dim, 1.0))
    evals = 1
    for scale in INITIAL_SCALES:
        cand = _State(ld, eps, mean0, np.eye(dim) / scale**2, _PrecFactor.isotropic(dim, scale))
        evals += 1
        if cand.ok and (not state.ok or cand.elbo > state.elbo):
            state = cand
        elif state.ok:
            break
    return state, evals


class FullRankVI(Method):
    """Full-rank Gaussian VI by damped Gaussian-Newton steps on a fixed-draw ELBO.

    Parameters
    ----------
    draws_per_dim : float
        Fixed draws per dimension: ``M = max(min_draws, ceil(draws_per_dim (d + 1)))``.
        ``M > d`` makes the draws' sample covariance exactly the identity.
    min_draws : int
        Lower bound on ``M``.
    tol : float
        Stop when the next Newton step's predicted ELBO gain is below ``tol`` nats.
    n_elbo : int
        Fresh draws for the reported ELBO.
    """

    name = "fullrank"
    family = "fullrank"
    steps_meaning = "Newton iterations (each one batched evaluation, plus backtracking)"

    def __init__(self, draws_per_dim: float = 2.0, min_draws: int = 32, tol: float = 1e-4, n_elbo: int = 256):
        if draws_per_dim <= 1 or min_draws < 2 or tol <= 0 or n_elbo < 2:
            raise ValueError("need draws_per_dim > 1, min_draws >= 2, tol > 0 and n_elbo >= 2")
        self.draws_per_dim, self.min_draws = draws_per_dim, int(min_draws)
        self.tol, self.n_elbo = tol, int(n_elbo)

    def supports(self, task: Task) -> bool | str:
        """True up to ``MAX_DIM`` dimensions."""
        if task.dim > MAX_DIM:
            return f"fullrank needs O(d^2) memory and O(d^3) time per step; d = {task.dim} exceeds {MAX_DIM}"
        return True

    def n_draws(self, dim: int) -> int:
        """The number of fixed draws used at dimension ``dim``."""
        return max(self.min_draws, int(np.ceil(self.draws_per_dim * (dim + 1))))

    def prepare(self, task: Task) -> None:
        """Import SciPy's LAPACK and BLAS: the runner books it as ``setup_s``, not ``fit_s``."""
        import scipy.linalg.blas  # noqa: F401
        import scipy.linalg.lapack  # noqa: F401

    def fit(self, task: Task, budget: Budget, rng: np.random.Generator) -> GaussianApproximation:
        """Fit ``q = N(m, C C^T)`` to ``task`` within ``budget``.

        Parameters
        ----------
        task : Task
        budget : Budget
            ``steps`` bounds the Newton iterations; ``max_seconds``, if set,
            stops early (``converged`` is then False).
        rng : numpy.random.Generator
            Draws the starting point, the fixed draws and the ELBO draws.

        Returns
        -------
        GaussianApproximation
            Given by its Cholesky factor, with ``info``: ``iterations``,
            ``converged``, ``elbo``, ``elbo_se`` (fresh draws), ``elbo_fixed``,
            ``elbo_trace``, ``n_draws``, ``n_evals``, ``last_step``,
            ``predicted_gain``, ``n_grad``, ``n_logp``, ``seconds``.
        """
        start = time.perf_counter()
        ld, dim = task.log_density, task.dim
        before = ld.counts()
        eps = balanced_draws(self.n_draws(dim), dim, rng)
        mean0 = np.asarray(task.initial_point(rng), dtype=float)
        state, n_evals = _initial_state(ld, eps, mean0)
        if not state.ok:
            raise FloatingPointError(f"fullrank: log density not finite near the initial point of {task.label}")
        stopper = Stopper(budget.steps, budget.max_seconds)
        stopper.trace.append(-state.elbo)
        converged, step, gain = False, 0.0, np.inf
        while not stopper.exhausted:
            target, target_factor = _positive(state.target_prec, state.prec)
            gain = predicted_gain(state, target, target_factor)
            if gain < self.tol:
                converged = True
                break
            new, evals, step = _line_search(ld, eps, state, target, target_factor)
            n_evals += evals
            if new is None:
                # no step along the Newton direction raises the fixed-draw ELBO: the Newton fixed
                # point and the fixed-draw optimum differ by Monte Carlo error; converged if the
                # predicted gain is within that error
                # (a Monte Carlo error above one nat resolves nothing: no convergence claimed on it)
                converged = gain < max(100 * self.tol, min(state.elbo_se, 1.0))
                break
            stopper.update(-new.elbo, 0.0)
            state = new
        elbo, elbo_se = fresh_elbo(ld, state.mean, state.chol, rng, self.n_elbo)
        info = {
            "iterations": stopper.iterations,
            "converged": bool(converged and not stopper.out_of_time),
            "elbo": elbo,
            "elbo_se": elbo_se,
            "elbo_fixed": state.elbo,
            "elbo_trace": [-v for v in stopper.trace[-10:]],
            "n_draws": int(eps.shape[0]),
            "n_evals": n_evals,
            "last_step": step,
            "predicted_gain": float(gain),
            "n_grad": ld.n_grad - before["n_grad"],
            "n_logp": ld.n_logp - before["n_logp"],
            "seconds": time.perf_counter() - start,
        }
        return GaussianApproximation(state.mean, chol=state.chol, info=info)
