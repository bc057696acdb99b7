"""A plugin of faulty methods and broken tasks, loaded with ``VIBENCH_PLUGINS=fault_plugin``.

Used by tests/test_faults.py (and tests/test_dask_real.py) against every
executor: it is a module, not test-local classes, so forked workers, Dask
workers and their cell processes all register the same faults.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

import numpy as np

import vibench
from vibench import GaussianApproximation, Method, Truth


def _good(task, budget, rng):
    return vibench.get_method("laplace").fit(task, budget, rng)


class _Fault(Method):
    family = "laplace"
    steps_meaning = "as laplace"

    def __init__(self, name, fit):
        self.name = name
        self._fit = fit

    def fit(self, task, budget, rng):
        return self._fit(task, budget, rng)


def _sys_exit(task, budget, rng):
    sys.exit(3)


def _os_exit(task, budget, rng):
    os._exit(1)


def _keyboard_interrupt(task, budget, rng):
    raise KeyboardInterrupt


def _libc_exit(task, budget, rng):  # past any Python-level guard: the process really ends
    sys.stdout.flush()
    ctypes.CDLL(None)._exit(7)


def _sigkill(task, budget, rng):
    os.kill(os.getpid(), signal.SIGKILL)


def _flood(task, budget, rng):
    chunk = "x" * 1023 + "\n"
    for _ in range(2048):  # 2 MiB on stdout
        sys.stdout.write(chunk)
    print("last line on stdout")
    os.write(2, b"written to fd 2 directly\n")
    return _good(task, budget, rng)


def _mutate(task, budget, rng):
    """Everything a careless method might do to the task it was given."""
    for attempt in (
        lambda: setattr(task, "initial_point", lambda r: np.full(task.dim, 50.0)),
        lambda: setattr(task.log_density, "_logp_and_grad", lambda x: (np.zeros(len(x)), np.zeros_like(x))),
        lambda: setattr(task.log_density, "_logp", lambda x: np.zeros(len(x))),
        lambda: task.params.update(dim=99),
        lambda: task.tags.update(multimodal=True),
        lambda: task.data.update(extra=1),
        lambda: [np.multiply(v, 2.0, out=v) for v in task.data.values() if isinstance(v, np.ndarray)],
        lambda: setattr(task, "log_density", None),
    ):
        try:
            attempt()
        except Exception:
            pass
    raise RuntimeError("mutated the task")


def _reads_truth(task, budget, rng):
    return GaussianApproximation(task.truth.mean, task.truth.cov)


def _catches_truth(task, budget, rng):
    try:
        task.truth.mean
    except Exception:
        pass
    return _good(task, budget, rng)


def _negative_count(task, budget, rng):
    approx = _good(task, budget, rng)
    approx.info["n_grad"] = -5
    return approx


def _infinite_kl(task, budget, rng):
    return GaussianApproximation(np.full(task.dim, 1e300), sd=np.ones(task.dim))


def _nan_info(task, budget, rng):
    approx = _good(task, budget, rng)
    approx.info.update(elbo_tail=float("nan"), ratio=float("inf"), trace=np.array([1.0, np.nan]))
    return approx


def _sleep(task, budget, rng):
    time.sleep(budget.steps)
    return _good(task, budget, rng)


class DuckTyped:
    """A stranger's method: no base class, no supports(), no steps_meaning."""

    name = "fault-duck"
    family = "laplace"

    def fit(self, task, budget, rng):
        return _good(task, budget, rng)


FAULTS = {
    "fault-sys-exit": _sys_exit,
    "fault-os-exit": _os_exit,
    "fault-keyboard-interrupt": _keyboard_interrupt,
    "fault-libc-exit": _libc_exit,
    "fault-sigkill": _sigkill,
    "fault-flood": _flood,
    "fault-mutate": _mutate,
    "fault-reads-truth": _reads_truth,
    "fault-catches-truth": _catches_truth,
    "fault-negative-count": _negative_count,
    "fault-infinite-kl": _infinite_kl,
    "fault-nan-info": _nan_info,
    "fault-sleep": _sleep,
}


def nan_truth(dim: int = 2):
    task = vibench.get_task("gaussian", dim=dim, rho=0.5)
    task.truth = Truth(kind="gaussian", mean=np.full(dim, np.nan), sd=np.ones(dim), cov=np.eye(dim))
    return task


def non_psd_truth(dim: int = 2):
    task = vibench.get_task("gaussian", dim=dim, rho=0.5)
    cov = np.full((dim, dim), 2.0)
    np.fill_diagonal(cov, 1.0)  # correlation 2: not a covariance
    task.truth = Truth(kind="gaussian", mean=np.zeros(dim), sd=np.ones(dim), cov=cov)
    return task


def raising_factory(dim: int = 2):
    raise RuntimeError("the factory has a bug")


def printing_factory(dim: int = 2):
    print("building the task prints this")
    return vibench.get_task("gaussian", dim=dim, rho=0.5)


@vibench.hookimpl
def vibench_register_methods(registry):
    for name, fit in FAULTS.items():
        registry.add_method(_Fault(name, fit))
    registry.add_method(DuckTyped())


@vibench.hookimpl
def vibench_register_tasks(registry):
    registry.add_task("fault-nan-truth", nan_truth)
    registry.add_task("fault-non-psd-truth", non_psd_truth)
    registry.add_task("fault-raising-factory", raising_factory)
    registry.add_task("fault-printing-factory", printing_factory)
