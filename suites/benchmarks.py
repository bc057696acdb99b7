"""asv benchmarks whose grid is a vibench suite, parameterized by task, dim and method, so the dashboard
plots runtime and accuracy against model size.

The suite is ``dashboard`` (``suites/dashboard.toml``) unless the environment
variable ``VIBENCH_ASV_SUITE`` names another (a built-in name or a path).
Three parameters, asv's ``param_names``:

- ``task``: the task name with its settings other than ``dim`` (``gaussian rho=0.9``);
- ``dim``: the model size (an integer: the dashboard's "x-axis: dim" view plots against it);
- ``method``: the method name, with its budget where the suite gives it several (``meanfield[1000]``).

asv runs their product; a combination the suite does not have (funnel at a
size it never runs) is skipped and shows as n/a.

``Fit`` measures cost, on the suite's first seed: ``time_fit`` is the wall time of
``method.fit`` and ``peakmem_fit`` its peak memory. ``setup`` does what every
executor does before its first cell (``vibench.runner.warm_up``: one BLAS
thread, or ``VIBENCH_BLAS_THREADS``; with OpenBLAS's default two threads a
d = 10 Laplace fit takes 0.35 s on a 2-core machine instead of 0.002 s), builds the task, runs
``method.prepare`` (compiling a PyMC model) and one untimed fit, so compiling
and first-use JIT are not the method's speed.

``Score.time_score`` is the wall time of one ``vibench.evaluate`` of that fit,
with the truth's scoring frame already built (what every further cell of a
task pays).

``Accuracy`` tracks what the fits reached. Its values come from ``setup_cache``:
every cell of the grid run once per seed by ``vibench.runner.run_cell`` (the
rows ``vibench run`` writes), so tracking accuracy never fits again and timing
noise never mixes into it. Each track is the mean over the seeds that ran ok,
and NaN (n/a) where none did:

- ``track_dist``: the sliced W1 distance to the truth's draws (docs/answer.md), in posterior sds;
- ``track_mean_err``: the worst coordinate's mean error, in posterior sds;
- ``track_kl``: KL(q || p) in nats, only where it is exact (``closed-form``: a Gaussian q against
  a Gaussian truth); n/a for Monte Carlo and draws-only methods;
- ``track_evals``: density evaluations (``n_grad + n_logp``, median over seeds).

The accuracy tracks are **log10** of the value (their unit says so): accuracy
spans decades -- a closed-form KL of 1e-16 next to a diverged fit's 355,432 --
and on a linear axis one outlier flattens every other line, while asv's own
log-scale switch cannot show 0. Values below ``FLOOR`` (1e-6: an exact KL
of 0, float round-off, a negative rounding) are tracked at ``log10(FLOOR) = -6``.
"""

from __future__ import annotations

import math
import os

import numpy as np

from vibench.suite import load_suite

SUITE = os.environ.get("VIBENCH_ASV_SUITE", "dashboard")
FLOOR = 1e-6


def _grid(suite_name: str):
    """``{(task, dim, method): [cells over seeds]}`` and the parameter values, in the suite's order."""
    cells = load_suite(suite_name).cells()
    budgets: dict[str, set] = {}
    for cell in cells:
        budgets.setdefault(cell.method, set()).add(str(cell.budget))
    grid: dict[tuple[str, int, str], list] = {}
    for cell in cells:
        params = cell.params_dict
        dim = params.pop("dim", None)
        if dim is None:  # a task without a dim parameter: its size is its dimension, known once built
            from vibench.runner import build_task

            dim = build_task(cell.task, cell.params_dict).dim
        task = " ".join([cell.task] + [f"{k}={v}" for k, v in sorted(params.items())])
        method = cell.method if len(budgets[cell.method]) == 1 else f"{cell.method}[{cell.budget}]"
        grid.setdefault((task, int(dim), method), []).append(cell)
    tasks, dims, methods = (list(dict.fromkeys(k[i] for k in grid)) for i in range(3))
    return grid, tasks, sorted(dims), methods


GRID, TASKS, DIMS, METHODS = _grid(SUITE)


def _cells(task: str, dim: int, method: str) -> list:
    cells = GRID.get((task, int(dim), method))
    if not cells:
        raise NotImplementedError(f"{task} dim={dim} {method}: not in the suite {SUITE!r}")
    return cells


