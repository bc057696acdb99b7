"""Write the shipped copy of posteriordb posteriors (``vibench/tasks/posteriordb_data/``) from a clone.

::

    python -m vibench.tasks.posteriordb.pack /path/to/posteriordb [--commit SHA]

reads the posteriors in :data:`SHIPPED_POSTERIORS` from the clone (its
``posterior_database`` folder or the repository root), and writes
``index.json``, one ``data-<data name>.npz`` per data set, one
``draws-<reference name>.npz`` per reference posterior (float32 byte planes,
see :func:`~vibench.tasks.posteriordb.source.encode_draws`) and ``README.md``
with the commit, posteriordb's licence and the citations of what is shipped.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from .source import SHIPPED, _read_zipped_json, _summary, encode_draws

__all__ = ["SHIPPED_POSTERIORS", "pack"]

#: The posteriors shipped with vibench (the others of a clone need ``$VIBENCH_POSTERIORDB``).
SHIPPED_POSTERIORS = (
    "arK-arK", "arma-arma11", "garch-garch11",
    "eight_schools-eight_schools_centered", "eight_schools-eight_schools_noncentered",
    "low_dim_gauss_mix-low_dim_gauss_mix", "hmm_example-hmm_example", "bball_drive_event_0-hmm_drive_0",
    "gp_pois_regr-gp_pois_regr", "gp_pois_regr-gp_regr",
    "kidiq-kidscore_momhs", "kidiq-kidscore_momiq", "kidiq-kidscore_momhsiq", "kidiq-kidscore_interaction",
    "kidiq_with_mom_work-kidscore_interaction_z",
    "earnings-earn_height", "earnings-logearn_height", "earnings-logearn_height_male",
    "earnings-logearn_interaction_z",
    "mesquite-logmesquite_logvolume", "mesquite-logmesquite_logva",
    "nes2000-nes", "kilpisjarvi_mod-kilpisjarvi", "diamonds-diamonds", "sblri-blr",
)
#: Posteriors without reference draws of their own that use another's (same posterior, other parameterization).
BORROWED = {"eight_schools-eight_schools_centered": "eight_schools-eight_schools_noncentered"}

_CITATION = "posteriordb, https://github.com/stan-dev/posteriordb (its CITATION.cff follows, when the clone has one)."


def _root(path: Path) -> Path:
    return path / "posterior_database" if (path / "posterior_database" / "posteriors").is_dir() else path


def _bib_entries(bib: str, keys: set[str]) -> list[str]:
    entries = re.split(r"\n(?=@)", bib.strip())
    return [e.strip() for e in entries if (m := re.match(r"@\w+\{([^,]+),", e.strip())) and m.group(1) in keys]


def _keys(value: Any) -> set[str]:
    if not value:
        return set()
    return {value} if isinstance(value, str) else set(value)


def pack(clone: Path, out: Path = SHIPPED, commit: str = "") -> dict[str, Any]:
    """Write the shipped copy (see the module docstring).

    Parameters
    ----------
    clone : Path
        A posteriordb clone (repository root or its ``posterior_database`` folder).
    out : Path
        Destination folder (default: vibench's ``posteriordb_data``).
    commit : str
        The clone's posteriordb commit, recorded in ``index.json`` and ``README.md``.

    Returns
    -------
    dict
        The index written.
    """
    root = _root(Path(clone))
    out.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"posteriordb_commit": commit, "posteriors": {}, "references": {}}
    cite: set[str] = set()
    for name in SHIPPED_POSTERIORS:
        meta = json.loads((root / "posteriors" / f"{name}.json").read_text())
        model_info = json.loads((root / "models" / "info" / f"{meta['model_name']}.info.json").read_text())
        data_info = json.loads((root / "data" / "info" / f"{meta['data_name']}.info.json").read_text())
        cite |= _keys(model_info.get("references")) | _keys(data_info.get("references"))
        index["posteriors"][name] = {
            "model_name": meta["model_name"], "data_name": meta["data_name"],
            "reference_posterior_name": meta.get("reference_posterior_name"),
            "keywords": meta.get("keywords", []),
            "model": {k: model_info.get(k) for k in ("title", "urls", "references")},
            "data": {k: data_info.get(k) for k in ("title", "urls", "references")},
        }
        data = _read_zipped_json(root / "data" / "data" / f"{meta['data_name']}.json.zip")
        np.savez_compressed(out / f"data-{meta['data_name']}.npz", **{k: np.asarray(v) for k, v in data.items()})
        reference = meta.get("reference_posterior_name") or BORROWED.get(name)
        if reference and reference not in index["references"]:
            chains = _read_zipped_json(root / "reference_posteriors" / "draws" / "draws" / f"{reference}.json.zip")
            columns = list(chains[0])
            draws = np.stack([np.array([chain[c] for c in columns], dtype=float).T for chain in chains])
            np.savez_compressed(out / f"draws-{reference}.npz", planes=encode_draws(draws))
            info = json.loads((root / "reference_posteriors" / "draws" / "info" / f"{reference}.info.json").read_text())
            index["references"][reference] = {"columns": columns, "shape": list(draws.shape), "info": _summary(info)}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    licence = (root.parent / "LICENCE.md").read_text() if (root.parent / "LICENCE.md").is_file() else ""
    cff = root.parent / "CITATION.cff"
    citation = _CITATION + ("\n\n```yaml\n" + cff.read_text().strip() + "\n```" if cff.is_file() else "")
    bib = (root / "bibliography" / "references.bib").read_text()
    _write_readme(out, index, licence, citation, _bib_entries(bib, cite), commit)
    return index


def _write_readme(out: Path, index: dict[str, Any], licence: str, citation: str, bib: list[str],
                  commit: str) -> None:
    rows = "\n".join(f"- `posteriordb:{name}` (model `{e['model_name']}`, data `{e['data_name']}`)"
                     for name, e in index["posteriors"].items())
    text = f"""# posteriordb data shipped with vibench

Data and reference posterior draws of {len(index['posteriors'])} posteriors from
[posteriordb](https://github.com/stan-dev/posteriordb), commit `{commit or 'unknown'}`,
redistributed under posteriordb's BSD-3-Clause licence (below). The PyMC translations of the Stan
models are vibench's own code (`vibench/tasks/posteriordb/`); nothing of posteriordb's code is here.

Files: `index.json` (names, provenance, reference diagnostics), `data-<data>.npz` (the Stan data
as posteriordb has it) and `draws-<reference>.npz` (10 chains x 1,000 reference draws on the
constrained scale under Stan's column names, rounded to float32 and stored as four byte planes).
`eight_schools-eight_schools_centered` has no reference of its own in posteriordb; it uses the
non-centered one, whose stored `theta, mu, tau` are draws of the same posterior.
Regenerate with `python -m vibench.tasks.posteriordb.pack /path/to/posteriordb --commit SHA`;
`VIBENCH_POSTERIORDB=/path/to/posteriordb` reads a clone (all its posteriors) instead.

## Posteriors

{rows}

## Citation

{citation}

## References cited by these models and data sets (from posteriordb's `references.bib`)

```bibtex
{chr(10).join(bib)}
```

## Licence (posteriordb)

{licence}
"""
    (out / "README.md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Command line entry: ``python -m vibench.tasks.posteriordb.pack CLONE [--commit SHA]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clone", type=Path)
    parser.add_argument("--commit", default="")
    parser.add_argument("--out", type=Path, default=SHIPPED)
    args = parser.parse_args(argv)
    index = pack(args.clone, args.out, args.commit)
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {len(index['posteriors'])} posteriors to {args.out} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
