"""posteriordb tasks: PyMC translations of posteriordb's Stan models, scored against its reference draws.

posteriordb (github.com/stan-dev/posteriordb, BSD-3-Clause; Magnusson et al.)
publishes posteriors as a Stan model, a data set and 10 chains x 1,000
reference draws checked by R-hat, ESS, autocorrelation and divergences. Each
translated posterior is a task named ``posteriordb:<posterior name>``, e.g.
``posteriordb:eight_schools-eight_schools_noncentered``, without size
parameters:

- its model is a PyMC translation of the Stan model (modules
  ``models_regression``, ``models_timeseries``, ``models_latent``; the rules
  are in :mod:`~vibench.tasks.posteriordb.translation`), ``task.pymc_model()``;
- its log density is that model's, on the unconstrained flat vector of
  :func:`vibench.pymc_bridge.flat_logp_and_grad` (``model.value_vars`` order);
- its truth is a ``reference`` :class:`~vibench.Truth`: posteriordb's draws
  mapped through the model's own transforms
  (:mod:`~vibench.tasks.posteriordb.unconstrained`), with moments, covariance,
  ArviZ MCSEs of means and sds, all 10,000 draws and the provenance
  (posteriordb commit, posterior, reference run settings and diagnostics).

Data and draws of a subset ship with vibench (``vibench/tasks/posteriordb_data``,
with posteriordb's licence and citations). ``$VIBENCH_POSTERIORDB`` naming a
local clone makes the tasks read data and draws from it instead, and registers
every posterior of the clone that has both reference draws and a translation;
:func:`available` says which posteriors there have one.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from ...task import Task
from .models_latent import TRANSLATIONS as _LATENT
from .models_regression import TRANSLATIONS as _REGRESSION
from .models_timeseries import TRANSLATIONS as _TIMESERIES
from .pack import BORROWED
from .source import ENV, Posterior, database_root, load_posterior, posterior_names
from .translation import Translation

__all__ = ["PREFIX", "ENV", "TRANSLATIONS", "available", "task_names", "registered_tasks", "make_task",
           "build_model", "unconstrained_draws", "Translation"]

#: Task names are ``PREFIX + posterior name``.
PREFIX = "posteriordb:"
#: Every translation, by posteriordb model name.
TRANSLATIONS: dict[str, Translation] = {**_REGRESSION, **_TIMESERIES, **_LATENT}


def _model_name(name: str, root) -> str | None:
    if root is None:
        from .source import _shipped_index

        entry = _shipped_index()["posteriors"].get(name)
        return entry and entry["model_name"]
    path = root / "posteriors" / f"{name}.json"
    return json.loads(path.read_text())["model_name"] if path.is_file() else None


def _reference_name(name: str, root) -> str | None:
    if root is None:
        from .source import _shipped_index

        ref = (_shipped_index()["posteriors"].get(name) or {}).get("reference_posterior_name")
    else:
        ref = json.loads((root / "posteriors" / f"{name}.json").read_text()).get("reference_posterior_name")
    return ref or BORROWED.get(name)


def available() -> list[tuple[str, bool]]:
    """Every posterior of the source and whether vibench has a translation of its model.

    The source is the clone named by ``$VIBENCH_POSTERIORDB`` when set, else
    the posteriors shipped with vibench. A posterior with a translation becomes
    the task ``posteriordb:<name>`` if it also has reference draws (its own, or
    a borrowed one: the centered eight schools uses the non-centered
    reference); see :func:`task_names`.

    Returns
    -------
    list of (str, bool)
        ``(posterior name, has_translation)``, sorted by name.
    """
    root = database_root()
    return [(name, _model_name(name, root) in TRANSLATIONS) for name in posterior_names(root)]


def task_names() -> list[str]:
    """Names (``posteriordb:...``) of the tasks the current source provides: translated, with draws."""
    root = database_root()
    return [PREFIX + name for name, ok in available() if ok and _reference_name(name, root)]


def build_model(posterior: Posterior):
    """The PyMC model of ``posterior`` (its translation applied to its data)."""
    return TRANSLATIONS[posterior.model_name].build(posterior.data)


def unconstrained_draws(posterior: Posterior, model=None, translation: Translation | None = None):
    """The reference draws on the model's unconstrained space, ``(chains, draws, dim)``.

    Parameters
    ----------
    posterior : Posterior
    model : pymc.Model, optional
        Default: :func:`build_model`.
    translation : Translation, optional
        Default: the posterior's; tests pass a wrong one to see the checks fail.

    Returns
    -------
    ndarray
    """
    from .unconstrained import free_variable_names, to_unconstrained

    model = model if model is not None else build_model(posterior)
    translation = translation or TRANSLATIONS[posterior.model_name]
    values = translation.free_values(posterior.by_parameter(), posterior.data, free_variable_names(model))
    flat = to_unconstrained(model, values)
    chains, draws = posterior.draws.shape[:2]
    return flat.reshape(chains, draws, -1)


def make_task(name: str) -> Task:
    """The task ``posteriordb:<name>`` (see the module docstring).

    Parameters
    ----------
    name : str
        The posterior name, with or without the ``posteriordb:`` prefix.

    Returns
    -------
    Task
    """
    from ...errors import VibenchError
    from ...pymc_bridge import log_density_from_model, quiet_pymc
    from .._gaussian import uniform_init
    from .unconstrained import coordinate_names, reference_from_draws

    name = name[len(PREFIX):] if name.startswith(PREFIX) else name
    root = database_root()
    reference = _reference_name(name, root)
    posterior = load_posterior(name, reference)
    translation = TRANSLATIONS.get(posterior.model_name)
    if translation is None:
        raise VibenchError(f"posteriordb posterior {name!r}: vibench has no translation of model "
                           f"{posterior.model_name!r}")
    if posterior.draws is None:
        raise VibenchError(f"posteriordb posterior {name!r} has no reference draws")
    with quiet_pymc():
        model = translation.build(posterior.data)
        samples = unconstrained_draws(posterior, model, translation)
        density = log_density_from_model(model)
    provenance = {
        "method": "posteriordb reference posterior (Stan NUTS), mapped to the PyMC translation's unconstrained space",
        "posterior": name, "model": posterior.model_name, "data": posterior.data_name,
        "reference_posterior": reference, "coordinates": coordinate_names(model),
        **({"borrowed_reference": f"{name} has no reference of its own; {reference} is the same posterior"}
           if name in BORROWED else {}),
        **({"note": translation.note} if translation.note else {}),
        **posterior.provenance,
        "command": f"vibench truth {PREFIX}{name}",
    }
    truth = reference_from_draws(samples, provenance)
    return Task(name=PREFIX + name, params={}, log_density=density, truth=truth,
                initial_point=uniform_init(density.dim),
                pymc_model=lambda: model, tags={"posteriordb": True, "real_data": True},
                data={**posterior.data, "posterior": name})


def _factory(name: str) -> Callable[[], Task]:
    def factory() -> Task:
        return make_task(name)

    factory.__name__ = f"posteriordb_{name}"
    factory.__doc__ = f"posteriordb posterior {name!r} (no size parameters)."
    return factory


def registered_tasks() -> dict[str, Callable[..., Any]]:
    """``{task name: factory}`` for :func:`task_names`, for the task registry."""
    return {task: _factory(task[len(PREFIX):]) for task in task_names()}
