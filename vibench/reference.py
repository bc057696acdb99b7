"""Reference truths: long NUTS runs, checked, stored with their provenance, computed once and reused.

Where neither a closed form nor quadrature gives the posterior, its truth is a
reference sample from PyMC's NUTS (the ``reference`` kind of
:class:`~vibench.Truth`): moments and covariance from all draws, their Monte
Carlo standard errors from ArviZ, and evenly thinned draws. A run is accepted
only if it passes checks adapted from posteriordb's reference posterior
definition, per coordinate of the unconstrained vector:

- rank-normalized split R-hat below ``max_rhat`` (1.01);
- bulk and tail ESS at least ``min_ess_bulk`` and ``min_ess_tail`` (1,000 each:
  Vehtari et al. 2021 ask 400 for reliable diagnostics; a reference needs its
  means' MCSE below 3% of a posterior sd);
- at most ``max(max_divergences, max_divergence_rate * chains * draws)``
  divergent transitions after tuning: 0.1 % of the post-tuning draws (20 of
  4 x 5,000) by default. posteriordb asks for none, but a long run of a
  well-mixed model (a non-centered hierarchical model: 2 divergences in
  20,000 draws) can show a few isolated ones that more draws only multiply;
  a rate, unlike a count, does not grow with the run. A run with more is
  refused with advice that fits the failure (raise ``target_accept`` or
  reparameterize; R-hat and ESS failures: run longer);
- E-BFMI of every chain at least ``min_bfmi`` (0.3, Stan's warning level).

A run that fails is refused with a :class:`~vibench.VibenchError` naming each
failed check; nothing is stored. An accepted one is stored as ``STEM.nc``, an
ArviZ InferenceData NetCDF file (the kept draws as its posterior, the moments
and the provenance: versions, settings, seed, ESS, R-hat, MCSE, the command
that made it; :mod:`vibench.reference_store`), in :func:`cache_dir`, where
``STEM`` is the task name, its size parameters, a fingerprint of its log
density (values at three fixed points, so changed data or model never reuse a
stale reference) and a hash of the settings. References stored before as
``STEM.npz`` and ``STEM.json`` are still read. References shipped with
vibench (``vibench/tasks/references/``) are read when the cache has none;
``vibench truth TASK [k=v ...] --refresh`` recomputes one into the cache.

Tests and the CLI choose settings or force a refresh for everything built in a
block: ``with reference.using(ReferenceSettings(chains=2, draws=500)): ...``.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

import numpy as np

from . import console, reference_store
from .cell import size_label
from .density import LogDensity
from .errors import VibenchError
from .reference_settings import ReferenceSettings, format_settings, parse_settings
from .reference_store import CACHE_ENV, SHIPPED_DIR, Reference, cache_dir
from .truth import Truth

__all__ = ["CACHE_ENV", "SHIPPED_DIR", "ReferenceSettings", "Reference", "ReferenceRefused", "RefusedTruth", "using",
           "cache_dir", "fingerprint", "compute_reference", "reference_truth", "reference_from_idata",
           "task_reference", "compare", "parse_settings", "format_settings", "TruthUnavailable"]

VERSIONED = ("vibench", "pymc", "pytensor", "arviz", "numpy", "scipy")


@dataclass
class _Options:
    settings: ReferenceSettings | None = None
    refresh: bool = False


_OPTIONS: contextvars.ContextVar[_Options] = contextvars.ContextVar("vibench_reference_options", default=_Options())


@contextlib.contextmanager
def using(settings: ReferenceSettings | None = None, refresh: bool | None = None) -> Iterator[None]:
    """Within the block, references are made with ``settings`` and, if ``refresh``, recomputed.

    ``None`` keeps what an enclosing block chose.
    """
    outer = _OPTIONS.get()
    token = _OPTIONS.set(_Options(settings or outer.settings, outer.refresh if refresh is None else refresh))
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def fingerprint(log_density: LogDensity) -> str:
    """A hash of the log density's values at three fixed points: changes when data or model change."""
    points = np.random.default_rng(20240601).standard_normal((3, log_density.dim))
    with log_density.uncounted():
        values = np.asarray(log_density.logp(points), dtype=float)
    text = f"{log_density.dim};" + ";".join(f"{v:.10e}" for v in values)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def coordinate_names(model) -> list[str]:
    """One name per flat unconstrained coordinate (``tau_log__``, ``beta[0]``, ...), in value_vars order."""
    point = model.initial_point()
    names = []
    for var in model.value_vars:
        size = int(np.size(point[var.name]))
        names += [var.name] if np.ndim(point[var.name]) == 0 else [f"{var.name}[{i}]" for i in range(size)]
    return names