def _warm_up() -> None:
    """What every executor does before its first cell: limit BLAS threads, import the shared modules.

    The limit is set again afterwards: ``warm_up``'s own imports load scipy's
    bundled OpenBLAS after its limit, and in a fresh process (asv's) that
    library would keep its default threads.
    """
    from threadpoolctl import threadpool_limits

    from vibench.runner import blas_threads, warm_up

    warm_up()
    threadpool_limits(blas_threads())


def _log10(value) -> float:
    if value is None or not math.isfinite(value):
        return math.nan
    return round(math.log10(max(value, FLOOR)), 4)  # 4 decimals: 0.01 % of the value, and a readable table


class _Grid:
    params = [TASKS, DIMS, METHODS]
    param_names = ["task", "dim", "method"]
    timeout = 900


class Fit(_Grid):
    """Cost: one fit on the suite's first seed."""

    number = 1
    repeat = (1, 3, 30.0)
    warmup_time = 0.0

    def setup(self, task, dim, method):
        from vibench.registry import get_registry
        from vibench.runner import build_task

        _warm_up()
        self.cell = _cells(task, dim, method)[0]
        self.task = build_task(self.cell.task, self.cell.params_dict)
        self.method = get_registry().get_method(self.cell.method)
        supported = self.method.supports(self.task)
        if supported is not True:
            raise NotImplementedError(f"{self.cell}: {supported}")
        prepare = getattr(self.method, "prepare", None)
        if callable(prepare):
            prepare(self.task)
        # untimed: first-use costs are not speed (Score scores this fit)
        self.approx = self.method.fit(self.task, self.cell.budget, self._rng())

    def _rng(self) -> np.random.Generator:
        return self.cell.rngs()[0]  # the runner's fitting generator for this seed

    def time_fit(self, task, dim, method):
        self.method.fit(self.task, self.cell.budget, self._rng())

    def peakmem_fit(self, task, dim, method):
        self.method.fit(self.task, self.cell.budget, self._rng())


class Score(Fit):
    """Scoring cost: one ``vibench.evaluate`` of the first seed's fit, as every further cell of its task pays it.

    ``Fit.setup``'s untimed fit is scored once untimed (the truth's scoring frame is
    built on a task's first scoring, once per task and worker), so the timed
    call is the per-cell cost that ``suites/bench_scale.py`` holds to the larger of 20 % of
    the fit or twice the yardstick's floor.
    """

    def setup(self, task, dim, method):
        from vibench import evaluate

        super().setup(task, dim, method)
        evaluate(self.approx, self.task, self.cell.rngs()[1], family=self.method.family)

    def time_score(self, task, dim, method):
        from vibench import evaluate

        evaluate(self.approx, self.task, self.cell.rngs()[1], family=self.method.family)


class Accuracy(_Grid):
    """Accuracy, from one run of every cell (``setup_cache``); nothing here fits."""

    def setup_cache(self):
        """Run every cell of the grid once per seed; keep the ok rows' accuracy and cost columns."""
        from vibench.runner import run_cell

        _warm_up()
        keep = ("status", "dist", "mean_err", "kl", "kl_estimator", "n_grad", "n_logp")
        out = {}
        for key, cells in GRID.items():
            rows = [run_cell(cell) for cell in cells]
            out["|".join(map(str, key))] = [{k: row.get(k) for k in keep} for row in rows]
        return out

    setup_cache.timeout = 7200

    def setup(self, rows, task, dim, method):
        _cells(task, dim, method)
        self.rows = [r for r in rows[f"{task}|{int(dim)}|{method}"] if r["status"] == "ok"]

    def _mean(self, column: str, where=lambda r: True) -> float:
        vals = [float(r[column]) for r in self.rows if r[column] is not None and where(r)]
        return float(np.mean(vals)) if vals else math.nan

    def track_dist(self, rows, task, dim, method):
        return _log10(self._mean("dist"))

    track_dist.unit = "log10(posterior sds)"

    def track_mean_err(self, rows, task, dim, method):
        return _log10(self._mean("mean_err"))

    track_mean_err.unit = "log10(posterior sds)"

    def track_kl(self, rows, task, dim, method):
        exact = [r for r in self.rows if r["kl_estimator"] == "closed-form"]
        if not exact or len(exact) < len(self.rows):
            return math.nan
        return _log10(self._mean("kl"))

    track_kl.unit = "log10(nats)"

    def track_evals(self, rows, task, dim, method):
        vals = [(r["n_grad"] or 0) + (r["n_logp"] or 0) for r in self.rows]
        return float(np.median(vals)) if vals else math.nan

    track_evals.unit = "evaluations"
