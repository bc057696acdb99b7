"""Suite files: TOML -> validated ``Suite`` -> cells.

A suite file::

    name = "smoke"                       # optional; defaults to the file name
    description = "..."
    seeds = [0]                          # default [0]
    timeout = 120                        # seconds per cell, optional
    thresholds = {moments = [0.1], dist = [0.1, 0.2], kl = [0.1, 1.0]}   # accuracy levels of the answer

    [[tasks]]
    name = "gaussian"
    dim = [2, 10, 100]                   # a list is a grid axis (cartesian product)
    rho = 0.9

    [[methods]]
    name = "meanfield"
    budgets = [100, 1000]                # steps, or tables {steps = 100, max_seconds = 5}
    tasks = ["gaussian"]                 # optional: run it on these of the suite's tasks only
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cell import Cell
from .errors import VibenchError, closest, did_you_mean
from .method import Budget
from .scoring.levels import levels_to_dict, parse_levels

__all__ = ["Suite", "TaskSpec", "MethodSpec", "load_suite", "parse_suite", "suite_digest", "builtin_suites",
           "SUITES_DIR"]

#: Built-in suites live in the repository's suites/ folder.
SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"
TOP_KEYS = {"name", "description", "seeds", "timeout", "thresholds", "tasks", "methods"}


@dataclass(frozen=True)
class TaskSpec:
    """A task and the grid of sizes to build it at."""

    name: str
    sizes: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class MethodSpec:
    """A method, the budgets to run it with, and (``tasks``) the suite's tasks it runs on (``None``: all)."""

    name: str
    budgets: tuple[Budget, ...]
    tasks: tuple[str, ...] | None = None

    def runs_on(self, task: str) -> bool:
        """Whether this method has cells on ``task``."""
        return self.tasks is None or task in self.tasks


