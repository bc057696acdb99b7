"""Mutation testing of vibench's scientific core with mutmut: build a workspace, run mutmut, score it.

::

    python suites/mutation.py [--only GLOB] [--tests FILE] [--max-children 1] [--resume] [--report] [--recheck]
                               [--fingerprint] [MUTANT ...]

mutmut copies its ``source_paths`` into ``mutants/`` and derives module names
from file paths, but the built-in plugins live in ``plugins/vibench_<name>/``
and are imported as top-level packages. So mutmut runs in a workspace (default
``build/mutation/``, git-ignored) holding copies of ``vibench/`` and of the VI,
Laplace and CAVI plugins as top-level packages, ``tests/``, what the tests read
(README.md, docs/, suites/, examples/), a generated ``pyproject.toml`` with the
``[tool.mutmut]`` section and a ``conftest.py`` that deselects ``SLOW_TESTS``.

``AREAS`` says what is mutated by default and which test files run for it (of
those, mutmut runs for each mutant only the tests that called its function).
``--only`` restricts the mutated files, ``--tests`` replaces the tests. A
module's score is ``(killed + timeout) / (total - skipped - equivalent)``, the
equivalents being listed in ``docs/mutation_equivalents.toml``; the survivors
are listed by name for ``python -m mutmut show NAME`` in the workspace. The
workspace is rebuilt from scratch unless ``--resume`` or mutant names (which
mutmut re-runs) are given. BLAS threads default to 1. See docs/mutation.md.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

if __package__:  # imported, as asv's benchmark discovery imports every module of suites/
    from . import mutation_table as table
else:  # run as a script, python suites/mutation.py: suites/ is sys.path[0]
    import mutation_table as table
NOT_KILLED, MutationError = table.NOT_KILLED, table.MutationError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKSPACE = ROOT / "build" / "mutation"
EQUIVALENTS = ROOT / "docs" / "mutation_equivalents.toml"  # not suites/: every suites/*.toml is a suite
FINGERPRINTS = ROOT / "docs" / "mutation_fingerprints.json"  # what each listed equivalent was when listed
MARKER = ".vibench-mutation"  # a workspace this script may delete
PACKAGES = {"vibench": "vibench", "vibench_vi": "plugins/vibench_vi",
            "vibench_laplace": "plugins/vibench_laplace", "vibench_cavi": "plugins/vibench_cavi"}
ALSO_COPY = ("README.md", "docs", "suites", "examples")  # read by the tests (README, docs/plugins.md, suite files)


@dataclass(frozen=True)
class Area:
    """Files mutated together (``paths``: globs of repository paths) and the test files that judge them.

    ``name`` labels the area's row in the table; ``core`` areas make the "scoring and truth" row.
    """

    name: str
    paths: tuple[str, ...]
    tests: tuple[str, ...]
    core: bool = False


AREAS = (
    Area("scoring", ("vibench/scoring/*.py",),
         ("tests/test_scoring.py", "tests/test_metrics.py", "tests/test_standard_errors.py", "tests/test_scale.py",
          "tests/test_analysis.py", "tests/test_oracle_run.py", "tests/test_conformance.py",
          "tests/test_killed_survivors.py", "tests/test_verdicts_state.py", "tests/test_distance_frame.py",
          "tests/test_gates_rules.py", "tests/test_kl_forms.py", "tests/test_moments_levels.py",
          "tests/test_evaluate_row.py", "tests/test_scoring_edges.py", "tests/test_khat_tails.py",
          "tests/test_rank_diagnostics.py", "tests/test_shared_draws.py"),
         core=True),
    Area("truth", ("vibench/truth.py", "vibench/banded.py", "vibench/tasks/_gaussian.py", "vibench/tasks/gaussian.py",
                   "vibench/tasks/gmrf.py", "vibench/tasks/linear_regression.py",
                   "vibench/tasks/linear_regression_nig.py", "vibench/tasks/brownian_motion.py",
                   "vibench/tasks/_quadrature.py"),
         ("tests/test_tasks.py", "tests/test_realistic_tasks.py", "tests/test_metrics.py", "tests/test_scale.py",
          "tests/test_scoring.py", "tests/test_density.py", "tests/test_fullrank_start.py",
          "tests/test_conformance.py", "tests/test_banded.py", "tests/test_gmrf.py",
          "tests/test_nig.py", "tests/test_task_factories.py", "tests/test_truth_contracts.py", "tests/test_quadrature.py"), core=True),
    Area("analysis", ("vibench/analysis.py",),
         ("tests/test_analysis.py", "tests/test_oracle_run.py", "tests/test_report.py", "tests/test_analysis_verdicts.py",
          "tests/test_analysis_floors.py", "tests/test_analysis_cells.py", "tests/test_analysis_ranking.py",
          "tests/test_analysis_columns.py")),
    Area("vi", ("plugins/vibench_vi/*.py",),
         ("tests/test_vi.py", "tests/test_vi_contract.py", "tests/test_fullrank_start.py", "tests/test_scale.py", "tests/test_conformance.py",
          "tests/test_killed_survivors.py", "tests/test_meanfield_steps.py", "tests/test_fullrank_contract.py", "tests/test_vi_pieces.py")),
    Area("laplace", ("plugins/vibench_laplace/*.py",),
         ("tests/test_laplace_emcee.py", "tests/test_scale.py", "tests/test_conformance.py",
          "tests/test_killed_survivors.py", "tests/test_laplace_contract.py")),
    Area("cavi", ("plugins/vibench_cavi/*.py",), ("tests/test_cavi.py", "tests/test_conformance.py")),
    Area("store", ("vibench/store.py", "vibench/session.py", "vibench/suite.py"),
         ("tests/test_store.py", "tests/test_suite.py", "tests/test_runner.py", "tests/test_formats.py",
          "tests/test_cli.py", "tests/test_bad_input.py", "tests/test_oracle_run.py",
          "tests/test_killed_survivors.py", "tests/test_session.py", "tests/test_session_contract.py",
          "tests/test_store_contract.py", "tests/test_suite_contract.py")),
)

#: Test files in no area on purpose: slow, a browser, Dask, PyMC, subprocesses (whose calls mutmut cannot
#: trace), or no mutated code. A test file in neither list is reported at the start of a run.
UNSELECTED = ("test_asv", "test_byo", "test_cli_habits", "test_dask_real", "test_docs", "test_example_plugin",
              "test_executors", "test_faults", "test_lazy_imports", "test_mutation_table", "test_peers",
              "test_posteriordb", "test_pymc",
              "test_pymc_costs", "test_pymc_initvals", "test_reference", "test_registry", "test_report_browser",
              "test_sigint_window")

#: Regular expressions of test ids deselected in the workspace: seconds to a minute each, too slow to run
#: once per mutant (PyMC compiles, Dask clusters, the banded truths at d = 20 000).
SLOW_TESTS = (
    r"::test_builtin_method_conforms\[pymc-",
    r"::test_builtin_task_conforms\[posteriordb:",
    r"::test_a_broken_method_fails_with_a_clear_message\[.*rejects every task offered",
    r"beyond_the_dense_size",
    r"\[dask\]|dask_address",
)

CONFTEST = '''"""Generated by suites/mutation.py: deselect the tests too slow to run once per mutant, and tie
every test that shares a module- or session-scoped fixture to the functions that fixture's set-up called."""

