"""vibench.store's contract at its edges: exact error messages, row order, blank lines, the frame's nulls.

Each test pins one result a user sees: the full text of an error (the path and line it names), which
rows ``read_rows`` returns and in what order (the last row of a key wins and takes the place of that
last row), the ``None`` that ``load`` gives for a column no row has, and ``run.json``'s
``git_commit`` when git fails.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from test_store import _FixedClock, _row
from vibench import store
from vibench.errors import VibenchError


def _line(row) -> bytes:
    return json.dumps(row).encode() + b"\n"


def test_all_names_taken_error_names_the_out_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "datetime", _FixedClock)
    out = tmp_path / "out"
    out.mkdir()
    for i in range(1000):
        (out / ("s-20261202-102030" + (f"-{i}" if i else ""))).mkdir()
    with pytest.raises(VibenchError) as err:
        store.create_run_dir(out, "s")
    assert str(err.value) == (f"cannot make a run directory in {str(out)!r}: s-20261202-102030 and its 999 suffixed "
                              "names are all taken")


def test_git_commit_is_none_when_rev_parse_fails_but_prints(monkeypatch, tmp_path):
    # In a repository without commits, `git rev-parse HEAD` prints "HEAD" on stdout and exits 128.
    repo = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", str(repo)], check=True, capture_output=True)
    real = subprocess.run
    seen = []

    def run_in_empty_repo(cmd, **kw):
        out = real(["git", "-C", str(repo), *cmd[3:]], **kw)
        seen.append((out.returncode, out.stdout.strip()))
        return out

    monkeypatch.setattr(store.subprocess, "run", run_in_empty_repo)
    assert store.run_metadata({"name": "s"})["git_commit"] is None
    assert seen == [(128, "HEAD")]  # the case this test is about: a failed rev-parse with output


def test_not_a_run_directory_error_names_the_path_given(tmp_path):
    nowhere = tmp_path / "nowhere"
    with pytest.raises(VibenchError) as err:
        store.read_rows(nowhere)
    assert str(err.value) == f"{str(nowhere)!r} is not a vibench run directory (no cells.jsonl)"


def test_unreadable_cells_file_error_names_the_file_and_the_cause(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    (run / store.CELLS).mkdir()  # exists, but reading it fails with IsADirectoryError
    with pytest.raises(VibenchError) as err:
        store.read_rows(run)
    assert str(err.value) == f"cannot read {run / store.CELLS}: Is a directory"


@pytest.mark.parametrize("content, what", [
    (b"\xff\xfe\n", "not UTF-8 text"),
    (b"{oops\n", "not JSON: Expecting property name enclosed in double quotes"),
    (b"[1]\n", "a JSON list, not an object"),
    (b'{"key": "a"}\n', "no 'task'"),
    (b'{"key": 3, "task": "t", "method": "m", "status": "ok"}\n', "'key' is not a string"),
])
def test_a_damaged_line_error_is_exact(tmp_path, content, what):
    run = store.create_run_dir(tmp_path, "s")
    (run / store.CELLS).write_bytes(_line(_row("a")) + content + _line(_row("b")))
    with pytest.raises(VibenchError) as err:
        store.read_rows(run)
    assert str(err.value) == f"{run / store.CELLS} line 2 is not a vibench row ({what}); fix or remove that line"


def test_blank_lines_are_skipped_not_the_end(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    (run / store.CELLS).write_bytes(_line(_row("a")) + b"\n   \n" + _line(_row("b")) + b"\n" + _line(_row("c")))
    assert [r["key"] for r in store.read_rows(run)] == ["a", "b", "c"]


def test_a_rewritten_key_moves_to_the_place_of_its_last_row(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    (run / store.CELLS).write_bytes(_line(_row("a", status="error")) + _line(_row("b")) + _line(_row("a")))
    assert [(r["key"], r["status"]) for r in store.read_rows(run)] == [("b", "ok"), ("a", "ok")]


def test_a_whole_last_row_without_newline_also_moves_its_key_last(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    (run / store.CELLS).write_bytes(_line(_row("a", status="error")) + _line(_row("b")) + json.dumps(_row("a")).encode())
    assert [(r["key"], r["status"]) for r in store.read_rows(run)] == [("b", "ok"), ("a", "ok")]


def test_a_column_no_row_has_is_none_in_the_frame(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    (run / store.CELLS).write_bytes(_line(_row("a")) + _line(_row("b")))
    df = store.load(run)
    for col in ("error", "kl", "dim", "flags"):
        assert df[col].dtype == object and df[col].tolist() == [None, None], col


def test_a_missing_parquet_file_error_names_it(tmp_path):
    path = tmp_path / "nope.parquet"
    with pytest.raises(VibenchError) as err:
        store.load(path)
    assert str(err.value) == f"{str(path)!r} does not exist"


def test_a_file_system_that_takes_no_bytes_fails_when_the_run_directory_is_made(tmp_path):
    # RLIMIT_FSIZE = 0 stands in for a full disk: files can be created but not written (EFBIG)
    code = ("import resource, signal, sys\n"
            "from vibench import store\n"
            "from vibench.errors import VibenchError\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))\n"
            "try:\n"
            "    store.create_run_dir(sys.argv[1], 'tiny')\n"
            "except VibenchError as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"cannot write results to {str(tmp_path)!r}: File too large"


def test_a_text_that_is_not_utf8_is_stored_escaped_and_loads(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    name = "caf\udce9.csv"  # a non-UTF-8 file name as os.fsdecode gives it
    store.append_row(run, _row("a", error=f"cannot read {name}", info={name: 1}))
    (row,) = store.read_rows(run)
    assert row["error"] == "cannot read caf\\udce9.csv" and row["info"] == {"caf\\udce9.csv": 1}
    assert store.load(run)["error"].tolist() == ["cannot read caf\\udce9.csv"]
    assert store.load(store.write_parquet(run))["error"].tolist() == ["cannot read caf\\udce9.csv"]
