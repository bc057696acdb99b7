"""Fault injection (issue 13): whatever a method or task plugin does, the run goes on, one row per cell.

The faults live in tests/fault_plugin.py, loaded through ``VIBENCH_PLUGINS``
so that forked workers, Dask workers and their cell processes all have them.
Each fault runs under the serial, the process and the Dask executor.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import vibench
from vibench.cell import Cell
from vibench.executors import ProcessExecutor, SerialExecutor, make_executor
from vibench.jsonrow import strict_row
from vibench.registry import get_registry, reset_registry
from vibench.runner import run_cell

HERE = Path(__file__).resolve().parent
GAUSSIAN = ("gaussian", {"dim": 3, "rho": 0.5})


@pytest.fixture(scope="module", autouse=True)
def fault_plugin():
    """The fault plugin, registered in this process and in every process started from it."""
    saved = {k: os.environ.get(k) for k in ("VIBENCH_PLUGINS", "PYTHONPATH")}
    os.environ["VIBENCH_PLUGINS"] = "fault_plugin"
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), saved["PYTHONPATH"]) if p)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    reset_registry()
    yield get_registry()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_registry()


def _cell(method, task=GAUSSIAN, steps=50, seed=0):
    return Cell.make(task[0], task[1], method, vibench.Budget(steps), seed)


#: method -> (status, a piece of the error) in every executor
IN_PROCESS_FAULTS = {
    "fault-sys-exit": ("error", "method called sys.exit(3)"),
    "fault-os-exit": ("error", "method called os._exit(1)"),
    "fault-keyboard-interrupt": ("error", "method raised KeyboardInterrupt"),
    "fault-mutate": ("error", "mutated the task"),
    "fault-reads-truth": ("error", "method read task.truth"),
    "fault-catches-truth": ("error", "method read task.truth (and caught the error)"),
    "fault-negative-count": ("error", "info['n_grad'] must be a non-negative integer count, got -5"),
    "fault-infinite-kl": ("error", "non-finite"),
    "fault-flood": ("ok", None),
    "fault-nan-info": ("ok", None),
    "fault-duck": ("ok", None),
}
#: faults that end the process running the cell: not for the serial executor
PROCESS_KILLERS = {
    "fault-libc-exit": ("error", "worker process died (exit code 7)"),
    "fault-sigkill": ("error", "worker process died (killed by SIGKILL)"),
}
TASK_FAULTS = {
    "fault-nan-truth": ("error", "truth.mean or truth.sd is not finite"),
    "fault-non-psd-truth": ("error", "truth.cov is not positive semi-definite"),
    "fault-printing-factory": ("ok", None),
}


def _fault_cells(killers: bool) -> list[Cell]:
    methods = dict(IN_PROCESS_FAULTS, **(PROCESS_KILLERS if killers else {}))
    cells = [_cell(m) for m in methods]
    cells += [_cell("laplace", task=(t, {"dim": 2})) for t in TASK_FAULTS]
    cells += [_cell("laplace"), _cell("meanfield", steps=200)]  # after the mutator: must be unchanged
    return cells


def _check_rows(rows: list[dict], cells: list[Cell], killers: bool) -> dict[str, dict]:
    assert sorted(r["key"] for r in rows) == sorted(c.key for c in cells), "every cell exactly one row"
    by_name = {}
    for row in rows:
        name = row["method"] if row["method"].startswith("fault-") else row["task"]
        by_name.setdefault(name, row)
        if row["task"] == "gaussian" and row["method"] in ("laplace", "meanfield"):
            by_name[row["method"]] = row
    expected = dict(IN_PROCESS_FAULTS, **(PROCESS_KILLERS if killers else {}), **TASK_FAULTS)
    for name, (status, error) in expected.items():
        row = by_name[name]
        assert row["status"] == status, (name, row["status"], row["error"])
        if error:
            assert error in row["error"], (name, row["error"])
    for row in rows:  # what is stored: strict JSON, every NaN or inf named in ``nonfinite``
        json.dumps(strict_row(row), allow_nan=False)
    assert "kl" in strict_row(by_name["fault-infinite-kl"])["nonfinite"]
    return by_name


def _reference() -> dict[str, dict]:
    """laplace and meanfield on a task no fault has touched (a fresh process)."""
    ex = ProcessExecutor(1)
    try:
        return {r["method"]: r for r in ex.run([_cell("laplace"), _cell("meanfield", steps=200)])}
    finally:
        ex.close()


@pytest.fixture(scope="module")
def reference():
    return _reference()


def _same_metrics(row, ref):
    for col in ("kl", "mean_err", "sd_err", "n_grad", "n_logp"):
        assert row[col] == ref[col], (row["method"], col, row[col], ref[col])


def test_serial_isolates_every_in_process_fault(reference, capfd):
    cells = _fault_cells(killers=False)
    rows = list(SerialExecutor().run(cells))
    by_name = _check_rows(rows, cells, killers=False)
    _same_metrics(by_name["laplace"], reference["laplace"])
    _same_metrics(by_name["meanfield"], reference["meanfield"])
    out, err = capfd.readouterr()
    assert "xxxx" not in out and "last line on stdout" not in out and "fd 2 directly" not in err
    flood = by_name["fault-flood"]["info"]
    assert flood["stdout_tail"].endswith("last line on stdout\n") and flood["stdout_bytes"] > 2 * 2**20
    assert flood["stderr_tail"] == "written to fd 2 directly\n"
    assert len(flood["stdout_tail"]) <= 2000
    assert "building the task prints this" in by_name["fault-printing-factory"]["info"]["stdout_tail"]
    assert strict_row(by_name["fault-nan-info"])["nonfinite"] == ["info.elbo_tail", "info.ratio", "info.trace"]
    assert by_name["fault-nan-info"]["info"]["trace"] == [1.0, None]


def test_processes_isolate_every_fault_and_record_exit_codes(reference):
    cells = _fault_cells(killers=True)
    ex = ProcessExecutor(2)
    try:
        rows = list(ex.run(cells))
    finally:
        ex.close()
    by_name = _check_rows(rows, cells, killers=True)
    # both workers saw the mutator or not: either way the same numbers as an untouched process
    _same_metrics(by_name["laplace"], reference["laplace"])
    _same_metrics(by_name["meanfield"], reference["meanfield"])


@pytest.fixture(scope="module")
def dask_local(fault_plugin):
    ex = make_executor(dask="local", jobs=2)
    yield ex
    ex.close()


def test_dask_isolates_every_fault_and_the_workers_survive(dask_local, reference):
    cells = _fault_cells(killers=True) + [_cell("fault-sleep", steps=60)]
    rows = list(dask_local.run(cells, timeout=8))
    sleeper = [r for r in rows if r["method"] == "fault-sleep"]
    assert len(sleeper) == 1 and sleeper[0]["status"] == "timeout", sleeper
    rows = [r for r in rows if r["method"] != "fault-sleep"]
    by_name = _check_rows(rows, cells[:-1], killers=True)
    _same_metrics(by_name["laplace"], reference["laplace"])
    _same_metrics(by_name["meanfield"], reference["meanfield"])
    assert all(r["status"] != "timeout" for r in rows), "no innocent timeouts"
    assert dask_local._threads() == 2, "a method that kills its process kills only its cell process"


def test_a_mutating_method_cannot_change_later_cells_in_the_same_process(reference):
    rows = [run_cell(_cell(m)) for m in ("fault-mutate", "fault-mutate", "laplace")]
    _same_metrics(rows[-1], reference["laplace"])
    task = vibench.runner.build_task(*GAUSSIAN)
    assert task.params == GAUSSIAN[1] and task.log_density.dim == 3


def test_a_truth_that_fails_its_checks_is_an_error_row_not_nan():
    for name, (status, message) in TASK_FAULTS.items():
        row = run_cell(_cell("meanfield", task=(name, {"dim": 2})))
        assert row["status"] == status and (message is None or message in row["error"]), row["error"]
        assert row["kl"] is None or np.isfinite(row["kl"])


# -- the command line: exits, Ctrl-C and a killed parent -------------------------------------------

SUITE = """
name = "faults"
[[tasks]]
name = "gaussian"
dim = 2
rho = 0.5
[[methods]]
name = "laplace"
budgets = [50]
{methods}
[[methods]]
name = "meanfield"
budgets = [100]
"""


def _suite(tmp_path, *methods, steps=50):
    path = tmp_path / "faults.toml"
    entries = "".join(f'[[methods]]\nname = "{m}"\nbudgets = [{steps}]\n' for m in methods)
    path.write_text(textwrap.dedent(SUITE).format(methods=entries))
    return path


def _default_sigint() -> None:
    """In the child: Ctrl-C's default disposition, even when this test runs in a background job
    (a shell without job control starts those with SIGINT ignored, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "vibench.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint, **kw)


def test_serial_cli_run_survives_exits_and_interrupts_raised_by_a_method(tmp_path):
    faults = ["fault-sys-exit", "fault-os-exit", "fault-keyboard-interrupt"]
    proc = _cli("run", str(_suite(tmp_path, *faults)), "--out", str(tmp_path / "r"), "--no-progress")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    (cells,) = (tmp_path / "r").glob("faults-*/cells.jsonl")
    rows = [json.loads(line) for line in cells.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok", "error", "error", "error", "ok"]
    assert [r["error"] for r in rows[1:4]] == ["method called sys.exit(3)", "method called os._exit(1)",
                                               "method raised KeyboardInterrupt"]


def test_a_real_ctrl_c_stops_the_run_and_keeps_finished_cells(tmp_path):
    proc = _cli("run", str(_suite(tmp_path, "fault-sleep", steps=120)), "--out", str(tmp_path / "r"),
                "--no-progress")
    deadline = time.monotonic() + 120
    cells = None
    while time.monotonic() < deadline:
        found = list((tmp_path / "r").glob("faults-*/cells.jsonl"))
        if found and found[0].read_text().count("\n") >= 1:
            cells = found[0]
            break
        time.sleep(0.1)
    assert cells is not None, "the first cell never finished"
    time.sleep(1.0)  # the sleeper is running now
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; finished cells are saved" in err
    rows = [json.loads(line) for line in cells.read_text().splitlines()]
    assert [r["method"] for r in rows] == ["laplace"], "the interrupted cell is not recorded as an error"


def test_a_sigkilled_parent_leaves_no_worker_alive(tmp_path):
    import psutil  # distributed's dependency, so vibench's: fail, never skip

    proc = _cli("run", str(_suite(tmp_path, "fault-sleep", steps=300)), "--out", str(tmp_path / "r"),
                "--no-progress", "--jobs", "2")
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    workers = []
    while time.monotonic() < deadline and len(workers) < 2:
        workers = parent.children()
        time.sleep(0.2)
    assert len(workers) >= 2, "the workers never started"
    time.sleep(2.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"workers outlived their parent: {alive}"


def test_a_task_factory_that_raises_is_one_line_and_exit_2(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text('[[tasks]]\nname = "fault-raising-factory"\n[[methods]]\nname = "laplace"\nbudgets = [5]\n')
    proc = _cli("run", str(suite), "--out", str(tmp_path / "r"))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().splitlines() == ["vibench: error: task fault-raising-factory(): building it failed: "
                                        "RuntimeError: the factory has a bug"]


def test_a_duck_typed_method_without_optional_attributes_is_listed_with_defaults(capsys):
    from vibench.cli import main

    assert main(["list", "methods"]) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("fault-duck ")]
    assert "steps = iterations" in line


def test_a_plugin_whose_hook_raises_is_a_warning(tmp_path, monkeypatch):
    (tmp_path / "fault_plugin_broken.py").write_text(textwrap.dedent("""
        import vibench

        @vibench.hookimpl
        def vibench_register_methods(registry):
            raise RuntimeError("cannot register today")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("VIBENCH_PLUGINS", "fault_plugin,fault_plugin_broken")
    reset_registry()
    try:
        with pytest.warns(UserWarning, match="plugin 'fault_plugin_broken' failed to register: RuntimeError"):
            registry = get_registry()
        assert "fault-duck" in registry.methods and "laplace" in registry.methods
        assert registry.plugins["fault_plugin_broken"].error == "RuntimeError: cannot register today"
    finally:
        reset_registry()
