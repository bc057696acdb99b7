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
import dataclasses
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

__all__ = ["CACHE_ENV", "SHIPPED_DIR", "ReferenceSettings", "Reference", "ReferenceRefused", "RefusedTruth", "using",
           "cache_dir", "fingerprint", "compute_reference", "reference_truth", "reference_from_idata",
           "task_reference", "compare", "parse_settings", "format_settings", "TruthUnavailable"]

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
        coordinate, divergences ``<=`` :meth:`allowed_divergences`, every chain's E-BFMI ``>= min_bfmi``.
    max_divergence_rate : float
        Divergent transitions allowed per post-tuning draw (all chains):
        0.001, i.e. 0.1 %; ``0`` with ``max_divergences = 0`` is posteriordb's
        zero-divergence rule.
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
    max_divergence_rate: float = 0.001

    def __post_init__(self):
        if self.chains < 1 or self.draws < 10 or self.tune < 0 or self.keep < 1:
            raise VibenchError(f"reference settings need chains >= 1, draws >= 10, tune >= 0, keep >= 1: {self}")
        if not 0.0 < self.target_accept < 1.0:
            raise VibenchError(f"reference target_accept must be in (0, 1), got {self.target_accept}")
        if self.max_divergences < 0 or not 0.0 <= self.max_divergence_rate < 1.0:
            raise VibenchError("reference max_divergences must be >= 0 and max_divergence_rate in [0, 1), got "
                               f"{self.max_divergences} and {self.max_divergence_rate}")

    def allowed_divergences(self) -> int:
        """Divergent transitions after tuning a run may have: ``max_divergences`` or the rate's share, the larger."""
        return max(int(self.max_divergences), int(self.max_divergence_rate * self.chains * self.draws))

    def key(self) -> str:
        """A short hash of the settings, part of the file name.

        ``max_divergence_rate`` enters only when it is not its default, so
        references stored before it existed (which had no divergences) keep their key.
        """
        data = asdict(self)
        if data["max_divergence_rate"] == ReferenceSettings.max_divergence_rate:
            del data["max_divergence_rate"]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]


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
                          progressbar=False, compute_convergence_checks=False, return_inferencedata=False,
                          compile_kwargs={"mode": pytensor_mode(mode)})
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
    refusal = cache_dir() / f"{stem}.refused.json"
    if not options.refresh:
        found = _load(stem)
        if found is not None:
            return found
        if refusal.is_file():  # the same model, data and settings were refused before: NUTS is deterministic
            try:
                message = json.loads(refusal.read_text())["error"]
            except (OSError, ValueError, KeyError):
                message = None
            if message:
                raise ReferenceRefused(f"{message} [stored refusal {refusal.name}; `vibench truth ... --refresh` "
                                       "recomputes it]")
    label = f"{name}({size_label(params)})"
    warnings.warn(f"computing the reference truth of {label} ({settings.chains} chains x {settings.draws} draws "
                  f"of PyMC NUTS), once: it is stored in {cache_dir()}", stacklevel=2)
    try:
        ref = _run(log_density, pymc_model, settings, label)
    except ReferenceRefused as exc:
        try:
            refusal.parent.mkdir(parents=True, exist_ok=True)
            refusal.write_text(json.dumps({"error": str(exc), "settings": asdict(settings), "fingerprint": fp,
                                           "versions": _versions()}, indent=1))
        except OSError:
            pass
        raise
    refusal.unlink(missing_ok=True)
    args = " ".join(f"{k}={v}" for k, v in sorted(params.items()))
    ref.provenance.update(task=name, params=params, fingerprint=fp,
                          command=command or f"vibench truth {name} {args} --refresh".replace("  ", " "))
    ref.provenance["path"] = str(_save(ref, stem))
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


def parse_settings(text: str | dict[str, Any] | None, where: str = "reference") -> ReferenceSettings | None:
    """``ReferenceSettings`` from a suite's ``[tasks.reference]`` table or its :func:`format_settings` string.

    Parameters
    ----------
    text : str or dict or None
        ``{"draws": 20000, "target_accept": 0.95}`` or ``"draws=20000,target_accept=0.95"``; ``None`` or
        ``""`` gives ``None`` (the defaults).
    where : str
        For messages.

    Raises
    ------
    VibenchError
        Unknown keys, values of the wrong type, or settings :class:`ReferenceSettings` refuses.
    """
    if text is None or text == "" or text == {}:
        return None
    if isinstance(text, str):
        items = {}
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise VibenchError(f"{where}: expected key=value, got {part!r}")
            try:
                items[key.strip()] = json.loads(value)
            except ValueError:
                raise VibenchError(f"{where}: {key.strip()} must be a number, got {value!r}") from None
        text = items
    if not isinstance(text, dict):
        raise VibenchError(f"{where}: the reference settings must be a table, got {text!r}")
    fields = {f.name: f.type for f in dataclasses.fields(ReferenceSettings)}
    unknown = sorted(set(text) - set(fields))
    if unknown:
        raise VibenchError(f"{where}: unknown reference setting {unknown[0]!r}; allowed: {', '.join(fields)}")
    values = {}
    for key, value in text.items():
        integer = fields[key] in (int, "int")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
            raise VibenchError(f"{where}: {key} must be {'an integer' if integer else 'a number'}, got {value!r}")
        values[key] = int(value) if integer else float(value)
    return ReferenceSettings(**values)


def format_settings(table: dict[str, Any]) -> str:
    """The canonical string of a ``[tasks.reference]`` table (sorted ``key=value``, checked by :func:`parse_settings`)."""
    parse_settings(table)
    return ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(table.items()))


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
