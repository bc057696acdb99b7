"""The score table of a mutation run: counts per module and group, kill percentages, survivors, stale equivalents.

Used by ``suites/mutation.py``; kept apart so the arithmetic the project's
mutation scores rest on is tested on its own (tests/test_mutation_table.py).
"""

from __future__ import annotations

import ast
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Callable, Sequence

KILLED = ("killed", "caught by type check")


class MutationError(Exception):
    """A problem with the arguments or the workspace, reported as one line."""


def module_of(mutant: str) -> str:
    """The module of a mutant name (``vibench.scoring.kl.x_kl__mutmut_3`` -> ``vibench.scoring.kl``)."""
    return mutant.partition("__mutmut_")[0].rsplit(".", 1)[0]


def _read(path: Path, parse: Callable[[str], Any], error: type[Exception]) -> Any:
    """``parse`` of the file's text, ``{}`` if there is no file; a parse error as a one-line MutationError."""
    if not path.exists():
        return {}
    try:
        return parse(path.read_text())
    except error as exc:
        raise MutationError(f"{path.name}: {exc}") from None


def load_equivalents(path: Path) -> dict[str, str]:
    """Mutant name -> why it is equivalent, from ``docs/mutation_equivalents.toml``."""
    data = _read(path, tomllib.loads, tomllib.TOMLDecodeError)
    for name, reason in data.items():
        if "__mutmut_" not in name or not isinstance(reason, str) or not reason.strip():
            raise MutationError(f'{path.name}: want "<mutant name>" = "<reason>", got {name!r} = {reason!r}')
    return data


def fingerprints(source: str, module: str) -> dict[str, str]:
    """Mutant name -> a hash of what the mutant is: its function's arguments and body, not its name or number.

    ``source`` is a mutated file of mutmut's ``mutants/`` (every mutant is a function ``<name>__mutmut_<N>``,
    a method's inside its class). mutmut numbers the mutants of a function in order, so editing the function
    gives a listed number to another mutant; a listed equivalent whose hash has changed must be read again.
    Comments, docstrings and formatting do not count (the body is compared as ``ast.unparse`` prints it).
    """
    out = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "__mutmut_" in node.name:
            if node.name.rpartition("__mutmut_")[2].isdigit():
                body = node.body[1:] if ast.get_docstring(node) is not None else node.body
                text = ast.unparse(node.args) + "\n" + "\n".join(ast.unparse(statement) for statement in body)
                out[f"{module}.{node.name}"] = hashlib.sha1(text.encode()).hexdigest()[:12]
    return out


def load_fingerprints(path: Path) -> dict[str, str]:
    """The recorded fingerprints of listed equivalents (``docs/mutation_fingerprints.json``), or none."""
    data = _read(path, json.loads, json.JSONDecodeError)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise MutationError(f"{path.name}: want an object of mutant name -> fingerprint")
    return data


def recorded_fingerprints(recorded: dict[str, str], current: dict[str, str],
                          equivalents: dict[str, str]) -> dict[str, str]:
    """``recorded`` updated with the ``current`` fingerprints of the listed equivalents; unlisted names dropped."""
    merged = {**recorded, **{n: h for n, h in current.items() if n in equivalents}}
    return {n: merged[n] for n in sorted(merged) if n in equivalents}


def changed_equivalents(current: dict[str, str], recorded: dict[str, str], equivalents: dict[str, str]) -> list[str]:
    """Listed equivalents whose mutant is no longer the one fingerprinted when it was listed."""
    return [n for n in equivalents if n in current and n in recorded and current[n] != recorded[n]]


COLUMNS = ("killed", "timeout", "survived", "no tests", "not run", "other", "equivalent", "total")
NOT_KILLED = ("survived", "no tests", "not checked", "suspicious", "segfault", "check was interrupted by user")


def tally(statuses: dict[str, str], equivalents: dict[str, str]) -> dict[str, int]:
    """Counts of ``COLUMNS`` (and ``skipped``) over mutants' statuses; the listed equivalents that survived
    count as ``equivalent``, other outcomes (suspicious, segfault: a CPU-limit SIGKILL) as ``other``."""
    c = dict.fromkeys((*COLUMNS, "skipped"), 0)
    for name, status in statuses.items():
        if status in KILLED:
            c["killed"] += 1
        elif status in ("timeout", "skipped"):
            c[status] += 1
        elif name in equivalents:
            c["equivalent"] += 1
        elif status in ("survived", "no tests"):
            c[status] += 1
        else:
            c["not run" if status == "not checked" else "other"] += 1
    c["total"] = len(statuses)
    return c


def score(c: dict[str, int]) -> float | None:
    """Kill percentage ``(killed + timeout) / (total - skipped - equivalent)``; None without mutants."""
    scored = c["total"] - c["skipped"] - c["equivalent"]
    return 100.0 * (c["killed"] + c["timeout"]) / scored if scored else None


def report(found: dict[str, dict[str, str]], equivalents: dict[str, str], groups: Sequence[tuple[str, list[str]]],
           workspace: Path, changed: Sequence[str] = ()) -> str:
    """The score table (modules, then ``groups`` and overall), the survivors and the stale equivalents.

    ``found`` maps repository paths to {mutant name: mutmut status}; ``equivalents`` is
    :func:`load_equivalents`'s; ``groups`` are (label, paths) rows after the modules' (the areas and
    "scoring and truth"); ``workspace`` is named in the triage hint; ``changed`` are the listed equivalents
    whose fingerprint differs from the recorded one (:func:`changed_equivalents`).
    """
    width = max([len(f) for f in found] + [len(label) for label, _ in groups] + [len("overall")])
    head = f"{'module':<{width}}" + "".join(f"{c:>{len(c) + 2}}" for c in COLUMNS) + f"{'kill %':>8}"
    rule = "-" * len(head)

    def row(label: str, paths: list[str]) -> str:
        c = tally({k: v for p in paths for k, v in found[p].items()}, equivalents)
        s = score(c)
        cells = "".join(f"{c[k]:>{len(k) + 2}}" for k in COLUMNS)
        return f"{label:<{width}}{cells}" + (f"{s:>8.1f}" if s is not None else f"{'-':>8}")

    lines = [head, rule, *(row(f, [f]) for f in found), rule]
    lines += [row(label, paths) for label, paths in groups if paths]
    lines.append(row("overall", list(found)))
    everything = {k: v for p in found for k, v in found[p].items()}
    survivors = [(n, s) for n, s in everything.items() if s in NOT_KILLED and n not in equivalents]
    if survivors:
        lines += ["", f"{len(survivors)} not killed (triage: cd {workspace} && python -m mutmut show NAME):"]
        lines += [f"  {n}" + (f"  [{s}]" if s != "survived" else "") for n, s in survivors]
    modules = {module_of(n) for n in everything}
    stale = [n for n in equivalents if module_of(n) in modules and everything.get(n, "missing") in
             (*KILLED, "timeout", "missing")]
    if stale:
        lines += ["", "equivalents killed or missing (renumbered? edit docs/mutation_equivalents.toml):"]
        lines += [f"  {n}  [{everything.get(n, 'missing')}]" for n in stale]
    if changed:
        lines += ["", "equivalents whose mutant changed since they were listed (read each against its diff, "
                  "fix docs/mutation_equivalents.toml, then --fingerprint):"]
        lines += [f"  {n}  [{everything.get(n, 'missing')}]" for n in changed]
    return "\n".join(lines)
