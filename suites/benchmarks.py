"""asv benchmarks whose grid is a vibench suite file, so CLI and dashboard measure the same cells.

The suite is ``dashboard`` (``suites/dashboard.toml``) unless the environment
variable ``VIBENCH_ASV_SUITE`` names another. One parameter, ``cell``, runs
over the suite's cells (task, size, method, budget, seed). For each cell:

- ``time_fit``: wall time of ``method.fit`` (``setup`` builds the task and
  runs one untimed fit, so compiling a PyMC model is not counted);
- ``peakmem_fit``: peak memory of the same;
- ``track_kl``: KL(q || p) in nats from ``vibench.evaluate`` (the estimator
  is in the cell's row in ``vibench run dashboard``);
- ``track_n_grad``: gradient evaluations (``n_grad``, or ``n_logp`` for
  gradient-free methods).

``track_*`` values come from one run of every cell in ``setup_cache`` (asv
runs it once per environment), so accuracy is never mixed with timing noise.
"""

from __future__ import annotations

import os

import numpy as np

from vibench.suite import load_suite

SUITE = os.environ.get("VIBENCH_ASV_SUITE", "dashboard")
CELLS = {str(cell): cell for cell in load_suite(SUITE).cells()}


class Cells:
    """One benchmark per cell of the suite."""

    params = [list(CELLS)]
    param_names = ["cell"]
    timeout = 600
    number = 1
    repeat = (1, 3, 30.0)
    warmup_time = 0.0

    def setup_cache(self):
        """Run every cell once and keep the accuracy and cost columns."""
        from vibench.runner import run_cell

        keep = ("status", "kl", "n_grad", "n_logp")
        return {label: {k: run_cell(cell)[k] for k in keep} for label, cell in CELLS.items()}

    setup_cache.timeout = 3600

    def setup(self, rows, cell):
        from vibench.runner import build_task
        from vibench.registry import get_registry

        self.cell = CELLS[cell]
        self.task = build_task(self.cell.task, self.cell.params_dict)
        self.method = get_registry().get_method(self.cell.method)
        if self.method.supports(self.task) is not True or rows[cell]["status"] != "ok":
            raise NotImplementedError(f"{cell}: {rows[cell]['status']}")
        self.rng_seed = self.cell.seed
        # one untimed fit first: compiling a PyMC model or importing a backend is not the method's speed
        self.method.fit(self.task, self.cell.budget, np.random.default_rng(self.rng_seed))

    def time_fit(self, rows, cell):
        self.method.fit(self.task, self.cell.budget, np.random.default_rng(self.rng_seed))

    def peakmem_fit(self, rows, cell):
        self.method.fit(self.task, self.cell.budget, np.random.default_rng(self.rng_seed))

    def track_kl(self, rows, cell):
        return rows[cell]["kl"]

    track_kl.unit = "nats"

    def track_n_grad(self, rows, cell):
        row = rows[cell]
        return row["n_grad"] or row["n_logp"]

    track_n_grad.unit = "evaluations"