@dataclass
class Suite:
    """A validated suite: what to run and how to judge it."""

    name: str
    tasks: list[TaskSpec]
    methods: list[MethodSpec]
    seeds: list[int] = field(default_factory=lambda: [0])
    timeout: float | None = None
    thresholds: dict[str, list[float]] = field(default_factory=lambda: levels_to_dict(parse_levels()))
    description: str = ""
    path: str = ""
    #: A fingerprint of the whole suite as written (before ``--tasks``/``--methods``/``--seed``
    #: filters): ``--resume`` refuses a run directory made from other suite content.
    digest: str = ""

    def cells(self) -> list[Cell]:
        """Every (task, size, method, budget, seed) in a fixed order."""
        return [
            Cell.make(t.name, size, m.name, budget, seed)
            for t in self.tasks
            for size in t.sizes
            for m in self.methods
            if m.runs_on(t.name)
            for budget in m.budgets
            for seed in self.seeds
        ]

    def filtered(self, tasks: list[str] | None = None, methods: list[str] | None = None) -> "Suite":
        """The same suite restricted to the named tasks and methods."""
        for kind, names, have in (("task", tasks, self.tasks), ("method", methods, self.methods)):
            if names is not None and not names:
                raise VibenchError(f"--{kind}s needs at least one {kind} name")
            choices = sorted({s.name for s in have})
            for name in names or []:
                if name not in choices:
                    raise VibenchError(f"suite {self.name!r} has no {kind} {name!r}; it has: "
                                       + ", ".join(choices) + _hint(name, choices))
        return Suite(
            name=self.name,
            tasks=[t for t in self.tasks if not tasks or t.name in tasks],
            methods=[m for m in self.methods if not methods or m.name in methods],
            seeds=list(self.seeds), timeout=self.timeout, thresholds=self.thresholds,
            description=self.description, path=self.path, digest=self.digest,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``run.json``."""
        return {
            "name": self.name, "path": self.path, "description": self.description,
            "seeds": self.seeds, "timeout": self.timeout, "thresholds": {k: list(v) for k, v in self.thresholds.items()},
            "tasks": [{"name": t.name, "sizes": list(t.sizes)} for t in self.tasks],
            "methods": [{"name": m.name, "budgets": [b.to_dict() for b in m.budgets],
                         **({"tasks": list(m.tasks)} if m.tasks is not None else {})} for m in self.methods],
            "digest": self.digest,
        }


def suite_digest(suite: Suite) -> str:
    """16 hex digits identifying what a suite runs and how it is judged (not its path or description)."""
    data = suite.to_dict()
    for key in ("path", "description", "digest"):
        data.pop(key, None)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def builtin_suites() -> dict[str, Path]:
    """Built-in suite names and their files."""
    return {p.stem: p for p in sorted(SUITES_DIR.glob("*.toml"))}


def _hint(name: str, choices: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    close = closest(name, choices)
    return f"; did you mean {close!r}?" if close else ""


def _fail(where: str, msg: str) -> VibenchError:
    return VibenchError(f"{where}: {msg}")


def _number_list(where, key, value, kind=float, positive=True) -> list:
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)):
            raise _fail(where, f"{key!r} must be {'integers' if kind is int else 'numbers'}, got {v!r}")
        if not math.isfinite(v):
            raise _fail(where, f"{key!r} must be finite, got {v!r}")
        if positive and v <= 0:
            raise _fail(where, f"{key!r} must be > 0, got {v!r}")
        out.append(kind(v))
    return out


def _reference_table(where: str, task: str, params: dict[str, Any]) -> None:
    """A ``[tasks.reference]`` table (draws, chains, tune, target_accept, max_divergence_rate, ...) becomes the
    task's ``reference`` parameter, a canonical ``key=value`` string (:func:`vibench.reference.format_settings`)
    that a user model's factory turns back into its ``ReferenceSettings``; in place, checked here."""
    table = params.get("reference")
    if isinstance(table, dict):
        from .reference import format_settings

        try:
            params["reference"] = format_settings(table)
        except VibenchError as exc:
            raise _fail(where, f"task {task!r}: [tasks.reference]: {exc}") from None


def _task_spec(where: str, entry: Any) -> TaskSpec:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise _fail(where, "each [[tasks]] entry needs a string 'name'")
    params = {k: v for k, v in entry.items() if k != "name"}
    _reference_table(where, entry["name"], params)
    for k, v in params.items():
        values = v if isinstance(v, list) else [v]
        odd = next((x for x in values if not isinstance(x, (str, int, float, dict, list))), None)
        if odd is not None:  # a TOML date or time: no task takes one, and a cell's key is JSON
            raise _fail(where, f"task {entry['name']!r}: parameter {k!r} must be a string, number or boolean, "
                        f"got {type(odd).__name__} {odd!s}")
        if isinstance(v, list) and len({json.dumps(x, sort_keys=True, default=str) for x in v}) < len(v):
            raise _fail(where, f"task {entry['name']!r}: parameter {k!r} repeats a value: {v!r}")
        if any(isinstance(x, float) and not math.isfinite(x) for x in values):
            raise _fail(where, f"task {entry['name']!r}: parameter {k!r} must be finite, got {v!r}")
        if isinstance(v, (dict, list)) and (not v or any(isinstance(x, (dict, list)) for x in (v if isinstance(v, list) else [v]))):
            raise _fail(where, f"task {entry['name']!r}: parameter {k!r} must be a value or a list of values")
    axes = [[(k, x) for x in (v if isinstance(v, list) else [v])] for k, v in sorted(params.items())]
    sizes = tuple(dict(combo) for combo in itertools.product(*axes))
    return TaskSpec(entry["name"], sizes)


def _method_spec(where: str, entry: Any) -> MethodSpec:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise _fail(where, "each [[methods]] entry needs a string 'name'")
    unknown = sorted(set(entry) - {"name", "budgets", "tasks"})
    if unknown:
        raise _fail(where, f"method {entry['name']!r}: unknown key {unknown[0]!r} (allowed: name, budgets, tasks)")
    tasks = entry.get("tasks")
    if tasks is not None:
        if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
            raise _fail(where, f"method {entry['name']!r}: 'tasks' must be a non-empty list of task names, "
                        f"got {tasks!r}")
        if len(set(tasks)) < len(tasks):
            raise _fail(where, f"method {entry['name']!r}: 'tasks' repeats a task: {tasks!r}")
        tasks = tuple(tasks)
    raw = entry.get("budgets")
    if not isinstance(raw, list) or not raw:
        raise _fail(where, f"method {entry['name']!r} needs a non-empty 'budgets' list")
    budgets = []
    for b in raw:
        seconds = b.get("max_seconds") if isinstance(b, dict) else None
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                    or not math.isfinite(seconds) or seconds <= 0):
            raise _fail(where, f"method {entry['name']!r}: budget max_seconds must be a finite number > 0, "
                        f"got {seconds!r}")
        try:
            budgets.append(Budget.from_dict(b) if isinstance(b, dict) else Budget(b))
        except (VibenchError, TypeError, ValueError) as exc:
            raise _fail(where, f"method {entry['name']!r}: {exc}") from None
    if len(set(budgets)) < len(budgets):
        raise _fail(where, f"method {entry['name']!r} repeats a budget: {', '.join(str(b) for b in budgets)}")
    return MethodSpec(entry["name"], tuple(budgets), tasks)


