"""What the method and task checks share: the failure type, the z-thresholds, array checks."""

from __future__ import annotations

from typing import NoReturn

import numpy as np
from scipy.stats import norm

__all__ = ["ALPHA", "ConformanceError", "fail", "z_threshold", "as_array"]

#: Family-wise false-alarm rate of each group of z-tests.
ALPHA = 1e-3


class ConformanceError(AssertionError):
    """A contract clause that failed (an ``AssertionError``, so pytest shows it as a failed check)."""


def fail(where: str, msg: str) -> NoReturn:
    """Raise :class:`ConformanceError` ``"{where}: {msg}"``."""
    raise ConformanceError(f"{where}: {msg}")


def z_threshold(n_tests: int) -> float:
    """Two-sided Bonferroni z-threshold for ``n_tests`` tests at family-wise level :data:`ALPHA`."""
    return float(norm.isf(ALPHA / (2 * max(n_tests, 1))))


def as_array(where: str, what: str, value, shape: tuple, finite: bool = True) -> np.ndarray:
    """``value`` as a float array, failing unless it is numeric, of ``shape`` and (by default) finite."""
    arr = np.asarray(value)
    if arr.shape != shape or not np.issubdtype(arr.dtype, np.number):
        fail(where, f"{what} must be a numeric array of shape {shape}, got {arr.dtype} {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        fail(where, f"{what} has NaN or inf values")
    return arr.astype(float)
