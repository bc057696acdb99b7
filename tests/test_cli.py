"""The command line: a real run end to end, and one-line errors with exit 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import vibench
from vibench.cli import build_parser, main
from vibench.store import ROW_COLUMNS


def vibench_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vibench.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_run_writes_a_run_directory_and_prints_a_table(tiny_suite, tmp_path, capsys):
    assert main(["run", str(tiny_suite), "--out", str(tmp_path / "res"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "laplace" in out and "closed-form" in out and "Answer:" in out
    (run_dir,) = (tmp_path / "res").iterdir()
    assert run_dir.name.startswith("tiny-")
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["suite"]["name"] == "tiny" and meta["ended"] and meta["n_cells"] == 2
    rows = [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(set(ROW_COLUMNS) <= set(r) for r in rows)
    df = vibench.load(run_dir)
    assert (df["status"] == "ok").all() and (df["kl"].abs() < 1e-8).all()
    assert main(["show", str(run_dir)]) == 0
    assert "closed-form" in capsys.readouterr().out


def test_resume_runs_only_missing_cells(tiny_suite, tmp_path):
    assert main(["run", str(tiny_suite), "--out", str(tmp_path), "--no-progress", "--tasks", "gaussian"]) == 0
    (run_dir,) = tmp_path.glob("tiny-*")
    lines = (run_dir / "cells.jsonl").read_text().splitlines()
    (run_dir / "cells.jsonl").write_text(lines[0] + "\n")
    assert main(["run", str(tiny_suite), "--resume", str(run_dir), "--no-progress"]) == 0
    rows = [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]
    assert sorted(r["key"] for r in rows) == sorted({r["key"] for r in rows}) and len(rows) == 2


@pytest.mark.parametrize("args, message", [
    (["run", "no-such-suite"], "unknown suite 'no-such-suite'; choose from:"),
    (["run", "smoke", "--methods", "nope"], "suite 'smoke' has no method 'nope'"),
    (["run", "smoke", "--jobs", "0"], "--jobs must be >= 1"),
    (["run", "smoke", "--timeout", "0"], "--timeout must be > 0"),
    (["show", "."], "is not a vibench run directory"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    proc = vibench_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("vibench: error:") and message in lines[0]


def _suite_file(tmp_path, body):
    path = tmp_path / "s.toml"
    path.write_text(body)
    return str(path)


@pytest.mark.parametrize("body, message", [
    ("[[tasks]\n", "malformed suite file"),
    ('[[tasks]]\nname="gaussian"\ndim=0\n[[methods]]\nname="laplace"\nbudgets=[5]\n', "dim must be between 1"),
    ('[[tasks]]\nname="gaussian"\nrho=2.0\n[[methods]]\nname="laplace"\nbudgets=[5]\n', "rho must be in (-1, 1)"),
    ('[[tasks]]\nname="nope"\n[[methods]]\nname="laplace"\nbudgets=[5]\n', "unknown task 'nope'"),
    ('[[tasks]]\nname="gaussian"\n[[methods]]\nname="nope"\nbudgets=[5]\n', "unknown method 'nope'"),
])
def test_bad_suite_files(tmp_path, body, message):
    proc = vibench_cli("run", _suite_file(tmp_path, body), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_unwritable_out(tiny_suite, tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("")
    proc = vibench_cli("run", str(tiny_suite), "--out", str(blocker / "x"))
    assert proc.returncode == 2 and "cannot write results to" in proc.stderr and "Traceback" not in proc.stderr


def test_debug_shows_the_traceback():
    proc = vibench_cli("--debug", "run", "no-such-suite")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_help_and_list_do_not_import_pymc():
    code = ("import sys; from vibench.cli import build_parser, main; main(['list', 'methods']); main(['list', 'tasks']); "
            "main(['list', 'suites']); print('PYMC', 'pymc' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and "PYMC False" in proc.stdout
    assert "laplace" in proc.stdout and "gaussian" in proc.stdout and "smoke" in proc.stdout


def test_unreachable_dask_address_exits_2_quickly(tiny_suite, tmp_path):
    proc = vibench_cli("run", str(tiny_suite), "--dask", "tcp://127.0.0.1:1", "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'" in proc.stderr


def _extra_entry_points(monkeypatch, *pairs):
    import importlib.metadata as md

    from vibench import registry as reg

    real = md.entry_points

    def fake(**kw):
        eps = list(real(**kw))
        if kw.get("group") == reg.ENTRY_POINT_GROUP:
            eps += [md.EntryPoint(name=n, value=v, group=reg.ENTRY_POINT_GROUP) for n, v in pairs]
        return eps

    monkeypatch.setattr(reg.md, "entry_points", fake)


def test_two_plugins_registering_one_name_exit_2(monkeypatch, fresh_registry, tiny_suite, capsys):
    # a second distribution that points at the laplace plugin again registers 'laplace' twice
    _extra_entry_points(monkeypatch, ("laplace-copy", "vibench_laplace.laplace_copy_for_tests"))
    import types

    module = types.ModuleType("vibench_laplace.laplace_copy_for_tests")
    module.vibench_register_methods = vibench.hookimpl(lambda registry: registry.add_method(
        __import__("vibench_laplace").Laplace()))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    assert main(["run", str(tiny_suite), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "method 'laplace' is registered twice" in err[0] and "laplace-copy" in err[0]


def test_broken_plugin_warns_and_only_runs_that_need_it_stop(monkeypatch, fresh_registry, tiny_suite, tmp_path,
                                                             capsys):
    _extra_entry_points(monkeypatch, ("fancy", "vibench_fancy_not_installed"))
    assert main(["list", "methods"]) == 0
    captured = capsys.readouterr()
    assert "laplace" in captured.out
    assert captured.err.strip() == ("vibench: warning: vibench plugin 'fancy' failed to load: "
                                    "ModuleNotFoundError: No module named 'vibench_fancy_not_installed'")
    assert main(["run", str(tiny_suite), "--out", str(tmp_path), "--no-progress"]) == 0
    needs_it = tmp_path / "needs.toml"
    needs_it.write_text('[[tasks]]\nname="gaussian"\n[[methods]]\nname="fancy-vi"\nbudgets=[5]\n')
    capsys.readouterr()
    assert main(["run", str(needs_it), "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown method 'fancy-vi'" in err[0] and "failed to load: fancy" in err[0]


def test_resume_after_a_torn_last_line_repairs_it_and_runs_the_cell(tiny_suite, tmp_path):
    assert main(["run", str(tiny_suite), "--out", str(tmp_path), "--no-progress"]) == 0
    (run_dir,) = tmp_path.glob("tiny-*")
    cells = run_dir / "cells.jsonl"
    first, second = cells.read_text().splitlines()
    cells.write_text(first + "\n" + second[: len(second) // 2])  # killed inside the last write
    assert main(["run", str(tiny_suite), "--resume", str(run_dir), "--no-progress"]) == 0
    rows = [json.loads(line) for line in cells.read_text().splitlines()]
    assert len(rows) == 2 and len({r["key"] for r in rows}) == 2 and all(r["status"] == "ok" for r in rows)
    assert (run_dir / "cells.jsonl.torn").read_text() == second[: len(second) // 2] + "\n"


class _FailsWhileFlagged(vibench.Method):
    name, family = "test-flaky", "laplace"

    def __init__(self, flag):
        self.flag = flag

    def fit(self, task, budget, rng):
        if self.flag.exists():
            raise RuntimeError("flaky today")
        return vibench.get_method("laplace").fit(task, budget, rng)


def test_retry_failed_reruns_error_rows_and_keeps_one_row_per_cell(fresh_registry, tmp_path):
    from vibench.registry import get_registry

    flag = tmp_path / "flag"
    flag.write_text("")
    get_registry().add_method(_FailsWhileFlagged(flag))
    suite = tmp_path / "flaky.toml"
    suite.write_text('[[tasks]]\nname = "gaussian"\ndim = 2\n[[methods]]\nname = "test-flaky"\nbudgets = [20]\n'
                     '[[methods]]\nname = "laplace"\nbudgets = [20]\n')
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    (run_dir,) = (tmp_path / "r").iterdir()
    flag.unlink()
    assert main(["run", str(suite), "--resume", str(run_dir), "--no-progress"]) == 0  # nothing missing
    assert [r["status"] for r in vibench.store.read_rows(run_dir)] == ["error", "ok"]
    assert main(["run", str(suite), "--resume", str(run_dir), "--retry-failed", "--no-progress"]) == 0
    rows = [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]
    assert sorted((r["method"], r["status"]) for r in rows) == [("laplace", "ok"), ("test-flaky", "ok")]
    (retried,) = [json.loads(line) for line in (run_dir / "cells.retried.jsonl").read_text().splitlines()]
    assert retried["status"] == "error" and retried["error"] == "RuntimeError: flaky today"


def test_resume_of_an_old_run_without_a_digest_refuses_foreign_rows(tiny_suite, tmp_path, capsys):
    assert main(["run", str(tiny_suite), "--out", str(tmp_path), "--no-progress"]) == 0
    (run_dir,) = tmp_path.glob("tiny-*")
    meta = json.loads((run_dir / "run.json").read_text())
    del meta["suite"]["digest"]
    (run_dir / "run.json").write_text(json.dumps(meta))
    other = tmp_path / "other.toml"
    other.write_text(tiny_suite.read_text().replace("budgets = [50]", "budgets = [51]"))
    capsys.readouterr()
    assert main(["run", str(other), "--resume", str(run_dir), "--no-progress"]) == 2
    assert "holds 2 rows that are not cells of suite 'tiny'" in capsys.readouterr().err


def test_version_and_a_bare_command(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"vibench {vibench.__version__}"
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "usage: vibench" in captured.err
