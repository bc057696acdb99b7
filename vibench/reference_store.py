"""Where reference truths are stored and how: one ArviZ InferenceData NetCDF file per reference.

``STEM.nc`` (``STEM``: :func:`stem`) in :func:`cache_dir`, or shipped in
:data:`SHIPPED_DIR`, holds

* group ``posterior``: the kept reference draws, variable ``x`` with dims
  ``(chain, draw, coordinate)`` (evenly thinned per chain; the coordinates
  named as in the provenance's ``coordinates``), so ``arviz.from_netcdf`` and
  ``az.summary`` read it as they read any sampler's output;
* group ``reference_moments``: ``mean``, ``sd``, ``mean_se``, ``sd_se`` over
  ``coordinate`` and ``cov`` over ``(coordinate, coordinate2)``, computed from
  every draw of the run (not the thinned ones);
* the posterior's attrs: ``vibench_provenance``, the provenance (versions,
  settings, seed, ESS, R-hat, MCSE, the command that made it) as a JSON
  string, and ``vibench_reference_format`` (1).

The file is written to a temporary name and renamed: a reference is complete
once its ``.nc`` exists. References stored before this format, ``STEM.npz``
(arrays) with ``STEM.json`` (provenance), are still read, after the ``.nc``.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .cell import size_label
from .truth import Truth

__all__ = ["CACHE_ENV", "SHIPPED_DIR", "FORMAT", "Reference", "cache_dir", "stem", "load", "save",
           "to_inference_data", "from_inference_data", "draws_by_chain", "read_refusal", "write_refusal"]

#: Environment variable naming vibench's cache folder (references go to its ``references/``).
CACHE_ENV = "VIBENCH_CACHE"
#: References that ship with vibench, read when the cache has none.
SHIPPED_DIR = Path(__file__).resolve().parent / "tasks" / "references"
#: The version of the ``.nc`` layout (the posterior's ``vibench_reference_format`` attr).
FORMAT = 1
MOMENTS = "reference_moments"
_ARRAYS = ("mean", "sd", "cov", "mean_se", "sd_se", "draws")


def cache_dir() -> Path:
    """``$VIBENCH_CACHE/references``, else ``$XDG_CACHE_HOME/vibench/references`` or ``~/.cache/vibench/references``."""
    root = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vibench"
    return Path(root) / "references"


@dataclass
class Reference:
    """An accepted reference run: moments from all draws, MCSEs, thinned draws, provenance."""

    mean: np.ndarray
    sd: np.ndarray
    cov: np.ndarray
    mean_se: np.ndarray
    sd_se: np.ndarray
    draws: np.ndarray
    provenance: dict[str, Any]

    def truth(self) -> Truth:
        """The :class:`~vibench.Truth` of kind ``reference``."""
        return Truth(kind="reference", mean=self.mean, sd=self.sd, cov=self.cov, draws=self.draws,
                     mean_se=self.mean_se, sd_se=self.sd_se, provenance=dict(self.provenance))


def stem(name: str, params: dict[str, Any], fp: str, settings) -> str:
    """The file stem of a reference: task name, size, density fingerprint ``fp`` and ``settings.key()``."""
    safe = re.sub(r"[^A-Za-z0-9._=,+-]", "_", f"{name}-{size_label(params) or 'default'}")
    return f"{safe}-{fp}-{settings.key()}"


def draws_by_chain(draws: np.ndarray, provenance: dict[str, Any]) -> np.ndarray:
    """Flat reference draws ``(n, dim)``, stored chain after chain, as ``(chains, n / chains, dim)``.

    The number of chains is the provenance's ``chains`` or ``settings.chains``;
    one chain when neither is known or it does not divide ``n``.
    """
    draws = np.asarray(draws, dtype=float)
    chains = provenance.get("chains") or (provenance.get("settings") or {}).get("chains") or 1
    try:
        chains = int(chains)
    except (TypeError, ValueError):
        chains = 1
    if chains < 1 or draws.shape[0] % chains:
        chains = 1
    return draws.reshape(chains, draws.shape[0] // chains, draws.shape[-1])


def _labels(provenance: dict[str, Any], dim: int) -> list[str]:
    from .approximation import coordinate_labels

    return coordinate_labels(provenance.get("coordinates"), dim)


def to_inference_data(ref: Reference):
    """``ref`` as an ``arviz.InferenceData`` in the layout of the module docstring."""
    import arviz as az
    import xarray as xr

    samples = draws_by_chain(ref.draws, ref.provenance)
    labels = _labels(ref.provenance, samples.shape[-1])
    idata = az.from_dict(posterior={"x": samples}, dims={"x": ["coordinate"]}, coords={"coordinate": labels})
    idata.posterior.attrs.update(vibench_provenance=json.dumps(ref.provenance), vibench_reference_format=FORMAT)
    moments = xr.Dataset(
        {**{key: ("coordinate", np.asarray(getattr(ref, key), dtype=float))
            for key in ("mean", "sd", "mean_se", "sd_se")},
         "cov": (("coordinate", "coordinate2"), np.atleast_2d(np.asarray(ref.cov, dtype=float)))},
        coords={"coordinate": labels, "coordinate2": labels})
    idata.add_groups({MOMENTS: moments})
    return idata


def from_inference_data(idata, path: str | os.PathLike | None = None) -> Reference:
    """The :class:`Reference` a ``.nc`` file of :func:`to_inference_data` holds (``provenance["path"]``: ``path``).

    Raises
    ------
    ValueError
        When ``idata`` lacks the posterior ``x``, the moments or the provenance.
    """
    posterior, moments = idata.posterior, getattr(idata, MOMENTS, None)
    if "x" not in posterior or moments is None or "vibench_provenance" not in posterior.attrs:
        raise ValueError("not a vibench reference (needs posterior 'x', group reference_moments, provenance)")
    x = np.asarray(posterior["x"].transpose("chain", "draw", "coordinate").values, dtype=float)
    provenance = json.loads(posterior.attrs["vibench_provenance"])
    if path is not None:
        provenance["path"] = str(path)
    return Reference(**{key: np.asarray(moments[key].values, dtype=float)
                        for key in ("mean", "sd", "cov", "mean_se", "sd_se")},
                     draws=x.reshape(-1, x.shape[-1]), provenance=provenance)


def _read_nc(path: Path) -> Reference:
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a group outside ArviZ's schema is fine
        with az.rc_context({"data.load": "eager"}):
            idata = az.from_netcdf(str(path))
    return from_inference_data(idata, path)


def _read_npz(meta: Path, arrays: Path) -> Reference:
    """A reference in the layout before NetCDF: ``STEM.npz`` arrays and ``STEM.json`` provenance."""
    provenance = json.loads(meta.read_text())
    with np.load(arrays) as data:
        return Reference(**{k: data[k] for k in _ARRAYS}, provenance={**provenance, "path": str(arrays)})


def load(stem_: str) -> Truth | None:
    """The stored reference ``stem_`` (cache first, then shipped; ``.nc``, then the old ``.npz``), or ``None``.

    An unreadable file is skipped with a warning.
    """
    for folder in (cache_dir(), SHIPPED_DIR):
        nc, meta, arrays = folder / f"{stem_}.nc", folder / f"{stem_}.json", folder / f"{stem_}.npz"
        try:
            if nc.is_file():
                return _read_nc(nc).truth()
            if meta.is_file() and arrays.is_file():
                return _read_npz(meta, arrays).truth()
        except (OSError, ValueError, KeyError) as exc:
            warnings.warn(f"ignoring unreadable reference {nc if nc.is_file() else arrays}: {exc}", stacklevel=3)
    return None


def save(ref: Reference, stem_: str) -> Path:
    """Store ``ref`` as ``cache_dir()/STEM.nc`` (a temporary file, then a rename) and return the path."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem_}.nc"
    tmp = folder / f".{stem_}.{os.getpid()}.nc"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            to_inference_data(ref).to_netcdf(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_refusal(stem_: str) -> tuple[Path, str | None]:
    """The file recording that reference ``stem_`` was refused, and its message (``None`` if none is stored)."""
    path = cache_dir() / f"{stem_}.refused.json"
    if not path.is_file():
        return path, None
    try:
        return path, json.loads(path.read_text())["error"] or None
    except (OSError, ValueError, KeyError, TypeError):
        return path, None


def write_refusal(stem_: str, record: dict[str, Any]) -> None:
    """Record a refusal (best effort: a read-only cache only means it is computed again next time)."""
    path = cache_dir() / f"{stem_}.refused.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))
    except OSError:
        pass
