"""The run directory: append-only rows, torn-line tolerance, load to pandas."""

from __future__ import annotations

import json

import pytest

from vibench import store
from vibench.errors import VibenchError


def test_append_and_load(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    store.write_run_json(run, store.run_metadata({"name": "s"}))
    store.append_row(run, {"task": "gaussian", "kl": 0.5, "key": "a"})
    store.append_row(run, {"task": "funnel", "kl": float("nan"), "key": "b"})
    df = store.load(run)
    assert list(df.columns[: len(store.ROW_COLUMNS)]) == store.ROW_COLUMNS
    assert df["task"].tolist() == ["gaussian", "funnel"]
    assert store.done_keys(store.read_rows(run)) == {"a", "b"}
    meta = json.loads((run / "run.json").read_text())
    assert meta["versions"]["numpy"] and meta["machine"]["cpus"]


def test_torn_last_line_is_skipped(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    store.append_row(run, {"key": "a"})
    with open(run / store.CELLS, "a") as fh:
        fh.write('{"key": "b", "kl": 0.')
    assert [r["key"] for r in store.read_rows(run)] == ["a"]


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