import re

import pytest

SLOW_TESTS = {patterns!r}
_SHARED = {{}}  # (fixture, instance) -> the mutmut functions hit by the tests that used it so far


def pytest_collection_modifyitems(config, items):
    slow = [item for item in items if any(re.search(p, item.nodeid) for p in SLOW_TESTS)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item not in set(slow)]


def _shared_keys(item):
    """One key per fixture instance this test shares with others (scope wider than the function)."""
    info, callspec = getattr(item, "_fixtureinfo", None), getattr(item, "callspec", None)
    keys = []
    for name, defs in (info.name2fixturedefs.items() if info else ()):
        scope = str(getattr(defs[-1], "scope", "function"))
        if scope != "function":
            where = "" if scope == "session" else item.nodeid.split("::")[0]
            index = callspec.indices.get(name) if callspec is not None else None
            keys.append((defs[-1].baseid, name, where, index))
    return keys


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """mutmut's stats run credits a function to the tests during which it ran; a wider-scoped fixture is
    set up during its first test only, so a mutant in what it builds would be run against that test alone
    (a mutated task truth, checked by a later test of the module, survived). Credit it to them all."""
    try:
        from mutmut.state import state
    except ImportError:
        return
    hits, keys = state()._stats, _shared_keys(item)
    for key in keys:
        _SHARED.setdefault(key, set()).update(hits)
    for key in keys:
        hits.update(_SHARED[key])