def parse_suite(data: dict[str, Any], name: str, where: str) -> Suite:
    """Validate a parsed TOML document into a :class:`Suite`."""
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(TOP_KEYS))}")
    for key in ("tasks", "methods"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise _fail(where, f"needs at least one [[{key}]] entry")
    timeout = data.get("timeout")
    if timeout is not None:
        if isinstance(timeout, list):
            raise _fail(where, f"'timeout' must be one number of seconds, got {timeout!r}")
        timeout = _number_list(where, "timeout", timeout)[0]
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds:
        raise _fail(where, f"'seeds' must be a non-empty list of integers, got {seeds!r}")
    seeds = _number_list(where, "seeds", seeds, kind=int, positive=False)
    if any(s < 0 for s in seeds):
        raise _fail(where, "'seeds' must be >= 0")
    if len(set(seeds)) < len(seeds):
        raise _fail(where, f"'seeds' repeats a seed: {seeds}")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise _fail(where, f"{key!r} must be a string, got {data[key]!r}")
    try:
        thresholds = levels_to_dict(parse_levels(data.get("thresholds")))
    except ValueError as exc:
        raise _fail(where, str(exc)) from None
    if not thresholds:  # the answer gives its verdicts at these levels; none would be read as the defaults
        raise _fail(where, "thresholds gives no level: keep at least one threshold")
    suite = Suite(
        name=str(data.get("name", name)) or name,
        tasks=[_task_spec(where, e) for e in data["tasks"]],
        methods=[_method_spec(where, e) for e in data["methods"]],
        seeds=seeds, timeout=timeout, thresholds=thresholds,
        description=str(data.get("description", "")), path=where,
    )
    names = sorted({t.name for t in suite.tasks})
    for m in suite.methods:
        for task in m.tasks or ():
            if task not in names:
                raise _fail(where, f"method {m.name!r}: 'tasks' names {task!r}, which is not one of the suite's "
                            f"[[tasks]] ({', '.join(names)}){_hint(task, names)}")
    seen: set[str] = set()
    for cell in suite.cells():
        if cell.key in seen:
            raise _fail(where, f"cell {cell} appears twice: a task, method, budget or seed is listed twice")
        seen.add(cell.key)
    suite.digest = suite_digest(suite)
    return suite


def load_suite(name_or_path: str) -> Suite:
    """Load a built-in suite by name, or a suite file by path.

    Raises
    ------
    VibenchError
        Unknown suite name, unreadable file, malformed TOML or schema errors.
    """
    path = Path(name_or_path)
    if not (path.suffix == ".toml" or path.exists()):
        suites = builtin_suites()
        if name_or_path not in suites:
            raise did_you_mean("suite", name_or_path, suites)
        path = suites[name_or_path]
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VibenchError(f"suite file {str(path)!r} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise VibenchError(f"cannot read suite file {str(path)!r}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise VibenchError(f"malformed suite file {str(path)!r}: {exc}") from None
    return parse_suite(data, path.stem, str(path))
