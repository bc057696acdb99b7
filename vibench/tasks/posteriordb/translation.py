"""``Translation``: a PyMC version of one posteriordb Stan model, and how its draws map onto it.

A translation is keyed by the Stan *model* name, so every posterior of that
model (``nes`` on eight survey years) shares it. Rules every translation
follows, so that the PyMC log density equals Stan's up to a constant:

- the same priors, likelihood and constraints; Stan's implicit flat priors
  become ``pm.Flat`` / ``pm.HalfFlat``, and a bounded parameter without a
  sampling statement stays flat on its interval (``pm.Uniform`` plus a
  ``pm.Potential`` cancelling its ``1 / width`` where the width depends on
  another parameter);
- free variables declared in the Stan ``parameters`` block order, under Stan's
  names, so PyMC's ``model.value_vars`` order (the task's flat vector) is
  Stan's; PyMC's own transforms (log, interval, ordered, simplex) define the
  unconstrained space.

``free(draws, data)`` turns Stan's stored columns (gathered per parameter by
:meth:`~vibench.tasks.posteriordb.source.Posterior.by_parameter`) into the
constrained values of the PyMC model's free variables; it is needed only where
posteriordb stores a transformed parameter instead of the sampled one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["Translation", "pymc"]

Draws = dict[str, np.ndarray]


def pymc():
    """``pymc``, imported quietly (see :func:`vibench.pymc_bridge.import_pymc`)."""
    from ...pymc_bridge import import_pymc

    return import_pymc()


@dataclass(frozen=True)
class Translation:
    """A PyMC translation of one Stan model.

    Attributes
    ----------
    model : str
        posteriordb's model name (``"eight_schools_noncentered"``).
    build : callable
        ``build(data) -> pymc.Model`` from the posterior's Stan data.
    free : callable, optional
        ``free(draws, data) -> {free variable name: values (n, ...)}`` on the
        constrained scale; default: the Stan parameters of the same names.
    note : str
        What differs from a literal reading (a reparameterized stored quantity, ...).
    """

    model: str
    build: Callable[[dict[str, Any]], Any]
    free: Callable[[Draws, dict[str, Any]], Draws] | None = None
    note: str = ""

    def free_values(self, draws: Draws, data: dict[str, Any], names: list[str]) -> Draws:
        """The constrained draws of the free variables ``names`` (see the class docstring)."""
        values = self.free(draws, data) if self.free is not None else draws
        missing = [n for n in names if n not in values]
        if missing:
            raise KeyError(f"translation {self.model!r}: no draws for free variable(s) {missing}")
        return {n: np.asarray(values[n], dtype=float) for n in names}
