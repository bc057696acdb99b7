"""The bad-input catalogue (issue 13): every case is one line on stderr, ``vibench: error: ...``, and exit 2.

Each case ran with a traceback and exit 1, or was accepted silently, before.
They run in this process through ``vibench.cli.main`` (fast); a few go
through a real subprocess to check what a user's shell sees.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import vibench
from vibench.cli import main
from vibench.registry import get_registry

GOOD_TASK = '[[tasks]]\nname = "gaussian"\ndim = 2\nrho = 0.5\n'
GOOD_METHOD = '[[methods]]\nname = "laplace"\nbudgets = [20]\n'


def _one_error_line(capsys, code: int) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("vibench: error: "), err
    return lines[0]


SUITE_FILES = {
    "max_seconds is a string": (GOOD_TASK + '[[methods]]\nname = "laplace"\nbudgets = [{steps = 5, max_seconds = "x"}]\n',
                                "budget max_seconds must be a finite number > 0, got 'x'"),
    "max_seconds is inf": (GOOD_TASK + '[[methods]]\nname = "laplace"\nbudgets = [{steps = 5, max_seconds = inf}]\n',
                           "budget max_seconds must be a finite number > 0, got inf"),
    "timeout is a list": ("timeout = [5, 6]\n" + GOOD_TASK + GOOD_METHOD, "'timeout' must be one number"),
    "timeout is inf": ("timeout = inf\n" + GOOD_TASK + GOOD_METHOD, "'timeout' must be finite"),
    "timeout is nan": ("timeout = nan\n" + GOOD_TASK + GOOD_METHOD, "'timeout' must be finite"),
    "thresholds has inf": ("thresholds = [inf]\n" + GOOD_TASK + GOOD_METHOD, "must be finite numbers > 0"),
    "no seeds": ("seeds = []\n" + GOOD_TASK + GOOD_METHOD, "'seeds' must be a non-empty list"),
    "a seed twice": ("seeds = [0, 1, 0]\n" + GOOD_TASK + GOOD_METHOD, "'seeds' repeats a seed"),
    "dim is a bool": ('[[tasks]]\nname = "gaussian"\ndim = true\n' + GOOD_METHOD,
                      "parameter 'dim' must be a number, got True"),
    "a size twice": ('[[tasks]]\nname = "gaussian"\ndim = [2, 2]\n' + GOOD_METHOD, "parameter 'dim' repeats a value"),
    "a task twice": (GOOD_TASK + GOOD_TASK + GOOD_METHOD, "appears twice"),
    "a method twice": (GOOD_TASK + GOOD_METHOD + GOOD_METHOD, "appears twice"),
    "a budget twice": (GOOD_TASK + '[[methods]]\nname = "laplace"\nbudgets = [5, 5]\n', "repeats a budget"),
    "a nan size": ('[[tasks]]\nname = "gaussian"\nrho = nan\n' + GOOD_METHOD, "parameter 'rho' must be finite"),
    "name not a string": ('name = 3\n' + GOOD_TASK + GOOD_METHOD, "'name' must be a string"),
    "a misspelt method": (GOOD_TASK + '[[methods]]\nname = "meanfeild"\nbudgets = [5]\n',
                          "did you mean 'meanfield'?"),
    "a misspelt task": ('[[tasks]]\nname = "gausian"\n' + GOOD_METHOD, "did you mean 'gaussian'?"),
}


@pytest.mark.parametrize("body, message", SUITE_FILES.values(), ids=SUITE_FILES.keys())
def test_bad_suite_file(tmp_path, capsys, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    line = _one_error_line(capsys, main(["run", str(path), "--out", str(tmp_path / "r"), "--no-progress"]))
    assert message in line
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir()), "nothing ran"


def test_non_utf8_suite_file(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes(('description = "caf\u00e9"\n' + GOOD_TASK + GOOD_METHOD).encode("latin-1"))
    assert "is not UTF-8 text" in _one_error_line(capsys, main(["run", str(path)]))


ARGUMENTS = {
    "timeout inf": (["--timeout", "inf"], "--timeout must be > 0 and finite"),
    "timeout nan": (["--timeout", "nan"], "--timeout must be > 0 and finite"),
    "timeout negative": (["--timeout", "-3"], "--timeout must be > 0 and finite"),
    "timeout not a number": (["--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
    "empty --tasks": (["--tasks", ""], "argument --tasks: expected comma-separated names, got ''"),
    "blank --methods": (["--methods", " , "], "argument --methods: expected comma-separated names"),
    "jobs not a number": (["--jobs", "two"], "argument --jobs: invalid int value: 'two'"),
    "a misspelt --methods": (["--methods", "laplase"], "did you mean 'laplace'?"),
    "retry without resume": (["--retry-failed"], "--retry-failed needs --resume RUN_DIR"),
    "an unknown option": (["--colour"], "unrecognized arguments: --colour"),
}


@pytest.mark.parametrize("extra, message", ARGUMENTS.values(), ids=ARGUMENTS.keys())
def test_bad_run_arguments(tiny_suite, tmp_path, capsys, extra, message):
    line = _one_error_line(capsys, main(["run", str(tiny_suite), "--out", str(tmp_path), "--no-progress", *extra]))
    assert message in line


@pytest.mark.parametrize("argv, message", [
    (["fly"], "invalid choice: 'fly'"),
    (["list", "colours"], "invalid choice: 'colours'"),
    (["run", "smok"], "did you mean 'smoke'?"),
    (["truth", "gaussian", "dim=true"], "parameter 'dim' must be a number, got True"),
    (["truth", "gaussian", "dim"], "size parameters are written k=v"),
    (["truth", "posteriordb:eight_schools-eight_schools_centerd"],
     "did you mean 'posteriordb:eight_schools-eight_schools_centered'?"),
    (["truth", "posteriordb:no_such_posterior"], "set VIBENCH_POSTERIORDB=/path/to/posterior_database"),
])
def test_bad_commands(capsys, argv, message):
    assert message in _one_error_line(capsys, main(argv))


def _run_dir(tmp_path, run_json=None, cells=None):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_bytes(run_json if run_json is not None
                                   else json.dumps({"suite": {"name": "x"}, "n_cells": 1}).encode())
    if cells is not None:
        (run / "cells.jsonl").write_bytes(cells)
    return run


ROW = json.dumps({"key": "a", "task": "gaussian", "method": "laplace", "status": "ok", "params": {"dim": 2}}).encode()
STORED = {
    "garbage bytes": (None, ROW + b"\n\xff\xfe\x00garbage\n" + ROW + b"\n", "line 2 is not a vibench row (not UTF-8"),
    "not JSON": (None, ROW + b"\n{oops\n" + ROW + b"\n", "line 2 is not a vibench row (not JSON"),
    "a list row": (None, b"[1, 2, 3]\n", "line 1 is not a vibench row (a JSON list, not an object)"),
    "an incomplete row": (None, b'{"key": "a"}\n', "line 1 is not a vibench row (no 'task')"),
    "a number key": (None, b'{"key": 1, "task": "t", "method": "m", "status": "ok"}\n', "'key' is not a string"),
    "run.json is a list": (b"[1, 2]", None, "is not a vibench run.json (a JSON object), it holds a list"),
    "run.json is garbage": (b"\xff\xfe", None, "cannot read"),
    "run.json suite is a string": (b'{"suite": "smoke"}', None, "'suite' must be a JSON object"),
}


@pytest.mark.parametrize("run_json, cells, message", STORED.values(), ids=STORED.keys())
def test_show_on_a_damaged_run_directory(tmp_path, capsys, run_json, cells, message):
    run = _run_dir(tmp_path, run_json, cells)
    assert message in _one_error_line(capsys, main(["show", str(run)]))


def test_show_on_a_file_is_not_a_run_directory(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert "is not a vibench run directory" in _one_error_line(capsys, main(["show", str(tmp_path / "f")]))


def test_a_task_factory_that_raises_anything_is_one_line(fresh_registry, tmp_path, capsys):
    def broken(dim: int = 2):
        return {}["no such key"]

    get_registry().add_task("broken-task", broken)
    path = tmp_path / "s.toml"
    path.write_text('[[tasks]]\nname = "broken-task"\n' + GOOD_METHOD)
    line = _one_error_line(capsys, main(["run", str(path), "--out", str(tmp_path / "r")]))
    assert "task broken-task(): building it failed: KeyError: 'no such key'" in line


def test_disabling_a_plugin_that_does_not_exist(fresh_registry, monkeypatch, capsys):
    monkeypatch.setenv("VIBENCH_DISABLE_PLUGINS", "lapalce")
    line = _one_error_line(capsys, main(["list", "methods"]))
    assert "VIBENCH_DISABLE_PLUGINS names 'lapalce', which is not an installed plugin" in line
    assert "did you mean 'laplace'?" in line


def _ran(tiny_suite, tmp_path):
    assert main(["run", str(tiny_suite), "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    (run_dir,) = (tmp_path / "r").glob("tiny-*")
    return run_dir


def test_resume_with_another_suite_or_changed_content_is_refused(tiny_suite, tmp_path, capsys):
    run_dir = _ran(tiny_suite, tmp_path)
    capsys.readouterr()
    other = tmp_path / "other.toml"
    other.write_text('name = "other"\n' + GOOD_TASK + GOOD_METHOD)
    line = _one_error_line(capsys, main(["run", str(other), "--resume", str(run_dir), "--no-progress"]))
    assert "is a run of suite 'tiny', not 'other'" in line
    changed = tmp_path / "changed.toml"
    changed.write_text(tiny_suite.read_text().replace("budgets = [50]", "budgets = [60]"))
    line = _one_error_line(capsys, main(["run", str(changed), "--resume", str(run_dir), "--no-progress"]))
    assert "suite 'tiny' changed since that run" in line
    assert len((run_dir / "cells.jsonl").read_text().splitlines()) == 2, "nothing was appended"


def test_debug_after_the_command_shows_the_traceback_and_keeps_exit_2():
    for argv in (["--debug", "run", "no-such-suite"], ["run", "no-such-suite", "--debug"]):
        proc = subprocess.run([sys.executable, "-m", "vibench.cli", *argv], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("vibench: error: unknown suite 'no-such-suite'")


def test_a_bad_argument_in_a_real_shell_is_one_line_and_exit_2():
    proc = subprocess.run([sys.executable, "-m", "vibench.cli", "run", "smoke", "--timeout", "nan"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["vibench: error: --timeout must be > 0 and finite (seconds), got nan"]


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute", "a/b\\c", "..", ""])
def test_the_suite_name_cannot_leave_out(tmp_path, capsys, name):
    path = tmp_path / "named.toml"
    path.write_text(f"name = {json.dumps(name)}\n" + GOOD_TASK + GOOD_METHOD)
    out = tmp_path / "deep" / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 0
    (run_dir,) = out.iterdir()
    assert run_dir.parent == out and (run_dir / "cells.jsonl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "named.toml"], "nothing written outside --out"
    assert not any(part in run_dir.name for part in ("/", "\\", ".."))


def test_vibench_get_task_rejects_a_bool_size():
    with pytest.raises(vibench.VibenchError, match="parameter 'dim' must be a number, got True"):
        vibench.get_task("gaussian", dim=True)


def test_the_readme_says_a_suite_file_can_run_code():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Security", 1)[1].split("\n## ", 1)[0]
    assert "execute" in section and "module:function" in section and "reference" in section
    assert textwrap.dedent(section).strip()
