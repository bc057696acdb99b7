"""The conformance kit: checks a plugin author calls from pytest.

::

    from vibench.testing import check_method, check_task

    def test_my_method():
        check_method(MyMethod())

    def test_my_task():
        check_task(make_my_task(dim=3))

Each check raises ``AssertionError`` naming the contract clause that failed
(docs/plugins.md lists them) and returns a small report on success. Both run
in a few seconds on the small tasks they use. :func:`check_method` lives in
:mod:`vibench.testing.method_checks`, its accuracy rules in
:mod:`vibench.testing.accuracy`, :func:`check_task` in
:mod:`vibench.testing.task_checks`.
"""

from __future__ import annotations

from ._common import ALPHA, ConformanceError
from ._common import z_threshold as _z
from .accuracy import (EXACT_DRAWS, EXACT_KL_TOL, MEANFIELD_FAMILIES, MIN_ESS, OPTIMIZATION_MEAN_TOL,
                       OPTIMIZATION_SD_TOL, meanfield_optimum_kl)
from .method_checks import DEFAULT_STEPS, DEFAULT_TASK, UNCLEAR_ERRORS, check_method
from .task_checks import FD_MAX_COORDS, MAX_DRAW_ELEMENTS, MAX_PAIRS, check_task

__all__ = ["check_method", "check_task", "ConformanceError", "DEFAULT_TASK", "DEFAULT_STEPS", "OPTIMIZATION_MEAN_TOL",
           "MIN_ESS", "EXACT_DRAWS", "EXACT_KL_TOL", "meanfield_optimum_kl"]
