"""Where posteriordb posteriors come from: the copy shipped with vibench, or a local clone.

A *posterior* is a Stan model, a data set and (usually) a reference posterior:
10 chains x 1,000 draws on the constrained scale, under Stan's column names
(``beta[1]``, ``sigma``). Two sources give the same :class:`Posterior`:

- the shipped copy, ``vibench/tasks/posteriordb_data/``: ``index.json`` (one
  entry per posterior: model, data, reference, columns, provenance),
  ``data-<data name>.npz`` and ``draws-<reference name>.npz`` (draws as
  float32, stored byte-plane by byte-plane so they compress); written by
  :mod:`vibench.tasks.posteriordb.pack`;
- a clone of github.com/stan-dev/posteriordb named by ``$VIBENCH_POSTERIORDB``
  (its ``posterior_database`` folder, or the repository root holding it): read
  from its ``posteriors/*.json``, ``data/data/*.json.zip`` and
  ``reference_posteriors/draws/{draws,info}/`` in full float64.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import VibenchError

__all__ = ["ENV", "SHIPPED", "Posterior", "database_root", "posterior_names", "load_posterior",
           "encode_draws", "decode_draws"]

#: Environment variable naming a local posteriordb clone.
ENV = "VIBENCH_POSTERIORDB"
#: The copy shipped with vibench.
SHIPPED = Path(__file__).resolve().parent.parent / "posteriordb_data"


@dataclass
class Posterior:
    """One posteriordb posterior: its names, data and reference draws.

    Attributes
    ----------
    name, model_name, data_name : str
        posteriordb's names (``"eight_schools-eight_schools_noncentered"``, ...).
    reference_name : str or None
        The reference posterior whose draws are used (``None``: no draws).
    data : dict
        The Stan data, as numpy arrays and scalars.
    columns : list of str
        Stan column names of ``draws``.
    draws : ndarray, shape (chains, draws, len(columns)) or None
        Reference draws on the constrained scale.
    provenance : dict
        Where it came from: source, posteriordb commit, the reference run's
        inference settings and diagnostics, keywords, references.
    """

    name: str
    model_name: str
    data_name: str
    reference_name: str | None
    data: dict[str, Any]
    columns: list[str] = field(default_factory=list)
    draws: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def by_parameter(self) -> dict[str, np.ndarray]:
        """Flat draws ``(chains * draws, ...)`` per Stan parameter, vectors gathered (``beta[1..K]``).

        Returns
        -------
        dict
            ``{"beta": array (n, K), "sigma": array (n,)}``.
        """
        if self.draws is None:
            raise VibenchError(f"posteriordb posterior {self.name!r} has no reference draws")
        flat = self.draws.reshape(-1, self.draws.shape[-1])
        groups: dict[str, list[tuple[int, int]]] = {}
        for j, col in enumerate(self.columns):
            base, _, rest = col.partition("[")
            if "," in rest:
                raise VibenchError(f"posteriordb column {col!r}: only scalar and vector parameters are supported")
            groups.setdefault(base, []).append((int(rest[:-1]) if rest else 0, j))
        out = {}
        for base, items in groups.items():
            if items == [(0, items[0][1])]:
                out[base] = flat[:, items[0][1]]
            else:
                out[base] = flat[:, [j for _, j in sorted(items)]]
        return out


def database_root() -> Path | None:
    """The ``posterior_database`` folder named by ``$VIBENCH_POSTERIORDB``, or ``None`` when unset.

    Raises
    ------
    VibenchError
        When the variable is set but names no posteriordb folder.
    """
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    root = Path(value).expanduser()
    for candidate in (root, root / "posterior_database"):
        if (candidate / "posteriors").is_dir():
            return candidate.resolve()
    raise VibenchError(f"${ENV}={value}: no posteriordb there (expected a 'posteriors' folder in it "
                       "or in its 'posterior_database' subfolder)")


@lru_cache(maxsize=1)
def _shipped_index() -> dict[str, Any]:
    path = SHIPPED / "index.json"
    if not path.is_file():
        return {"posteriors": {}}
    return json.loads(path.read_text())


def posterior_names(root: Path | None = None) -> list[str]:
    """Names of the posteriors in a clone (``root``), else in the shipped copy.

    Returns
    -------
    list of str
        Sorted.
    """
    if root is None:
        return sorted(_shipped_index()["posteriors"])
    return sorted(p.name[:-5] for p in (root / "posteriors").glob("*.json"))


def _read_zipped_json(path: Path) -> Any:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read(zf.namelist()[0]))


def _as_arrays(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (np.asarray(v) if isinstance(v, list) else v) for k, v in data.items()}


def _git_commit(root: Path) -> str:
    """The clone's HEAD commit, read from ``.git`` without running git ('' when unknown)."""
    git = root.parent / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            loose = git / ref
            if loose.is_file():
                return loose.read_text().strip()
            for line in (git / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
            return ""
        return head
    except OSError:
        return ""


def _from_clone(root: Path, name: str, reference: str | None) -> Posterior:
    meta_path = root / "posteriors" / f"{name}.json"
    if not meta_path.is_file():
        raise VibenchError(f"posteriordb at {root} has no posterior {name!r}")
    meta = json.loads(meta_path.read_text())
    data = _as_arrays(_read_zipped_json(root / "data" / "data" / f"{meta['data_name']}.json.zip"))
    reference = reference or meta.get("reference_posterior_name")
    columns, draws, info = [], None, {}
    if reference:
        chains = _read_zipped_json(root / "reference_posteriors" / "draws" / "draws" / f"{reference}.json.zip")
        columns = list(chains[0])
        draws = np.stack([np.array([chain[c] for c in columns], dtype=float).T for chain in chains])
        info_path = root / "reference_posteriors" / "draws" / "info" / f"{reference}.info.json"
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    provenance = {"source": f"posteriordb clone {root}", "posteriordb_commit": _git_commit(root),
                  "keywords": meta.get("keywords", []), "reference_info": _summary(info)}
    return Posterior(name, meta["model_name"], meta["data_name"], reference, data, columns, draws, provenance)


def _summary(info: dict[str, Any]) -> dict[str, Any]:
    """The parts of a reference posterior's info file worth keeping (no session dumps)."""
    diag = info.get("diagnostics", {})
    return {"name": info.get("name"), "inference": info.get("inference"),
            "checks_made": info.get("checks_made"), "added_by": info.get("added_by"),
            "added_date": info.get("added_date"),
            "versions": {k: v for k, v in (info.get("versions") or {}).items() if k.endswith("_version")},
            "diagnostics": {k: diag.get(k) for k in ("ndraws", "nchains", "effective_sample_size_bulk",
                                                     "effective_sample_size_tail", "r_hat",
                                                     "divergent_transitions") if k in diag}}


def encode_draws(draws: np.ndarray) -> np.ndarray:
    """float32 draws as their four byte planes, ``uint8 (4, n)``: zlib then compresses the high bytes."""
    raw = np.ascontiguousarray(draws, dtype="<f4").reshape(-1).view(np.uint8)
    return raw.reshape(-1, 4).T.copy()


def decode_draws(planes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`encode_draws`: float64 draws of ``shape``."""
    return planes.T.copy().reshape(-1).view("<f4").astype(float).reshape(shape)


def _from_shipped(name: str, reference: str | None) -> Posterior:
    entries = _shipped_index()["posteriors"]
    if name not in entries:
        raise VibenchError(f"posteriordb posterior {name!r} is not shipped with vibench; "
                           f"set ${ENV} to a posteriordb clone to use it")
    entry = entries[name]
    with np.load(SHIPPED / f"data-{entry['data_name']}.npz") as npz:
        data = {k: (npz[k].item() if npz[k].ndim == 0 else npz[k]) for k in npz.files}
    reference = reference or entry.get("reference_posterior_name")
    columns, draws, info = [], None, {}
    if reference:
        ref = _shipped_index()["references"][reference]
        columns, info = ref["columns"], ref["info"]
        with np.load(SHIPPED / f"draws-{reference}.npz") as npz:
            draws = decode_draws(npz["planes"], tuple(ref["shape"]))
    provenance = {"source": f"shipped with vibench ({SHIPPED.name}, draws rounded to float32)",
                  "posteriordb_commit": _shipped_index().get("posteriordb_commit", ""),
                  "keywords": entry.get("keywords", []), "reference_info": info}
    return Posterior(name, entry["model_name"], entry["data_name"], reference, data, columns, draws, provenance)


def load_posterior(name: str, reference: str | None = None) -> Posterior:
    """Read posterior ``name`` from ``$VIBENCH_POSTERIORDB`` if set, else from the shipped copy.

    Parameters
    ----------
    name : str
        posteriordb's posterior name.
    reference : str, optional
        Use this reference posterior's draws instead of the posterior's own.

    Returns
    -------
    Posterior
    """
    root = database_root()
    return _from_clone(root, name, reference) if root is not None else _from_shipped(name, reference)
