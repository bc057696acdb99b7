"""``vibench.session`` in process: what a run directory records, what resuming refuses, and its messages.

The CLI tests run ``vibench`` in subprocesses; these call :func:`run_suite`
and :func:`check_resumable` directly, so every message and record is checked
where it is made.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from vibench import store
from vibench.errors import VibenchError
from vibench.executors import SerialExecutor
from vibench.session import check_resumable, plan, run_suite
from vibench.suite import load_suite


@pytest.fixture
def suite(tiny_suite):
    return load_suite(str(tiny_suite))


def test_a_run_records_its_executor_and_resuming_records_when(suite, tmp_path):
    run = run_suite(suite, SerialExecutor(), out=tmp_path)
    meta = store.read_run_json(run)
    assert meta["executor"] == {"kind": "SerialExecutor", "jobs": 1}
    assert "resumed" not in meta and meta["n_cells"] == 2
    before = datetime.now(timezone.utc).replace(microsecond=0)
    run_suite(suite, SerialExecutor(), resume=run)
    (stamp,) = store.read_run_json(run)["resumed"]
    when = datetime.fromisoformat(stamp)
    assert when.utcoffset() == timedelta(0) and before <= when <= datetime.now(timezone.utc)  # UTC, to the second
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", stamp)


def test_run_suite_writes_under_results_by_default_and_keeps_no_draws(suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = run_suite(suite, SerialExecutor())
    assert run.parent.resolve() == tmp_path.resolve() / "results"
    assert not (run / "draws").exists() and "keep_draws" not in store.read_run_json(run)


def test_retry_failed_without_resume_is_refused(suite, tmp_path):
    with pytest.raises(VibenchError, match=r"^--retry-failed needs --resume RUN_DIR$"):
        run_suite(suite, SerialExecutor(), out=tmp_path, retry_failed=True)


class _DuckExecutor:
    """An executor that does not derive from Executor and says nothing about draws."""

    jobs = 1
    closed = False

    def run(self, cells, timeout=None):
        raise AssertionError("should not run")

    def close(self):
        self.closed = True


def test_keep_draws_needs_an_executor_that_says_it_can(suite, tmp_path):
    executor = _DuckExecutor()
    with pytest.raises(VibenchError, match=r"^--keep-draws is not supported with the _DuckExecutor \(use the default "
                                           r"executor or --jobs N\)$"):
        run_suite(suite, executor, out=tmp_path, keep_draws=True)
    assert executor.closed


def test_plan_after_a_failed_row_reruns_it_only_when_asked(suite, tmp_path):
    run = store.create_run_dir(tmp_path, "tiny")
    cells = suite.cells()
    store.append_row(run, {**cells[0].to_dict(), "key": cells[0].key, "status": "ok"})
    store.append_row(run, {**cells[1].to_dict(), "key": cells[1].key, "status": "error"})
    assert plan(suite, run)[1] == []  # an error row is a result: resuming does not re-run it
    assert [c.key for c in plan(suite, run, retry_failed=True)[1]] == [cells[1].key]
    assert plan(suite)[1] == cells


def test_resuming_names_the_run_and_the_first_foreign_row(suite, tmp_path):
    run = store.create_run_dir(tmp_path, "tiny")
    store.append_row(run, {**suite.cells()[0].to_dict(), "key": suite.cells()[0].key, "status": "ok"})
    store.append_row(run, {"key": "x1", "task": "funnel", "method": "emcee", "status": "ok"})
    store.append_row(run, {"key": "x2", "task": "banana", "method": "meanfield", "status": "ok"})
    meta = {"suite": {"name": "tiny"}}  # no digest: an old run, checked row by row
    with pytest.raises(VibenchError) as err:
        check_resumable(suite, run, meta)
    assert str(err.value) == (f"--resume {str(run)!r} holds 2 rows that are not cells of suite 'tiny' "
                              "(first: funnel emcee); start a new run")


def test_resuming_a_changed_suite_says_what_may_have_changed(suite, tmp_path):
    run = store.create_run_dir(tmp_path, "tiny")
    with pytest.raises(VibenchError) as err:
        check_resumable(suite, run, {"suite": {"name": "tiny", "digest": "0" * 16}})
    assert str(err.value) == (f"--resume {str(run)!r}: suite 'tiny' changed since that run (tasks, methods, budgets, "
                              "seeds, timeout or thresholds); start a new run")
    with pytest.raises(VibenchError) as err:
        check_resumable(suite, run, {"suite": {"name": "smoke"}})
    assert str(err.value) == f"--resume {str(run)!r} is a run of suite 'smoke', not 'tiny'"


def test_store_repair_edges(tmp_path):
    """No file and an empty file: nothing cut. A one-byte fragment after several rows: cut, the rows kept."""
    run = store.create_run_dir(tmp_path, "s")
    assert store.repair(run) is False and not (run / store.CELLS).exists()
    (run / store.CELLS).write_bytes(b"")
    assert store.repair(run) is False and (run / store.CELLS).read_bytes() == b""
    rows = [json.dumps({"key": k, "task": "gaussian", "method": "laplace", "status": "ok"}) for k in "abc"]
    (run / store.CELLS).write_text("\n".join(rows) + "\n{")
    assert store.repair(run) is True
    assert (run / store.CELLS).read_text() == "\n".join(rows) + "\n"
    assert (run / store.TORN).read_text() == "{\n"


def test_filtering_a_suite_by_a_name_it_lacks_hints_only_when_a_name_is_close(suite):
    with pytest.raises(VibenchError) as err:
        suite.filtered(methods=["lapalce"])
    assert str(err.value) == "suite 'tiny' has no method 'lapalce'; it has: laplace; did you mean 'laplace'?"
    with pytest.raises(VibenchError) as err:
        suite.filtered(tasks=["zzzzzz"])
    assert str(err.value) == "suite 'tiny' has no task 'zzzzzz'; it has: gaussian"


class _Recording(SerialExecutor):
    """The serial executor, remembering the timeout it was given."""

    def run(self, cells, timeout=None):
        self.timeout = timeout
        yield from super().run(cells, timeout=timeout)


def test_the_executor_gets_the_suites_timeout_unless_one_is_given(tiny_suite, tmp_path):
    tiny_suite.write_text(tiny_suite.read_text().replace('name = "tiny"', 'name = "tiny"\ntimeout = 77'))
    suite = load_suite(str(tiny_suite))
    executor = _Recording()
    run_suite(suite, executor, out=tmp_path)
    assert executor.timeout == 77.0
    executor = _Recording()
    run_suite(suite, executor, out=tmp_path, timeout=5.0)
    assert executor.timeout == 5.0


def test_on_start_sees_the_run_directory_its_run_json_and_the_counts(suite, tmp_path):
    seen = []

    def on_start(run_dir, total, todo):
        seen.append((run_dir, total, todo, store.read_run_json(run_dir)["suite"]["name"]))

    run = run_suite(suite, SerialExecutor(), out=tmp_path, on_start=on_start)
    run_suite(suite, SerialExecutor(), resume=run, on_start=on_start)
    assert seen == [(run, 2, 2, "tiny"), (run, 2, 0, "tiny")]  # run.json is written before the first cell
    ended = datetime.fromisoformat(store.read_run_json(run)["ended"])
    assert ended.utcoffset() == timedelta(0)


def test_keep_draws_is_recorded_and_a_resumed_run_keeps_its_draws_folder(suite, tmp_path):
    run = run_suite(suite, SerialExecutor(), out=tmp_path, keep_draws=True)
    assert store.read_run_json(run)["keep_draws"] is True and len(list((run / "draws").iterdir())) == 2
    run_suite(suite, SerialExecutor(), resume=run, keep_draws=True)  # the folder exists already
    assert store.read_run_json(run)["keep_draws"] is True


def _two_methods(tmp_path):
    path = tmp_path / "two.toml"
    path.write_text('name = "two"\nseeds = [0]\n[[tasks]]\nname = "gaussian"\ndim = 2\nrho = 0.5\n'
                    '[[methods]]\nname = "laplace"\nbudgets = [50]\n[[methods]]\nname = "meanfield"\nbudgets = [50]\n')
    return load_suite(str(path))


def test_resuming_a_filtered_run_with_the_whole_suite_records_the_whole_suite(tmp_path):
    full = _two_methods(tmp_path)
    run = run_suite(full.filtered(methods=["laplace"]), SerialExecutor(), out=tmp_path)
    meta = store.read_run_json(run)
    assert meta["n_cells"] == 1 and [m["name"] for m in meta["suite"]["methods"]] == ["laplace"]
    run_suite(full.filtered(methods=["meanfield"]), SerialExecutor(), resume=run)  # as many cells: recorded
    meta = store.read_run_json(run)
    assert meta["n_cells"] == 2 and [m["name"] for m in meta["suite"]["methods"]] == ["meanfield"]
    run_suite(full, SerialExecutor(), resume=run)
    meta = store.read_run_json(run)
    assert meta["n_cells"] == 2 and [m["name"] for m in meta["suite"]["methods"]] == ["laplace", "meanfield"]
    run_suite(full.filtered(methods=["laplace"]), SerialExecutor(), resume=run)  # fewer cells: the whole stays
    meta = store.read_run_json(run)
    assert meta["n_cells"] == 2 and [m["name"] for m in meta["suite"]["methods"]] == ["laplace", "meanfield"]


def test_a_run_json_that_cannot_be_written_is_a_clear_error(suite, tmp_path, monkeypatch):
    import errno

    def refuse(run_dir, meta):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "write_run_json", refuse)
    with pytest.raises(VibenchError) as err:
        run_suite(suite, SerialExecutor(), out=tmp_path)
    (run,) = tmp_path.glob("tiny-*")
    assert str(err.value) == f"cannot write to run directory {str(run)!r}: No space left on device"
    def odd(run_dir, meta):
        raise OSError("odd")  # no errno, no strerror: the message falls back on str(exc)

    monkeypatch.setattr(store, "write_run_json", odd)
    with pytest.raises(VibenchError, match=r": odd$"):
        run_suite(suite, SerialExecutor(), out=tmp_path / "again")
