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
- at most ``max_divergences`` (0) divergent transitions after tuning;
- E-BFMI of every chain at least ``min_bfmi`` (0.3, Stan's warning level).

A run that fails is refused with a :class:`~vibench.VibenchError` naming each
failed check; nothing is stored. An accepted one is stored as ``STEM.npz``
(arrays) and ``STEM.json`` (provenance: versions, settings, seed, ESS, R-hat,
MCSE, the command that made it) in :func:`cache_dir`, where ``STEM`` is the
task name, its size parameters, a fingerprint of its log density (values at
three fixed points, so changed data or model never reuse a stale reference)
and a hash of the settings. References shipped with vibench
(``vibench/tasks/references/``) are read when the cache has none;
``vibench truth TASK [k=v ...] --refresh`` recomputes one into the cache.

Tests and the CLI choose settings or force a refresh for everything built in a
block: ``with reference.using(ReferenceSettings(chains=2, draws=500)): ...``.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import re
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .cell import size_label
from .density import LogDensity
from .errors import VibenchError
from .truth import Truth

__all__ = ["CACHE_ENV", "SHIPPED_DIR", "ReferenceSettings", "Reference", "using", "cache_dir", "fingerprint",
           "compute_reference", "reference_truth", "task_reference", "compare"]

#: Environment variable naming vibench's cache folder (references go to its ``references/``).
CACHE_ENV = "VIBENCH_CACHE"
#: References that ship with vibench, read when the cache has none.
SHIPPED_DIR = Path(__file__).resolve().parent / "tasks" / "references"
VERSIONED = ("vibench", "pymc", "pytensor", "arviz", "numpy", "scipy")


@dataclass(frozen=True)
class ReferenceSettings:
    """How a reference is sampled and what it must pass (see the module docstring).

    Attributes
    ----------
    chains, draws, tune, seed, target_accept
        ``pm.sample`` arguments (chains run one after another, on one core).
    keep : int
        Evenly thinned draws stored with the reference (moments use all draws).
    max_rhat, min_ess_bulk, min_ess_tail, max_divergences, min_bfmi
        The checks: R-hat ``< max_rhat``, ESS ``>=`` its minimum for every
        coordinate, divergences ``<= max_divergences``, every chain's E-BFMI ``>= min_bfmi``.
    """

    chains: int = 4
    draws: int = 5000
    tune: int = 1000
    seed: int = 0
    target_accept: float = 0.9
    keep: int = 4000
    max_rhat: float = 1.01
    min_ess_bulk: float = 1000.0
    min_ess_tail: float = 1000.0
    max_divergences: int = 0
    min_bfmi: float = 0.3

    def __post_init__(self):
        if self.chains < 1 or self.draws < 10 or self.tune < 0 or self.keep < 1:
            raise VibenchError(f"reference settings need chains >= 1, draws >= 10, tune >= 0, keep >= 1: {self}")

    def key(self) -> str:
        """A short hash of the settings, part of the file name."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:8]


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


def cache_dir() -> Path:
    """``$VIBENCH_CACHE/references``, else ``$XDG_CACHE_HOME/vibench/references`` or ``~/.cache/vibench/references``."""
    root = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vibench"
    return Path(root) / "references"


def fingerprint(log_density: LogDensity) -> str:
    """A hash of the log density's values at three fixed points: changes when data or model change."""
    points = np.random.default_rng(20240601).standard_normal((3, log_density.dim))
    saved = log_density.counts()
    try:
        values = np.asarray(log_density.logp(points), dtype=float)
    finally:
        log_density.n_logp, log_density.n_grad = saved["n_logp"], saved["n_grad"]
    text = f"{log_density.dim};" + ";".join(f"{v:.10e}" for v in values)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


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


def _coordinates(model) -> list[str]:
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
    if divergences > settings.max_divergences:
        failed.append(f"{divergences} divergent transitions after tuning (allowed: {settings.max_divergences})")
    if not np.min(diag["bfmi"]) >= settings.min_bfmi:
        failed.append(f"E-BFMI {np.min(diag['bfmi']):.2f} < {settings.min_bfmi}")
    return failed


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
    names = _coordinates(model)
    started = time.perf_counter()
    with quiet_pymc():
        trace = pm.sample(draws=settings.draws, tune=settings.tune, chains=settings.chains, cores=1,
                          random_seed=settings.seed, target_accept=settings.target_accept, model=model,
                          progressbar=False, compute_convergence_checks=False, return_inferencedata=False,
                          compile_kwargs={"mode": pytensor_mode(mode)})
    values = [np.stack(trace.get_values(v.name, combine=False)) for v in model.value_vars]
    samples = np.concatenate([v.reshape(v.shape[:2] + (-1,)) for v in values], axis=-1)
    divergences = int(np.sum(trace.get_sampler_stats("diverging", combine=False)))
    diag = _diagnostics(samples, np.stack(trace.get_sampler_stats("energy", combine=False)))
    failed = _failures(diag, divergences, settings, names)
    if failed:
        raise VibenchError(f"reference for {label} refused: {'; '.join(failed)} "
                           f"({settings.chains} chains x {settings.draws} draws, seed {settings.seed}); "
                           "run longer, or reparameterize the model")
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


def _stem(name: str, params: dict[str, Any], fp: str, settings: ReferenceSettings) -> str:
    safe = re.sub(r"[^A-Za-z0-9._=,+-]", "_", f"{name}-{size_label(params) or 'default'}")
    return f"{safe}-{fp}-{settings.key()}"


def _load(stem: str) -> Truth | None:
    for folder in (cache_dir(), SHIPPED_DIR):
        meta, arrays = folder / f"{stem}.json", folder / f"{stem}.npz"
        if not (meta.is_file() and arrays.is_file()):
            continue
        try:
            provenance = json.loads(meta.read_text())
            with np.load(arrays) as data:
                ref = Reference(**{k: data[k] for k in ("mean", "sd", "cov", "mean_se", "sd_se", "draws")},
                                provenance={**provenance, "path": str(arrays)})
        except (OSError, ValueError, KeyError) as exc:
            warnings.warn(f"ignoring unreadable reference {arrays}: {exc}", stacklevel=3)
            continue
        return ref.truth()
    return None


def _save(ref: Reference, stem: str) -> Path:
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    arrays, meta = folder / f"{stem}.npz", folder / f"{stem}.json"
    tmp = folder / f".{stem}.{os.getpid()}"
    with open(f"{tmp}.npz", "wb") as fh:
        np.savez_compressed(fh, mean=ref.mean, sd=ref.sd, cov=ref.cov, mean_se=ref.mean_se, sd_se=ref.sd_se,
                            draws=ref.draws)
    os.replace(f"{tmp}.npz", arrays)
    Path(f"{tmp}.json").write_text(json.dumps(ref.provenance, indent=1))
    os.replace(f"{tmp}.json", meta)  # written last: a reference is complete once its .json exists
    return arrays


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
        Kind ``reference``; ``provenance["path"]`` is the ``.npz`` file.

    Raises
    ------
    VibenchError
        When a new reference run fails its checks.
    """
    options = _OPTIONS.get()
    settings = settings or options.settings or ReferenceSettings()
    fp = fingerprint(log_density)
    stem = _stem(name, params, fp, settings)
    if not options.refresh:
        found = _load(stem)
        if found is not None:
            return found
    label = f"{name}({size_label(params)})"
    warnings.warn(f"computing the reference truth of {label} ({settings.chains} chains x {settings.draws} draws "
                  f"of PyMC NUTS), once: it is stored in {cache_dir()}", stacklevel=2)
    ref = _run(log_density, pymc_model, settings, label)
    args = " ".join(f"{k}={v}" for k, v in sorted(params.items()))
    ref.provenance.update(task=name, params=params, fingerprint=fp,
                          command=command or f"vibench truth {name} {args} --refresh".replace("  ", " "))
    ref.provenance["path"] = str(_save(ref, stem))
    return ref.truth()


def _run(log_density: LogDensity, pymc_model, settings: ReferenceSettings, label: str) -> Reference:
    from . import pymc_bridge

    if pymc_model is not None:
        return compute_reference(pymc_model(), settings, label, mode="NUMBA")
    saved = log_density.counts()  # the Op calls the task's density: not a method's cost
    try:
        return compute_reference(pymc_bridge.op_model(log_density), settings, label, mode="FAST_RUN")
    finally:
        log_density.n_logp, log_density.n_grad = saved["n_logp"], saved["n_grad"]


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
