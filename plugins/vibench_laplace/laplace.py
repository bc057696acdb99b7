"""Laplace approximation: N(MAP, (-Hessian)^-1) on the unconstrained space.

After the mode, one factorization of the negative Hessian serves everything:

* **dense** (any task): the Cholesky factor of the reversed ``-H`` gives the
  Newton step and, by one triangular inversion, the lower Cholesky factor of
  the covariance ``(-H)^-1`` that the approximation keeps (previously four or
  five O(d^3) factorizations and inversions);
* **banded** (a task whose ``tags["hessian_bandwidth"] = b`` promises that
  the Hessian of its log density is a band matrix of half-bandwidth ``b``,
  as for the AR(1) ``gaussian`` (b = 1) and the lattice ``gmrf`` (b = grid)):
  the Hessian comes from ``2 (2 b + 1)`` gradient evaluations (columns
  ``2 b + 1`` apart never share a row, so they are perturbed together), its
  one banded Cholesky factorization gives the Newton step, and the
  approximation is held by its banded precision: O(d b^2) time and O(d b)
  memory, so Laplace runs at d = 100,000.
"""

from __future__ import annotations

import time

import numpy as np

from vibench import Budget, GaussianApproximation, Method, Task
from vibench.truth import BandedPrecision, cov_chol_from_precision

__all__ = ["Laplace", "fd_hessian", "fd_hessian_banded"]


def fd_hessian(logp_and_grad, x: np.ndarray, rel_step: float = 1e-5) -> np.ndarray:
    """Hessian of a log density by central differences of its exact gradient.

    All ``2 d`` gradient evaluations go through one batched call. For a
    quadratic log density the differences are exact up to rounding.

    Parameters
    ----------
    logp_and_grad : callable
        Batched ``x[n, d] -> ([n], [n, d])``.
    x : ndarray, shape (d,)
    rel_step : float
        Step relative to ``max(1, |x_i|)``.

    Returns
    -------
    ndarray, shape (d, d)
        Symmetrized Hessian.
    """
    d = x.shape[0]
    h = rel_step * np.maximum(1.0, np.abs(x))
    points = np.concatenate([x + np.diag(h), x - np.diag(h)])
    _, grads = logp_and_grad(points)
    hess = (grads[:d] - grads[d:]) / (2 * h[:, None])
    return 0.5 * (hess + hess.T)


def fd_hessian_banded(logp_and_grad, x: np.ndarray, bandwidth: int, rel_step: float = 1e-5) -> np.ndarray:
    """Lower band of a band Hessian by central differences, ``2 (2 b + 1)`` gradients in one batched call.

    Columns ``j`` with equal ``j mod (2 b + 1)`` are perturbed together: no row
    has non-zeros in two of them, so each difference of gradients separates
    into its columns.

    Parameters
    ----------
    logp_and_grad : callable
        Batched ``x[n, d] -> ([n], [n, d])``.
    x : ndarray, shape (d,)
    bandwidth : int
        Half-bandwidth ``b`` of the Hessian (``H_ij = 0`` for ``|i - j| > b``).
    rel_step : float
        Step relative to ``max(1, |x_i|)``.

    Returns
    -------
    ndarray, shape (b + 1, d)
        Symmetrized lower band: ``band[k, j] = H[j + k, j]``.
    """
    d, b = x.shape[0], int(bandwidth)
    width = 2 * b + 1
    h = rel_step * np.maximum(1.0, np.abs(x))
    colour = np.arange(d) % width
    steps = np.zeros((width, d))
    steps[colour, np.arange(d)] = h
    _, grads = logp_and_grad(np.concatenate([x + steps, x - steps]))
    diff = grads[:width] - grads[width:]  # row c: sum over columns j of colour c of 2 h_j H[:, j]
    band = np.zeros((b + 1, d))
    for k in range(b + 1):
        j = np.arange(d - k)
        lower = diff[colour[j], j + k] / (2 * h[j])  # H[j + k, j]
        upper = diff[colour[j + k], j] / (2 * h[j + k])  # H[j, j + k]
        band[k, : d - k] = 0.5 * (lower + upper)
    return band


class Laplace(Method):
    """MAP by L-BFGS, then the inverse negative Hessian at the mode as covariance.

    The Hessian is the central difference of the task's exact gradient
    (``2 d`` gradient evaluations, one batched call; ``2 (2 b + 1)`` for a
    task tagged ``hessian_bandwidth = b``), followed by one Newton step from
    the optimizer's end point, so on a Gaussian target the result is exact to
    rounding whatever the optimizer's tolerance. One factorization of the
    negative Hessian serves the step and the covariance. ``Budget.steps``
    bounds the L-BFGS iterations.
    """

    name = "laplace"
    family = "laplace"
    steps_meaning = "L-BFGS iterations to the mode"

    def prepare(self, task: Task) -> None:
        """Import SciPy's optimizer: the runner books it as ``setup_s``, and registering stays cheap."""
        import scipy.optimize  # noqa: F401

    def fit(self, task: Task, budget: Budget, rng: np.random.Generator) -> GaussianApproximation:
        from scipy.optimize import minimize

        ld = task.log_density
        start = time.perf_counter()
        x0 = task.initial_point(rng)

        def neg(x):
            value, grad = ld.logp_and_grad(x[None, :])
            return -value[0], -grad[0]

        options = {"maxiter": int(budget.steps), "gtol": 1e-10, "ftol": 1e-15}
        res = minimize(neg, x0, jac=True, method="L-BFGS-B", options=options)
        mode = res.x
        bandwidth = task.tags.get("hessian_bandwidth")
        banded = bandwidth is not None and 2 * int(bandwidth) + 1 < mode.shape[0]
        try:
            if banded:
                prec = BandedPrecision(-fd_hessian_banded(ld.logp_and_grad, mode, int(bandwidth)))
                factor_min = float(np.min(prec.factor[0]))  # the one banded factorization
            else:
                chol = cov_chol_from_precision(-fd_hessian(ld.logp_and_grad, mode))  # the one factorization
                factor_min = float(1.0 / np.max(np.diag(chol)))
        except np.linalg.LinAlgError:
            raise RuntimeError("Hessian is not negative definite at the optimizer's end point") from None
        _, grad = ld.logp_and_grad(mode[None, :])
        newton = prec.solve(grad[0]) if banded else chol @ (chol.T @ grad[0])  # (-H)^-1 g
        mode = mode + newton
        info = {
            "iterations": int(res.nit),
            "converged": bool(res.success),
            "optimizer_message": str(res.message),
            "logp_at_mode": float(-res.fun),
            "newton_step_norm": float(np.linalg.norm(newton)),
            "chol_prec_min_diag": factor_min,
            "hessian": "banded" if banded else "dense",
            "seconds": time.perf_counter() - start,
        }
        if banded:
            return GaussianApproximation(mode, precision=prec, info=info)
        return GaussianApproximation(mode, chol=chol, info=info)