def _diagnostics(samples: np.ndarray, energy: np.ndarray) -> dict[str, np.ndarray]:
    """Per coordinate: bulk/tail ESS, R-hat, MCSE of mean and sd (vibench's one ArviZ wrapper); E-BFMI per chain."""
    import arviz as az

    from .scoring.diagnostics import chain_stats

    stats = chain_stats(samples)
    out = {"ess_bulk": stats.ess_bulk, "ess_tail": stats.ess_tail, "rhat": stats.rhat,
           "mcse_mean": stats.mcse_mean, "mcse_sd": stats.mcse_sd}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["bfmi"] = np.atleast_1d(az.bfmi(energy))
    return out


def _failures(diag: dict[str, np.ndarray], divergences: int, settings: ReferenceSettings,
              names: list[str]) -> list[str]:
    """One message per failed check (empty when the run is accepted)."""
    failed = []
    rhat = np.nan_to_num(diag["rhat"], nan=np.inf)  # undefined (e.g. a stuck chain) fails
    worst = int(np.argmax(rhat))
    if not rhat[worst] < settings.max_rhat:
        failed.append(f"R-hat {rhat[worst]:.4f} >= {settings.max_rhat} at {names[worst]}")
    for key, bound in (("ess_bulk", settings.min_ess_bulk), ("ess_tail", settings.min_ess_tail)):
        low = int(np.argmin(np.nan_to_num(diag[key], nan=-np.inf)))
        if not diag[key][low] >= bound:
            failed.append(f"{key.replace('_', ' ')} {diag[key][low]:.0f} < {bound:.0f} at {names[low]}")
    allowed = settings.allowed_divergences()
    if divergences > allowed:
        share = f"{divergences / (settings.chains * settings.draws):.2%} of {settings.chains * settings.draws} draws"
        failed.append(f"{divergences} divergent transitions after tuning ({share}; allowed: {allowed})")
    if not np.min(diag["bfmi"]) >= settings.min_bfmi:
        failed.append(f"E-BFMI {np.min(diag['bfmi']):.2f} < {settings.min_bfmi}")
    return failed


class ReferenceRefused(VibenchError):
    """A reference run that failed its checks (the message names each check and what to change)."""


def _advice(failed: list[str]) -> str:
    """What to change, for the checks that failed (more draws cannot fix divergences)."""
    tips = []
    if any("divergent" in f for f in failed):
        tips.append("for divergences raise target_accept (e.g. 0.99) or reparameterize the model (non-centered), "
                    "or allow more with max_divergence_rate")
    if any(f.startswith(("R-hat", "ess")) for f in failed):
        tips.append("for R-hat or ESS run longer (more draws or chains)")
    if any(f.startswith("E-BFMI") for f in failed):
        tips.append("for E-BFMI reparameterize the model")
    where = ("set these in the suite's [tasks.reference] table (draws, chains, tune, target_accept, "
             "max_divergence_rate, ...) or pass settings=ReferenceSettings(...) to from_pymc")
    return "; ".join(tips) + f" ({where})"


