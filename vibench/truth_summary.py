"""A truth as an ``az.summary``-style table: one row per coordinate (``vibench truth TASK`` prints it).

For an exact truth (kinds ``gaussian`` and ``exact``: closed form or
quadrature) the columns are ``mean`` and ``sd``, which are exact. For a
reference truth (long NUTS runs, posteriordb's draws) they are those of
``az.summary``:

* ``mean``, ``sd``: the truth's moments, the values every method is scored
  against (from every draw of the run);
* ``mcse_mean``, ``mcse_sd``: their Monte Carlo standard errors, as stored with
  the truth (from every draw of the run; the stored draws' own where none is stored);
* ``ess_bulk``, ``ess_tail``, ``r_hat``: ArviZ's diagnostics of the stored
  draws, chain by chain (:func:`vibench.scoring.diagnostics.chain_stats`, the
  one wrapper over ArviZ): the draws the distance yardstick compares with.
"""

from __future__ import annotations

import math

import numpy as np

from .approximation import coordinate_labels
from .errors import VibenchError

__all__ = ["EXACT_KINDS", "MAX_ROWS", "truth_summary", "format_truth_summary"]

#: Truth kinds whose moments are exact (no Monte Carlo error).
EXACT_KINDS = ("gaussian", "exact")
#: Rows :func:`format_truth_summary` shows by default.
MAX_ROWS = 20
_FORMATS = {"mean": "{:.4g}", "sd": "{:.4g}", "mcse_mean": "{:.2g}", "mcse_sd": "{:.2g}",
            "ess_bulk": "{:.0f}", "ess_tail": "{:.0f}", "r_hat": "{:.3f}"}


def truth_summary(truth, names: list[str] | None = None):
    """One row per coordinate of ``truth``: ``mean``, ``sd`` and, for a reference, MCSEs, ESS and R-hat.

    Parameters
    ----------
    truth : vibench.Truth
    names : list of str, optional
        Coordinate names; default the provenance's ``coordinates``, else ``x[0]``, ``x[1]``, ...

    Returns
    -------
    pandas.DataFrame
        Indexed by coordinate name. Columns ``mean, sd`` for an exact truth;
        ``mean, sd, mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat`` for a
        reference (see the module docstring for where each comes from).
        ``df.attrs`` holds ``kind`` (``"exact"`` or ``"reference"``) and, for a
        reference, ``chains`` and ``draws`` of the stored draws.

    Raises
    ------
    VibenchError
        A reference truth without draws.
    """
    import pandas as pd

    from .reference_store import draws_by_chain
    from .scoring.diagnostics import chain_stats

    provenance = dict(getattr(truth, "provenance", None) or {})
    labels = coordinate_labels(names if names is not None else provenance.get("coordinates"), truth.dim)
    columns = {"mean": np.asarray(truth.mean, dtype=float), "sd": np.asarray(truth.sd, dtype=float)}
    if truth.kind in EXACT_KINDS:
        df = pd.DataFrame(columns, index=pd.Index(labels, name="coordinate"))
        df.attrs["kind"] = "exact"
        return df
    if truth.draws is None:
        raise VibenchError(f"a {truth.kind} truth without draws has no summary of its draws")
    samples = draws_by_chain(truth.draws, provenance)
    stats = chain_stats(samples)
    for key, stored in (("mcse_mean", truth.mean_se), ("mcse_sd", truth.sd_se)):
        columns[key] = np.asarray(stored if stored is not None else getattr(stats, key), dtype=float)
    columns.update(ess_bulk=stats.ess_bulk, ess_tail=stats.ess_tail, r_hat=stats.rhat)
    df = pd.DataFrame(columns, index=pd.Index(labels, name="coordinate"))
    df.attrs.update(kind="reference", chains=int(samples.shape[0]), draws=int(samples.shape[1]))
    return df


def _cell(column: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return _FORMATS.get(column, "{:.4g}").format(value)


def format_truth_summary(df, max_rows: int = MAX_ROWS, indent: str = "  ") -> str:
    """:func:`truth_summary`'s table as text: the first ``max_rows`` rows, then ``... N more``.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`truth_summary`.
    max_rows : int
        Rows shown (>= 1).
    indent : str
        Put before every line.

    Returns
    -------
    str
        A header line saying whether the moments are exact or where the
        diagnostics come from, then the table.
    """
    max_rows = max(1, int(max_rows))
    shown = df.iloc[:max_rows]
    cells = [[str(name)] + [_cell(col, row[col]) for col in df.columns] for name, row in shown.iterrows()]
    header = ["coordinate"] + list(df.columns)
    widths = [max(len(r[i]) for r in cells + [header]) for i in range(len(header))]
    lines = [" ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines += [" ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
              for r in cells]
    if len(df) > max_rows:
        lines.append(f"... {len(df) - max_rows} more")
    if df.attrs.get("kind") == "exact":
        note = "exact: mean and sd are exact (closed form or quadrature), no Monte Carlo error"
    else:
        note = (f"reference: mean, sd and MCSEs of the truth; ESS and R-hat of its {df.attrs.get('chains', '?')} x "
                f"{df.attrs.get('draws', '?')} stored draws (ArviZ)")
    return "\n".join(indent + line for line in [note] + lines)
