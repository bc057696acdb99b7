"""The run directory: append-only rows, torn-line tolerance, load to pandas."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vibench import store
from vibench.errors import VibenchError


def _row(key, **extra):
    return {"key": key, "task": "gaussian", "method": "laplace", "status": "ok", **extra}


def test_append_and_load(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    store.write_run_json(run, store.run_metadata({"name": "s"}))
    store.append_row(run, _row("a", kl=0.5))
    store.append_row(run, _row("b", task="funnel", kl=float("nan")))
    df = store.load(run)
    assert list(df.columns[: len(store.ROW_COLUMNS)]) == store.ROW_COLUMNS
    assert df["task"].tolist() == ["gaussian", "funnel"]
    assert store.done_keys(store.read_rows(run)) == {"a", "b"}
    meta = json.loads((run / "run.json").read_text())
    assert meta["versions"]["numpy"] and meta["machine"]["cpus"]


def _strict(line):
    return json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


def test_rows_are_strict_json_with_nonfinite_fields_named(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    store.append_row(run, _row("a", kl=float("nan"), khat=np.inf, dist=np.float64(0.5), dim=np.int64(3),
                               info={"elbo": -np.inf, "trace": np.array([1.0, np.nan]), "note": object()}))
    (line,) = (run / store.CELLS).read_text().splitlines()
    assert "NaN" not in line and "Infinity" not in line
    row = _strict(line)
    assert row["kl"] is None and row["khat"] is None and row["dist"] == 0.5 and row["dim"] == 3
    assert row["nonfinite"] == ["kl", "khat", "info.elbo", "info.trace"]
    assert row["info"]["trace"] == [1.0, None] and row["info"]["note"].startswith("<object")


def test_run_json_is_strict_json(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    store.write_run_json(run, {"suite": {"name": "s", "timeout": float("inf")}, "cpus": np.int64(2)})
    meta = _strict((run / store.RUN).read_text())
    assert meta == {"suite": {"name": "s", "timeout": None}, "cpus": 2}


def test_torn_last_line_is_skipped(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    store.append_row(run, _row("a"))
    with open(run / store.CELLS, "a") as fh:
        fh.write('{"key": "b", "kl": 0.')
    assert [r["key"] for r in store.read_rows(run)] == ["a"]


def test_a_torn_last_line_is_repaired_before_appending(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    store.append_row(run, _row("a"))
    with open(run / store.CELLS, "a") as fh:
        fh.write('{"key": "b", "kl": 0.')
    assert store.repair(run) is True
    store.append_row(run, _row("b"))
    assert [r["key"] for r in store.read_rows(run)] == ["a", "b"]
    assert (run / store.TORN).read_text() == '{"key": "b", "kl": 0.\n'
    assert store.repair(run) is False


def test_a_whole_last_row_without_its_newline_is_kept(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    (run / store.CELLS).write_text(json.dumps(_row("a")) + "\n" + json.dumps(_row("b")))
    assert [r["key"] for r in store.read_rows(run)] == ["a", "b"]
    assert store.repair(run) is False
    store.append_row(run, _row("c"))
    assert [r["key"] for r in store.read_rows(run)] == ["a", "b", "c"]


def test_run_json_must_be_an_object(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    (run / store.RUN).write_text("[1, 2]")
    with pytest.raises(VibenchError, match="it holds a list"):
        store.read_run_json(run)


def test_drop_rows_moves_retried_rows_aside_and_the_last_row_of_a_key_wins(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    for key, status in (("a", "ok"), ("b", "error"), ("c", "timeout")):
        store.append_row(run, _row(key, status=status))
    assert store.done_keys(store.read_rows(run)) == {"a", "b", "c"}  # by default a failed cell is done
    assert store.done_keys(store.read_rows(run), retry_failed=True) == {"a"}
    assert store.drop_rows(run, {"b", "c"}) == 2
    assert [r["key"] for r in store.read_rows(run)] == ["a"]
    assert [json.loads(line)["key"] for line in (run / store.RETRIED).read_text().splitlines()] == ["b", "c"]
    store.append_row(run, _row("a", status="error"))
    assert [r["status"] for r in store.read_rows(run)] == ["error"]


@pytest.mark.parametrize("name, safe", [
    ("smoke", "smoke"), ("../../escaped", "escaped"), ("/etc/passwd", "etc_passwd"), ("..", "suite"),
    ("", "suite"), ("a b\\c", "a_b_c"), ("x" * 300, "x" * 64),
])
def test_suite_names_become_safe_file_names(tmp_path, name, safe):
    assert store.safe_name(name) == safe
    run = store.create_run_dir(tmp_path, name)
    assert run.parent == tmp_path and run.name.startswith(safe + "-")


def test_run_dirs_do_not_collide(tmp_path):
    assert store.create_run_dir(tmp_path, "s") != store.create_run_dir(tmp_path, "s")


def test_unwritable_out_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(VibenchError, match="cannot write results to"):
        store.create_run_dir(blocker / "sub", "s")


def test_not_a_run_dir(tmp_path):
    with pytest.raises(VibenchError, match="not a vibench run directory"):
        store.read_rows(tmp_path)
    with pytest.raises(VibenchError, match="not a vibench run directory"):
        store.read_run_json(tmp_path)


def test_parse_row_accepts_only_rows(tmp_path):
    from vibench.store import REQUIRED_KEYS, _parse_row

    full = {k: "x" for k in REQUIRED_KEYS}
    assert _parse_row(json.dumps(full).encode()) == full
    lacking = dict(full)
    lacking.pop(next(k for k in REQUIRED_KEYS if k != "key"))
    assert _parse_row(json.dumps(lacking).encode()) is None  # a dict with a string key, but not a row
    assert _parse_row(json.dumps({**full, "key": 3}).encode()) is None
    assert _parse_row(b"[1, 2]") is None and _parse_row(b'"key"') is None and _parse_row(b"{torn") is None


def test_drop_rows_counts_what_it_moved(tmp_path):
    assert store.drop_rows(tmp_path / "nowhere", {"k"}) == 0  # no cells.jsonl: nothing to drop, no error
    assert store.drop_rows(tmp_path, set()) == 0


class _FixedClock:
    """Stands in for ``datetime`` in vibench.store: every run directory is stamped 2026-12-02 10:20:30."""

    @staticmethod
    def now(tz=None):
        from datetime import datetime

        return datetime(2026, 12, 2, 10, 20, 30, tzinfo=tz)


def test_run_directories_are_stamped_and_suffixed_when_the_stamp_is_taken(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "datetime", _FixedClock)
    first, second = store.create_run_dir(tmp_path, "tiny"), store.create_run_dir(tmp_path, "tiny")
    assert (first.name, second.name) == ("tiny-20261202-102030", "tiny-20261202-102030-1")
    assert sorted(p.name for p in first.iterdir()) == []  # the write probe leaves nothing behind


def test_a_run_directory_never_reuses_a_taken_name(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "datetime", _FixedClock)
    for i in range(1000):
        (tmp_path / ("tiny-20261202-102030" + (f"-{i}" if i else ""))).mkdir()
    with pytest.raises(VibenchError, match=r"^cannot make a run directory in .*: tiny-20261202-102030 and its 999 "
                                           r"suffixed names are all taken$"):
        store.create_run_dir(tmp_path, "tiny")


def test_an_out_path_that_is_a_file_is_a_clear_error(tmp_path):
    out = tmp_path / "taken"
    out.write_text("")
    with pytest.raises(VibenchError) as err:
        store.create_run_dir(out, "tiny")
    assert str(err.value) == f"cannot write results to {str(out)!r}: File exists"


def test_safe_names_keep_case_and_letters_at_the_ends():
    assert store.safe_name("Smoke-X") == "Smoke-X" and store.safe_name("X-ray") == "X-ray"


def test_run_metadata_records_the_git_commit_of_the_code():
    import subprocess
    from pathlib import Path

    here = Path(store.__file__).resolve().parent.parent
    head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True)
    want = head.stdout.strip() if head.returncode == 0 else None
    got = store.run_metadata({"name": "s"})["git_commit"]
    assert got == want and (got is None or len(got) == 40)


def test_run_metadata_says_what_ran_where_and_when():
    import importlib.metadata as md
    import os
    import platform
    from datetime import datetime, timedelta, timezone

    before = datetime.now(timezone.utc).replace(microsecond=0)
    meta = store.run_metadata({"name": "s"})
    assert set(meta) == {"suite", "versions", "python", "git_commit", "machine", "started", "ended"}
    assert meta["suite"] == {"name": "s"} and meta["ended"] is None and meta["python"] == platform.python_version()
    want = {d: md.version(d) for d in ("vibench", "numpy", "scipy", "pandas", "pymc", "pytensor", "arviz", "emcee",
                                       "pluggy")}  # every one is installed here: all hard dependencies
    assert meta["versions"] == want
    assert meta["machine"] == {"node": platform.node(), "platform": platform.platform(),
                               "processor": platform.machine(), "cpus": os.cpu_count()}
    started = datetime.fromisoformat(meta["started"])
    assert started.utcoffset() == timedelta(0) and before <= started <= datetime.now(timezone.utc)


def test_git_commit_is_none_outside_a_work_tree(monkeypatch, tmp_path):
    import subprocess

    real = subprocess.run
    monkeypatch.setattr(store.subprocess, "run", lambda cmd, **kw: real(["git", "-C", str(tmp_path), *cmd[3:]], **kw))
    assert store._git_commit() is None  # rev-parse fails in a folder that is no repository


def test_run_json_is_written_readably_and_atomically(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    store.write_run_json(run, {"suite": {"name": "s"}, "n": 1})
    assert (run / store.RUN).read_text() == json.dumps({"suite": {"name": "s"}, "n": 1}, indent=2)
    assert sorted(p.name for p in run.iterdir()) == [store.RUN]  # no temporary file left behind


def test_run_json_errors_name_the_directory_and_the_cause(tmp_path):
    missing = tmp_path / "nope"
    missing.mkdir()
    with pytest.raises(VibenchError) as err:
        store.read_run_json(missing)
    assert str(err.value) == f"{str(missing)!r} is not a vibench run directory (no run.json)"
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(VibenchError) as err:
        store.read_run_json(afile)
    assert str(err.value) == f"{str(afile)!r} is not a vibench run directory"
    (missing / store.RUN).write_text("{oops\nmore")
    with pytest.raises(VibenchError) as err:
        store.read_run_json(missing)
    assert str(err.value) == (f"cannot read {missing / store.RUN}: JSONDecodeError: Expecting property name enclosed "
                              "in double quotes: line 1 column 2 (char 1)")
