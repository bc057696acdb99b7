"""``vibench run --keep-draws``: each ``ok`` cell's draws as ArviZ InferenceData NetCDF in ``RUN_DIR/draws/``.

One file a cell, :func:`draws_file`, written by the process that ran the cell
(with Dask, on the worker's file system at the same path), from
:meth:`vibench.Approximation.to_inference_data`: a sampler's chains as they
are, iid draws of q for the others. Read one with
``arviz.from_netcdf(path)``; its posterior's attrs name the cell
(``vibench_task``, ``vibench_method``, ``vibench_key``, ...).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .cell import Cell, size_label

__all__ = ["draws_file", "save_draws"]


def draws_file(draws_dir: str | os.PathLike, cell: Cell) -> Path:
    """``DRAWS_DIR/<task>-<size>-<method>-<budget>-seed<S>-<key>.nc``: a safe file name, unique by the cell's key."""
    label = f"{cell.task}-{size_label(cell.params_dict) or 'default'}-{cell.method}-{cell.budget}-seed{cell.seed}"
    return Path(draws_dir) / f"{re.sub(r'[^A-Za-z0-9._=,+-]+', '_', label)[:120]}-{cell.key}.nc"


def save_draws(approx, task, cell: Cell, path: str | os.PathLike) -> Path:
    """Write ``approx.to_inference_data()`` to ``path`` (atomically), with the cell in the posterior's attrs.

    Coordinates are named by ``task.truth.provenance["coordinates"]`` where the
    truth has them; iid draws of a non-sampler use the cell's own generator
    (``SeedSequence(seed)``'s third child: the fit and the scoring use the first two).
    """
    names = (getattr(getattr(task, "truth", None), "provenance", None) or {}).get("coordinates")
    rng = np.random.default_rng(np.random.SeedSequence(cell.seed).spawn(3)[2])
    idata = approx.to_inference_data(names=names, rng=rng)
    idata.posterior.attrs.update(vibench_task=cell.task, vibench_size=size_label(cell.params_dict),
                                 vibench_method=cell.method, vibench_budget=str(cell.budget),
                                 vibench_seed=int(cell.seed), vibench_key=cell.key)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        idata.to_netcdf(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