def compute_reference(model, settings: ReferenceSettings | None = None, label: str = "model",
                      mode: str | None = None) -> Reference:
    """Sample ``model`` with PyMC's NUTS, check the run and summarize it (nothing is stored).

    Parameters
    ----------
    model : pymc.Model
        Draws are flat vectors in ``model.value_vars`` order (the unconstrained space).
    settings : ReferenceSettings, optional
    label : str
        The task's label, for messages.
    mode : str, optional
        PyTensor mode; default :func:`vibench.pymc_bridge.pytensor_mode`.

    Returns
    -------
    Reference

    Raises
    ------
    VibenchError
        ``reference for LABEL refused: ...`` naming every failed check.
    """
    from .pymc_bridge import import_pymc, pytensor_mode, quiet_pymc

    settings = settings or ReferenceSettings()
    pm = import_pymc()
    names = coordinate_names(model)
    started = time.perf_counter()
    with quiet_pymc():
        trace = pm.sample(draws=settings.draws, tune=settings.tune, chains=settings.chains, cores=1,
                          random_seed=settings.seed, target_accept=settings.target_accept, model=model,
                          progressbar=console.interactive(), compute_convergence_checks=False,
                          return_inferencedata=False, compile_kwargs={"mode": pytensor_mode(mode)})
    values = [np.stack(trace.get_values(v.name, combine=False)) for v in model.value_vars]
    samples = np.concatenate([v.reshape(v.shape[:2] + (-1,)) for v in values], axis=-1)
    divergences = int(np.sum(trace.get_sampler_stats("diverging", combine=False)))
    diag = _diagnostics(samples, np.stack(trace.get_sampler_stats("energy", combine=False)))
    failed = _failures(diag, divergences, settings, names)
    if failed:
        raise ReferenceRefused(f"reference for {label} refused: {'; '.join(failed)} "
                               f"({settings.chains} chains x {settings.draws} draws, target_accept "
                               f"{settings.target_accept}, seed {settings.seed}); {_advice(failed)}")
    flat = samples.reshape(-1, samples.shape[-1])
    cov = np.atleast_2d(np.cov(flat, rowvar=False))
    per_chain = max(1, settings.keep // settings.chains)
    index = np.linspace(0, samples.shape[1] - 1, min(per_chain, samples.shape[1])).round().astype(int)
    provenance = {
        "method": "PyMC NUTS reference run",
        "settings": asdict(settings),
        "versions": _versions(),
        "seconds": round(time.perf_counter() - started, 2),
        "coordinates": names,
        "divergences": divergences,
        "rhat_max": float(np.max(diag["rhat"])),
        "ess_bulk_min": float(np.min(diag["ess_bulk"])),
        "ess_tail_min": float(np.min(diag["ess_tail"])),
        "bfmi_min": float(np.min(diag["bfmi"])),
        **{key: diag[key].tolist() for key in ("ess_bulk", "ess_tail", "rhat", "mcse_mean", "mcse_sd")},
    }
    return Reference(mean=flat.mean(axis=0), sd=np.sqrt(np.diag(cov)), cov=cov, mean_se=diag["mcse_mean"],
                     sd_se=diag["mcse_sd"], draws=samples[:, index].reshape(-1, samples.shape[-1]),
                     provenance=provenance)


def _versions() -> dict[str, str]:
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = ""
    return out


def reference_truth(name: str, params: dict[str, Any], log_density: LogDensity,
                    pymc_model: Callable[[], Any] | None = None, settings: ReferenceSettings | None = None,
                    command: str | None = None) -> Truth:
    """The stored reference truth of a task, computed (and stored) first if there is none.

    Parameters
    ----------
    name, params : str, dict
        The task's name and size parameters: with :func:`fingerprint` of
        ``log_density`` and the settings, the key of the stored reference.
    log_density : LogDensity
    pymc_model : callable, optional
        Builds the PyMC model to sample; default: the black-box Op over ``log_density``.
    settings : ReferenceSettings, optional
        Default: those of the enclosing :func:`using` block, else ``ReferenceSettings()``.
    command : str, optional
        How to regenerate it, recorded in the provenance; default ``vibench truth NAME k=v --refresh``.

    Returns
    -------
    Truth
        Kind ``reference``; ``provenance["path"]`` is the ``.nc`` file (or an old ``.npz``).

    Raises
    ------
    VibenchError
        When a new reference run fails its checks.
    """
    options = _OPTIONS.get()
    settings = settings or options.settings or ReferenceSettings()
    fp = fingerprint(log_density)
    stem = reference_store.stem(name, params, fp, settings)
    refusal, message = reference_store.read_refusal(stem)
    if not options.refresh:
        found = reference_store.load(stem)
        if found is not None:
            return found
        if message:  # the same model, data and settings were refused before: NUTS is deterministic
            raise ReferenceRefused(f"{message} [stored refusal {refusal.name}; `vibench truth ... --refresh` "
                                   "recomputes it]")
    label = f"{name}({size_label(params)})"
    console.info(f"computing the reference truth of {label} ({settings.chains} chains x {settings.draws} draws "
                 f"of PyMC NUTS), once: it is stored in {cache_dir()}")  # information, not a warning
    try:
        ref = _run(log_density, pymc_model, settings, label)
    except ReferenceRefused as exc:
        reference_store.write_refusal(stem, {"error": str(exc), "settings": asdict(settings), "fingerprint": fp,
                                             "versions": _versions()})
        raise
    refusal.unlink(missing_ok=True)
    args = " ".join(f"{k}={v}" for k, v in sorted(params.items()))
    ref.provenance.update(task=name, params=params, fingerprint=fp,
                          command=command or f"vibench truth {name} {args} --refresh".replace("  ", " "))
    ref.provenance["path"] = str(reference_store.save(ref, stem))
    return ref.truth()


class TruthUnavailable(ReferenceRefused, AttributeError):
    """Raised by every field of a :class:`RefusedTruth` (an ``AttributeError`` too, so that
    ``getattr(truth, name, None)`` probes see a missing field and the runner's truth check names the refusal)."""


class RefusedTruth:
    """The truth of a task whose reference was refused: every field raises :class:`TruthUnavailable`.

    A suite's user task gets one instead of failing to build, so its cells
    become ``error`` rows whose message is the refusal (the failed checks and
    what to change), and the run goes on with the other tasks and sizes.
    """

    kind = "refused"

    def __init__(self, message: str):
        self.message = message
        self.provenance = {"refused": message}

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise TruthUnavailable(self.message)

    def __repr__(self) -> str:
        return f"<refused truth: {self.message}>"


def reference_from_idata(model, idata, label: str = "model", keep: int = 4000) -> Reference:
    """A :class:`Reference` from an ArviZ ``InferenceData``'s posterior: your own long run, or posteriordb's draws.

    Each free variable's draws are read from ``idata.posterior`` by its value
    variable's name where it is there (``tau_log__``: nutpie, or PyMC with
    transformed variables kept), else by its own name (``tau``, constrained)
    and mapped to the unconstrained space through the model's transforms,
    evaluated with the other variables' values of the same draw (bounds that
    depend on parameters work). Moments use every draw; MCSEs, R-hat and
    ESS come from :func:`vibench.scoring.diagnostics.chain_stats`; ``keep``
    draws are kept, evenly thinned. Nothing is checked or refused: the
    diagnostics are in the provenance for you to judge.

    Parameters
    ----------
    model : pymc.Model
    idata : arviz.InferenceData or xarray.Dataset
        With dims ``(chain, draw, ...)`` matching the model's variables.
    label : str
    keep : int

    Returns
    -------
    Reference

    Raises
    ------
    VibenchError
        A free variable missing from the posterior, or a shape that does not match.
    """
    from .pymc_bridge import unconstrained_draws
    from .scoring.diagnostics import chain_stats

    names = coordinate_names(model)
    try:
        rows = unconstrained_draws(model, getattr(idata, "posterior", idata))
    except ValueError as exc:
        raise VibenchError(f"truth for {label}: {exc}") from None
    chains, draws = rows.shape[:2]
    if not np.all(np.isfinite(rows)):
        raise VibenchError(f"truth for {label}: draws map to non-finite unconstrained values (outside the support?)")
    stats = chain_stats(rows)
    flatrows = rows.reshape(-1, rows.shape[-1])
    cov = np.atleast_2d(np.cov(flatrows, rowvar=False))
    per_chain = max(1, keep // chains)
    index = np.linspace(0, draws - 1, min(per_chain, draws)).round().astype(int)
    provenance = {
        "method": "InferenceData posterior (user supplied)",
        "chains": int(chains), "draws": int(draws),
        "versions": _versions(),
        "coordinates": names,
        "rhat_max": stats.rhat_max,
        "ess_bulk_min": float(np.nanmin(stats.ess_bulk)),
        "ess_tail_min": float(np.nanmin(stats.ess_tail)),
        **{key: getattr(stats, key).tolist() for key in ("ess_bulk", "ess_tail", "rhat", "mcse_mean", "mcse_sd")},
    }
    return Reference(mean=flatrows.mean(axis=0), sd=np.sqrt(np.diag(cov)), cov=cov, mean_se=stats.mcse_mean,
                     sd_se=stats.mcse_sd, draws=rows[:, index].reshape(-1, rows.shape[-1]), provenance=provenance)


def _run(log_density: LogDensity, pymc_model, settings: ReferenceSettings, label: str) -> Reference:
    from . import pymc_bridge

    if pymc_model is not None:
        return compute_reference(pymc_model(), settings, label, mode="NUMBA")
    with log_density.uncounted():  # the Op calls the task's density: not a method's cost
        return compute_reference(pymc_bridge.op_model(log_density), settings, label, mode="FAST_RUN")


def task_reference(task, settings: ReferenceSettings | None = None) -> Reference:
    """A fresh, unstored reference run on ``task`` (its ``pymc_model`` or the black-box Op)."""
    return _run(task.log_density, task.pymc_model, settings or _OPTIONS.get().settings or ReferenceSettings(),
                task.label)


def compare(truth: Truth, reference: Reference) -> dict[str, np.ndarray]:
    """z-scores of a reference's means and sds against a truth, in the reference's MCSEs.

    Returns
    -------
    dict
        ``z_mean`` and ``z_sd``, arrays of shape ``(dim,)``.
    """
    return {"z_mean": (reference.mean - truth.mean) / reference.mean_se,
            "z_sd": (reference.sd - truth.sd) / reference.sd_se}
