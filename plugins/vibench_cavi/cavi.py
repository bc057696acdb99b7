"""Coordinate-ascent variational inference (CAVI) for the normal-inverse-gamma regression.

The classic worked example of variational inference: the mean-field family
``q(beta) q(sigma2)`` with closed-form coordinate updates (see
:mod:`vibench_cavi.nig`). Every sweep updates ``q(beta)`` then ``q(sigma2)``;
each update maximizes the ELBO over one factor exactly, so the ELBO never
decreases. CAVI uses the model's structure (``Task.data``), not the log
density: it makes no gradient evaluations (``n_grad`` stays 0) and its cost
is wall time alone.
"""

from __future__ import annotations

import time

import numpy as np

from vibench import Budget, Method, Task

from .nig import NIGApproximation, NIGData, NIGFactors, elbo

__all__ = ["CAVI", "TASK_NAME", "REQUIRED_DATA", "monotone"]

TASK_NAME = "linear_regression_nig"
REQUIRED_DATA = ("X", "y", "a0", "b0", "prior_scale")


def monotone(trace: list[float] | np.ndarray, rel: float = 1e-9) -> bool:
    """Whether an ELBO trace never decreases, up to rounding.

    A step may fall by at most ``rel * max(1, |trace[-1]|)``: CAVI's updates
    cannot lower the ELBO, so a larger fall is a bug, not noise.
    """
    trace = np.asarray(trace, dtype=float)
    return bool(np.all(np.diff(trace) >= -rel * max(1.0, abs(trace[-1]))))


class CAVI(Method):
    """CAVI for ``linear_regression_nig``.

    Parameters
    ----------
    rtol : float
        Converged when a sweep changes every variational parameter by less
        than ``rtol`` relative to its size (the ELBO itself is flat to second
        order at the optimum, so a tolerance on it would stop ``sqrt`` as early).
    trace_tail : int
        How many of the last ELBO values ``info["elbo_trace"]`` keeps.
    """

    name = "cavi"
    family = "cavi"
    steps_meaning = "CAVI sweeps (update q(beta), then q(sigma2))"

    def __init__(self, rtol: float = 1e-10, trace_tail: int = 10):
        self.rtol = rtol
        self.trace_tail = trace_tail

    def supports(self, task: Task) -> bool | str:
        """True for ``linear_regression_nig``; a reason string for any other task."""
        if task.name != TASK_NAME:
            return f"cavi has closed-form updates only for {TASK_NAME}, not {task.name}"
        missing = [k for k in REQUIRED_DATA if k not in task.data]
        if missing:
            return f"task data lacks {', '.join(missing)}, which the CAVI updates need"
        return True

    def prepare(self, task: Task) -> None:
        """Import SciPy's special functions: the runner books it as ``setup_s``, not ``fit_s``."""
        import scipy.special  # noqa: F401

    def fit(self, task: Task, budget: Budget, rng: np.random.Generator) -> NIGApproximation:
        """Run CAVI sweeps on ``task`` until the ELBO stops rising or the budget is spent.

        Parameters
        ----------
        task : Task
            A ``linear_regression_nig`` task.
        budget : Budget
            ``steps`` bounds the sweeps; ``max_seconds``, if set, stops early.
        rng : numpy.random.Generator
            Draws the starting point: ``q(sigma2)`` starts as
            ``InvGamma(a, a exp(s0))``, with ``a = a0 + (n + dim) / 2`` (the
            shape every update gives) and ``s0`` the last coordinate of
            ``task.initial_point(rng)``, so ``E[1 / sigma2] = exp(-s0)``;
            ``q(beta)`` starts at its update from there.

        Returns
        -------
        NIGApproximation
            With ``info``: ``iterations`` and ``sweeps`` (the same count),
            ``converged``, ``elbo`` (exact), ``elbo_trace`` (the last values,
            starting with the ELBO before the first sweep when it fits),
            ``monotone``, ``n_grad`` (0), ``seconds``.
        """
        reason = self.supports(task)
        if reason is not True:
            raise ValueError(reason)
        start = time.perf_counter()
        deadline = None if budget.max_seconds is None else start + budget.max_seconds
        data = NIGData.from_task_data(task.data)
        s0 = float(np.asarray(task.initial_point(rng))[-1])
        a_init = data.a0 + 0.5 * (data.n + data.dim)
        q = NIGFactors(mu=np.zeros(data.dim), sigma=np.eye(data.dim), a=a_init, b=a_init * np.exp(s0))
        q.update_beta(data)  # q(beta) from the starting q(sigma2), so the initial ELBO is defined
        trace = [elbo(data, q)]
        converged, sweeps = False, 0
        while sweeps < budget.steps:
            old = np.concatenate([q.mu, q.sigma.ravel(), [q.a, q.b]])
            q.update_beta(data)
            q.update_sigma2(data)
            sweeps += 1
            trace.append(elbo(data, q))
            new = np.concatenate([q.mu, q.sigma.ravel(), [q.a, q.b]])
            if np.max(np.abs(new - old)) <= self.rtol * max(1.0, np.max(np.abs(new))):
                converged = True
                break
            if deadline is not None and time.perf_counter() > deadline:
                break
        info = {
            "iterations": sweeps,
            "sweeps": sweeps,
            "converged": converged,
            "elbo": trace[-1],
            "elbo_trace": trace[-self.trace_tail :],
            "monotone": monotone(trace),
            "n_grad": 0,
            "seconds": time.perf_counter() - start,
        }
        return NIGApproximation(q, info=info)