'''


def workspace_path(path: str) -> str:
    """The workspace path of a repository path (``plugins/vibench_vi/x.py`` -> ``vibench_vi/x.py``)."""
    top = next(t for t, source in PACKAGES.items() if path.startswith(source + "/"))
    return top + path[len(PACKAGES[top]):]


def candidates() -> list[str]:
    """Every Python file that can be mutated (package ``__init__.py`` files left out), as repository paths."""
    return sorted(str(p.relative_to(ROOT)) for src in PACKAGES.values() for p in (ROOT / src).rglob("*.py")
                  if "__pycache__" not in p.parts and p.name != "__init__.py")


def areas_of(path: str) -> list[Area]:
    """The areas whose globs match a repository path."""
    return [a for a in AREAS if any(fnmatch.fnmatch(path, g) for g in a.paths)]


def select_files(only: list[str]) -> list[str]:
    """The files to mutate: those matching ``only`` (globs of repository paths), else every file of ``AREAS``."""
    files = candidates()
    for pattern in only:
        if not any(fnmatch.fnmatch(f, pattern) for f in files):
            raise MutationError(f"--only {pattern} matches no Python file of {', '.join(PACKAGES.values())}")
    if only:
        return [f for f in files if any(fnmatch.fnmatch(f, p) for p in only)]
    return [f for f in files if areas_of(f)]


def unmapped_tests() -> list[str]:
    """Test files in no area and not in ``UNSELECTED``: new tests the mapping has not placed yet."""
    mapped = {t for a in AREAS for t in a.tests}
    return [t for t in sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py"))
            if t not in mapped and Path(t).stem not in UNSELECTED]


def select_tests(files: list[str], tests: list[str]) -> list[str]:
    """The tests to run: ``tests`` (files or ids, repository paths) if given, else those of the files' areas."""
    for test in tests:
        if not (ROOT / test.split("::")[0]).is_file():
            raise MutationError(f"--tests {test}: no such file under {ROOT}")
    if tests:
        return tests
    unmapped = [f for f in files if not areas_of(f)]
    if unmapped:
        raise MutationError(f"no tests are mapped to {unmapped[0]} (not in AREAS): pass --tests")
    chosen: list[str] = []
    for area in AREAS:
        if any(area in areas_of(f) for f in files):
            chosen += [t for t in area.tests if t not in chosen]
    return chosen


def _toml(value: object) -> str:
    """A TOML literal of a string, bool, number or list of them (JSON's escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def mutmut_config(files: list[str], tests: list[str]) -> str:
    """The workspace's ``pyproject.toml``: ``[tool.mutmut]`` and the repository's pytest options."""
    mutmut = {
        "source_paths": list(PACKAGES),
        "only_mutate": [workspace_path(f) for f in files],
        "also_copy": [*ALSO_COPY, "conftest.py"],
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
        "pytest_add_cli_args_test_selection": tests,
        "use_git_change_detection": False,  # the workspace sits inside the repository's git tree
    }
    pytest = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    lines = ["# Generated by suites/mutation.py; rebuilt on every run.", "", "[tool.mutmut]"]
    lines += [f"{k} = {_toml(v)}" for k, v in mutmut.items()]
    lines += ["", "[tool.pytest.ini_options]"] + [f"{k} = {_toml(v)}" for k, v in pytest.items()]
    return "\n".join(lines) + "\n"


def build(workspace: Path, files: list[str], tests: list[str], fresh: bool) -> None:
    """Copy the sources and tests into ``workspace`` and write its configuration.

    Parameters
    ----------
    workspace : Path
        Created if missing; refused if it exists and was not built here (no ``MARKER``).
    files, tests : list of str
        Repository paths to mutate, and the test selection.
    fresh : bool
        Delete the workspace first, verdicts included. Otherwise only the copies are
        replaced, with their modification times, which mutmut compares with its
        mutants' to keep the verdicts of unchanged files.
    """
    if workspace.exists() and any(workspace.iterdir()) and not (workspace / MARKER).exists():
        raise MutationError(f"refusing to use {workspace}: it exists and is not a mutation workspace ({MARKER})")
    if fresh and workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / MARKER).write_text("built by suites/mutation.py; deleted by its next run without --resume\n")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in [*PACKAGES, "tests", *ALSO_COPY]:
        source, target = ROOT / PACKAGES.get(name, name), workspace / name
        if target.is_dir():
            shutil.rmtree(target)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, target)
    (workspace / "conftest.py").write_text(CONFTEST.format(patterns=SLOW_TESTS))
    (workspace / "pyproject.toml").write_text(mutmut_config(files, tests))


def check_mutmut() -> None:
    """Fail with one line unless mutmut 3 (whose ``mutants/*.meta`` files this script reads) is installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("mutmut")
    except PackageNotFoundError:
        raise MutationError("mutmut is not installed: pip install mutmut==3.8.1") from None
    if not found.startswith("3."):
        raise MutationError(f"this script reads mutmut 3's results, but mutmut {found} is installed")


def run_mutmut(workspace: Path, max_children: int, names: list[str]) -> int:
    """Run ``python -m mutmut run`` in the workspace; its exit code (130 if interrupted)."""
    env = dict(os.environ)
    env.pop("MUTANT_UNDER_TEST", None)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *names]
    try:
        return subprocess.run(command, cwd=workspace, env=env).returncode
    except KeyboardInterrupt:
        return 130


def results(workspace: Path, files: list[str]) -> dict[str, dict[str, str]]:
    """Repository path -> {mutant name: mutmut status}, from the ``mutants/*.meta`` files."""
    from mutmut.stats import status_by_exit_code

    found = {}
    for f in files:
        meta = workspace / "mutants" / (workspace_path(f) + ".meta")
        if meta.exists():
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            found[f] = {name: status_by_exit_code[code] for name, code in codes.items()}
    return found


def current_fingerprints(workspace: Path, files: list[str]) -> dict[str, str]:
    """Mutant name -> fingerprint (:func:`mutation_table.fingerprints`) of the mutated copies in the workspace."""
    out = {}
    for f in files:
        mutated = workspace / "mutants" / workspace_path(f)
        if mutated.exists():
            out.update(table.fingerprints(mutated.read_text(), workspace_path(f)[:-3].replace("/", ".")))
    return out


def recheck(workspace: Path, files: list[str], tests: list[str], max_children: int,
            equivalents: dict[str, str]) -> int:
    """Run the survivors and the unfinished mutants of ``workspace`` against today's tests (those of the
    files' areas) in a fresh sibling workspace, and write their new verdicts back; the killed stay killed.

    mutmut resets every verdict when the test selection changes (and those of every function a changed
    test covers), so a new test, or a narrower selection for the unfinished mutants of one area, would
    otherwise cost a full re-run. Returns mutmut's exit code."""
    found = results(workspace, files)
    survivors = [n for f in found.values() for n, st in f.items() if st in NOT_KILLED and n not in equivalents]
    if not survivors:
        print("mutation: no survivors or unfinished mutants to re-check")
        return 0
    other = workspace.with_name(workspace.name + "-recheck")
    print(f"re-checking {len(survivors)} survivors and unfinished mutants in {other}", flush=True)
    build(other, files, tests, fresh=True)
    code = run_mutmut(other, max_children, survivors)
    wanted = set(survivors)
    for f in files:
        meta, new_meta = (w / "mutants" / (workspace_path(f) + ".meta") for w in (workspace, other))
        if not (meta.exists() and new_meta.exists()):
            continue
        data = json.loads(meta.read_text())
        changed = {n: c for n, c in json.loads(new_meta.read_text())["exit_code_by_key"].items()
                   if n in wanted and c is not None}
        if changed:
            data["exit_code_by_key"].update(changed)
            meta.write_text(json.dumps(data))
    return code


def groups(found: dict[str, dict[str, str]]) -> list[tuple[str, list[str]]]:
    """The table's rows after the modules': each area's files, then those of the core areas."""
    rows = [(f"area {area.name}", [f for f in found if area in areas_of(f)]) for area in AREAS]
    return rows + [("scoring and truth", [f for f in found if any(a.core for a in areas_of(f))])]


def _split(values: list[str] | None) -> list[str]:
    """Flatten repeated and comma-separated option values."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    """Command line: build the workspace, run mutmut, print the score table; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("mutants", nargs="*", help="mutant names or globs to (re-)run; implies --resume")
    parser.add_argument("--only", action="append", metavar="GLOB",
                        help="mutate only these repository paths, e.g. vibench/scoring/verdicts.py (repeatable)")
    parser.add_argument("--tests", action="append", metavar="FILE",
                        help="run these test files instead of the areas' (repeatable, comma-separated)")
    parser.add_argument("--max-children", type=int, default=1, metavar="N", help="mutmut workers (default 1)")
    parser.add_argument("--workspace", type=Path, default=DEFAULT_WORKSPACE,
                        help="where to build and run (default build/mutation)")
    parser.add_argument("--resume", action="store_true", help="keep the verdicts of the previous run")
    parser.add_argument("--report", action="store_true", help="only print the table of the previous run")
    parser.add_argument("--recheck", action="store_true",
                        help="re-run the previous run's survivors against the current tests, in a second workspace")
    parser.add_argument("--fingerprint", action="store_true",
                        help="record what the listed equivalents of these files are now (after reading them)")
    args = parser.parse_args(argv)
    try:
        if args.max_children < 1:
            raise MutationError(f"--max-children must be at least 1, got {args.max_children}")
        check_mutmut()
        files, equivalents = select_files(_split(args.only)), table.load_equivalents(EQUIVALENTS)
        recorded = table.load_fingerprints(FINGERPRINTS)
        workspace = args.workspace.resolve()
        code, started = 0, time.perf_counter()
        if not args.report and not args.fingerprint:
            tests = select_tests(files, _split(args.tests))
            for test in [] if args.tests else unmapped_tests():
                print(f"mutation: {test} is in no area: add it to AREAS or UNSELECTED in suites/mutation.py")
            print(f"mutating {len(files)} files in {workspace}; tests: {' '.join(tests)}", flush=True)
            if args.recheck:
                code = recheck(workspace, files, tests, args.max_children, equivalents)
            else:
                build(workspace, files, tests, fresh=not (args.resume or args.mutants))
                code = run_mutmut(workspace, args.max_children, args.mutants)
        found = results(workspace, files)
        if not found:
            raise MutationError(f"no mutmut results in {workspace / 'mutants'} for the selected files"
                                + (f" (mutmut exited with {code}; see its output above)" if code else ""))
        if code and all(v == "not checked" for f in found.values() for v in f.values()):
            raise MutationError(f"mutmut exited with {code} before testing any mutant (see its output above; "
                                "a test failing without mutants stops it)")
    except MutationError as exc:
        print(f"mutation: {exc}", file=sys.stderr)
        return 2
    current = current_fingerprints(workspace, files)
    if args.fingerprint:
        merged = table.recorded_fingerprints(recorded, current, equivalents)
        FINGERPRINTS.write_text(json.dumps(merged, indent=0, ensure_ascii=False) + "\n")
        print(f"mutation: {sum(n in current for n in merged)} fingerprints of listed equivalents written to "
              f"{FINGERPRINTS.relative_to(ROOT)} ({len(merged)} in all)")
        recorded = merged
    print()
    print(table.report(found, equivalents, groups(found), workspace,
                       table.changed_equivalents(current, recorded, equivalents)))
    if not (args.report or args.fingerprint):
        print(f"\nwall time {time.perf_counter() - started:.0f} s with --max-children {args.max_children}")
    if code:
        print(f"mutmut exited with {code}: the table holds the verdicts reached so far", file=sys.stderr)
    return 1 if code else 0


if __name__ == "__main__":
    sys.exit(main())
