"""``LogDensity``: a batched, counting, unnormalized log posterior on R^d."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np

__all__ = ["LogDensity"]

LogpFn = Callable[[np.ndarray], np.ndarray]
LogpGradFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class LogDensity:
    """An unnormalized log density on unconstrained ``R^dim``, batched and counted.

    Both entry points take a batch ``x`` of shape ``(n, dim)`` (a single point
    of shape ``(dim,)`` is accepted and the batch axis is dropped again on the
    way out).  Every row evaluated is counted: ``n_logp`` counts value-only
    evaluations, ``n_grad`` counts evaluations of value and gradient together.
    The gradient count is the machine-independent cost vibench reports beside
    wall time.

    Parameters
    ----------
    dim : int
        Dimension of the unconstrained space.
    logp_fn : callable
        ``logp_fn(x[n, dim]) -> [n]``.
    logp_and_grad_fn : callable
        ``logp_and_grad_fn(x[n, dim]) -> ([n], [n, dim])``.
    """

    def __init__(self, dim: int, logp_fn: LogpFn, logp_and_grad_fn: LogpGradFn):
        self.dim = int(dim)
        self._logp = logp_fn
        self._logp_and_grad = logp_and_grad_fn
        self.n_logp = 0
        self.n_grad = 0

    def _batch(self, x) -> tuple[np.ndarray, bool]:
        x = np.asarray(x, dtype=float)
        single = x.ndim == 1
        x = np.atleast_2d(x)
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected points of dimension {self.dim}, got shape {x.shape}")
        return x, single

    def logp(self, x) -> np.ndarray:
        """Log density at each row of ``x``; counts ``len(x)`` in ``n_logp``."""
        x, single = self._batch(x)
        self.n_logp += x.shape[0]
        out = np.asarray(self._logp(x), dtype=float)
        return out[0] if single else out

    def logp_and_grad(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Log density and its gradient at each row of ``x``; counts ``len(x)`` in ``n_grad``."""
        x, single = self._batch(x)
        self.n_grad += x.shape[0]
        value, grad = self._logp_and_grad(x)
        value = np.asarray(value, dtype=float)
        grad = np.asarray(grad, dtype=float)
        return (value[0], grad[0]) if single else (value, grad)

    def reset_counts(self) -> None:
        """Set both evaluation counters back to zero."""
        self.n_logp = 0
        self.n_grad = 0

    @contextlib.contextmanager
    def uncounted(self) -> Iterator["LogDensity"]:
        """Evaluations inside the block are not charged: both counters are restored on exit.

        For evaluations that are not a method's cost (scoring, diagnostics,
        fingerprints, reference runs, the conformance kit, the runner's own
        checks). The counters are restored however the block ends, an
        exception included; blocks nest.

        Yields
        ------
        LogDensity
            This density, so ``with task.log_density.uncounted() as ld: ld.logp(x)`` reads well.

        Examples
        --------
        >>> ld = LogDensity(1, lambda x: -0.5 * (x**2).sum(1), lambda x: (-0.5 * (x**2).sum(1), -x))
        >>> with ld.uncounted():
        ...     _ = ld.logp(np.zeros((5, 1)))
        >>> ld.n_logp
        0
        """
        saved = (self.n_logp, self.n_grad)
        try:
            yield self
        finally:
            self.n_logp, self.n_grad = saved

    def counts(self) -> dict[str, int]:
        """The counters as a dict ``{"n_logp": ..., "n_grad": ...}``."""
        return {"n_logp": self.n_logp, "n_grad": self.n_grad}

    def __repr__(self) -> str:
        return f"LogDensity(dim={self.dim}, n_logp={self.n_logp}, n_grad={self.n_grad})"
