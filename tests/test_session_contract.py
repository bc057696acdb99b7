"""``run_suite`` when its Parquet copy cannot be written: the run still ends, with one exact warning.

The warning must carry its message and point at whoever called
:func:`run_suite` (``stacklevel=2``). ``tests/test_session.py`` checks that by
comparing the warning's file with the test's own, which cannot hold under
mutmut (its trampoline adds frames between the caller and the body, so that
test is deselected in the mutation workspace). Here the expected place is
taken from the live stack instead: ``on_start`` is called from the body of
``run_suite``, so the frame one above that body is the caller the warning
must name, however many wrappers stand in between.
"""

from __future__ import annotations

import errno
import os
import sys

import pytest

from test_session import suite  # noqa: F401  (the fixture)
from vibench import store
from vibench.executors import SerialExecutor
from vibench.session import run_suite

TAIL = "; cells.jsonl holds every row"


class _CallerOfRunSuite:
    """An ``on_start`` that remembers where the body of ``run_suite`` was called from."""

    def __init__(self, then=None):
        self.then = then
        self.where = None

    def __call__(self, run_dir, total, todo):
        body = sys._getframe(1)  # the frame running run_suite's code
        caller = body.f_back
        self.where = (caller.f_code.co_filename, caller.f_lineno)
        if self.then:
            self.then(run_dir)


def _parquet_warnings(caught):
    return [w for w in caught if "results.parquet" in str(w.message)]


def test_a_failed_parquet_copy_warns_once_with_the_exact_message_at_the_callers_line(suite, tmp_path, monkeypatch):
    def broken(run_dir):
        raise ValueError("no pyarrow today")

    monkeypatch.setattr(store, "write_parquet", broken)
    on_start = _CallerOfRunSuite()
    with pytest.warns(UserWarning) as caught:
        run = run_suite(suite, SerialExecutor(), out=tmp_path, on_start=on_start)
    (w,) = _parquet_warnings(caught)
    assert w.category is UserWarning
    assert str(w.message) == f"{run}: results.parquet not written (ValueError: no pyarrow today){TAIL}"
    assert (w.filename, w.lineno) == on_start.where  # stacklevel 2: the caller of run_suite, not run_suite itself
    assert not w.filename.endswith("session.py")
    assert [r["status"] for r in store.read_rows(run)] == ["ok", "ok"]
    assert not (run / store.PARQUET).exists()
    assert "ended" in store.read_run_json(run)  # run.json was finished before the copy was tried


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the rename error of Linux")
def test_the_warning_names_the_error_type_of_a_real_failure_and_the_run_is_still_returned(suite, tmp_path):
    """A directory in the way of ``results.parquet``: the rename fails with a real IsADirectoryError, not a stub."""
    on_start = _CallerOfRunSuite(then=lambda run_dir: (run_dir / store.PARQUET / "occupied").mkdir(parents=True))
    with pytest.warns(UserWarning) as caught:
        run = run_suite(suite, SerialExecutor(), out=tmp_path, on_start=on_start)
    (w,) = _parquet_warnings(caught)
    target = run / store.PARQUET
    tmp = target.with_name(f".{store.PARQUET}.{os.getpid()}.tmp")  # the serial executor runs in this process
    error = IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(tmp), None, str(target))
    assert str(w.message) == f"{run}: results.parquet not written (IsADirectoryError: {error}){TAIL}"
    assert (w.filename, w.lineno) == on_start.where
    assert target.is_dir() and len(store.read_rows(run)) == 2
    assert not tmp.exists()  # the temporary copy is cleaned up


def test_a_working_parquet_copy_gives_no_warning(suite, tmp_path):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = run_suite(suite, SerialExecutor(), out=tmp_path)
    assert _parquet_warnings(caught) == []
    assert (run / store.PARQUET).is_file()
