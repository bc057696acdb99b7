"""Formats people use: results.parquet, batched fsync, InferenceData draws (--keep-draws), NetCDF references,
and the az.summary-style table of ``vibench truth``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import arviz as az
import numpy as np
import pandas as pd
import pyarrow as pa  # a hard dependency (results.parquet): an ImportError is a failure, not a skip
import pyarrow.parquet as pq
import pytest

import vibench
from vibench import cli, reference_store, store
from vibench.approximation import DrawsApproximation, GaussianApproximation
from vibench.cell import Cell
from vibench.errors import VibenchError
from vibench.executors import Executor, ProcessExecutor, SerialExecutor
from vibench.registry import get_registry
from vibench.session import run_suite
from vibench.suite import load_suite
from vibench.truth_summary import format_truth_summary, truth_summary



class _Crash(vibench.Method):
    name, family = "test-formats-crash", "meanfield"

    def fit(self, task, budget, rng):
        raise RuntimeError("boom")


@pytest.fixture
def crash_method(fresh_registry):
    get_registry().add_method(_Crash())
    yield


def _suite(tmp_path, methods=("laplace", "emcee"), name="fmt"):
    blocks = "".join(f'[[methods]]\nname = "{m}"\nbudgets = [{200 if m == "emcee" else 50}]\n' for m in methods)
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(f"""
        name = "{name}"
        seeds = [0]
        [[tasks]]
        name = "gaussian"
        dim = [2, 3]
        rho = 0.5
    """) + blocks)
    return path


# --- results.parquet and vibench.load ---------------------------------------------------------------------------

def test_a_run_writes_results_parquet_and_load_gives_the_same_frame_from_each_file(tmp_path, crash_method):
    run_dir = run_suite(load_suite(str(_suite(tmp_path, ("laplace", "emcee", "test-formats-crash")))),
                        SerialExecutor(debug=True), out=tmp_path / "out")
    parquet = run_dir / store.PARQUET
    assert parquet.is_file() and (run_dir / store.CELLS).is_file()
    from_dir, from_parquet = vibench.load(run_dir), vibench.load(parquet)
    from_jsonl = vibench.load(run_dir / store.CELLS)
    pd.testing.assert_frame_equal(from_dir, from_parquet)
    pd.testing.assert_frame_equal(from_dir, from_jsonl)
    assert len(from_dir) == 6 and sorted(from_dir["status"]) == ["error"] * 2 + ["ok"] * 4
    assert list(from_parquet.columns[: len(store.ROW_COLUMNS)]) == store.ROW_COLUMNS
    assert from_parquet["params"][0] == {"dim": 2, "rho": 0.5} and isinstance(from_parquet["info"][0], dict)
    assert from_parquet["traceback"].notna().sum() == 2  # only the error rows carry one (--debug)

    # what DuckDB, Polars or plain pyarrow see: flat columns, nested values as JSON text
    table = pq.read_table(parquet)
    assert table.num_rows == 6 and pa.types.is_string(table.schema.field("info").type)
    assert pa.types.is_floating(table.schema.field("dist").type) and pa.types.is_int64(table.schema.field("seed").type)
    infos = [json.loads(text) for text in table.column("info").to_pylist()]
    assert infos == list(from_dir["info"])
    assert table.column("dist").to_pylist()[0] == pytest.approx(from_dir["dist"][0])
    meta = json.loads(table.schema.metadata[b"vibench"])
    assert {"params", "budget", "info", "flags"} <= set(meta["json_columns"])


def test_rows_of_every_shape_survive_parquet(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    store.write_run_json(run, store.run_metadata({"name": "s"}))
    store.append_row(run, {"key": "a", "task": "t", "method": "m", "status": "ok", "kl": float("nan"),
                           "reliable": True, "flags": [], "info": {"trace": [1.0, np.inf], "note": "x"}})
    store.append_row(run, {"key": "b", "task": "t", "method": "m", "status": "error", "error": "boom",
                           "reliable": None, "traceback": "Traceback ...", "params": {"dim": 2}})
    store.append_row(run, {"key": "c", "task": "t", "method": "m", "status": "ok", "seed": 3, "dist": 0.25})
    df = store.load(run)
    assert df.loc[1, "flags"] is None and df.loc[2, "traceback"] != df.loc[2, "traceback"]  # missing: None / NaN
    path = store.write_parquet(run)
    back = vibench.load(path)
    pd.testing.assert_frame_equal(df, back)
    assert back.loc[0, "nonfinite"] == ["kl", "info.trace"] and back.loc[0, "info"] == {"trace": [1.0, None],
                                                                                       "note": "x"}
    assert back.loc[2, "dist"] == 0.25 and back["reliable"].tolist() == [True, None, None]


def test_an_empty_run_and_a_directory_with_only_the_parquet(tmp_path):
    run = store.create_run_dir(tmp_path, "s")
    store.write_run_json(run, store.run_metadata({"name": "s"}))
    empty = store.load(run)
    pd.testing.assert_frame_equal(empty, vibench.load(store.write_parquet(run)), check_dtype=False)
    assert len(empty) == 0 and list(empty.columns) == store.ROW_COLUMNS
    store.append_row(run, {"key": "a", "task": "t", "method": "m", "status": "ok", "dist": 0.5})
    store.write_parquet(run)
    frame = store.load(run)
    (run / store.CELLS).unlink()  # someone shipped run.json and results.parquet only
    pd.testing.assert_frame_equal(vibench.load(run), frame)
    with pytest.raises(VibenchError, match="does not exist"):
        vibench.load(tmp_path / "nope.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(VibenchError, match="cannot read .* as Parquet"):
        vibench.load(tmp_path / "bad.parquet")


def test_a_resumed_run_rewrites_results_parquet_with_every_row(tmp_path):
    suite_path = _suite(tmp_path, ("laplace", "emcee"))
    first = run_suite(load_suite(str(suite_path)).filtered(methods=["laplace"]), SerialExecutor(), out=tmp_path)
    assert len(vibench.load(first / store.PARQUET)) == 2
    run_suite(load_suite(str(suite_path)), SerialExecutor(), resume=first)
    table = vibench.load(first / store.PARQUET)
    assert sorted(table["method"]) == ["emcee", "emcee", "laplace", "laplace"]
    pd.testing.assert_frame_equal(table, vibench.load(first))


# --- batched fsync --------------------------------------------------------------------------------------------

def test_rows_are_written_at_once_and_fsynced_in_batches(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(store.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    row = {"task": "t", "method": "m", "status": "ok"}
    with store.RowWriter(tmp_path / store.CELLS, every_rows=50, every_s=3600) as writer:
        for i in range(120):
            writer.write({"key": f"k{i}", **row})
            # in the file (the kernel's page cache) at once, before any fsync of that row
            assert (tmp_path / store.CELLS).read_bytes().count(b"\n") == i + 1
        assert len(synced) == 2  # after rows 50 and 100
    assert len(synced) == 3 and writer.fsyncs == 3  # the last 20 rows, at close
    writer.close()  # idempotent
    assert len(synced) == 3 and len(store.read_rows(tmp_path)) == 120
    with pytest.raises(ValueError, match="closed"):
        writer.write({"key": "x", **row})


def test_a_lone_row_is_fsynced_within_every_s_even_if_no_other_row_comes(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(store.os, "fsync", lambda fd: synced.append(fd))
    writer = store.RowWriter(tmp_path / store.CELLS, every_rows=50, every_s=0.2)
    try:
        writer.write({"key": "a", "task": "t", "method": "m", "status": "ok"})
        writer.write({"key": "b", "task": "t", "method": "m", "status": "ok"})
        assert synced == []
        deadline = time.monotonic() + 30
        while not synced and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(synced) == 1 and writer.fsyncs == 1  # one fsync for both, by the timer
        time.sleep(0.4)
        assert len(synced) == 1  # nothing pending: no more fsyncs
    finally:
        writer.close()
    assert len(synced) == 1


def test_append_row_still_fsyncs_its_one_row(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(store.os, "fsync", lambda fd: synced.append(fd))
    store.append_row(tmp_path, {"key": "a", "task": "t", "method": "m", "status": "ok"})
    assert len(synced) == 1 and [r["key"] for r in store.read_rows(tmp_path)] == ["a"]


def test_sigkill_loses_no_written_row_even_before_its_fsync(tmp_path):
    code = textwrap.dedent(f"""
        import os, signal
        from vibench import store
        writer = store.RowWriter({str(tmp_path / 'cells.jsonl')!r}, every_rows=1000, every_s=1000)
        for i in range(7):
            writer.write({{"key": f"k{{i}}", "task": "t", "method": "m", "status": "ok"}})
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -9
    assert [r["key"] for r in store.read_rows(tmp_path)] == [f"k{i}" for i in range(7)]


# --- InferenceData from approximations ------------------------------------------------------------------------

def test_a_samplers_draws_become_inference_data_chain_by_chain():
    samples = np.random.default_rng(0).standard_normal((3, 40, 2))
    idata = DrawsApproximation(samples).to_inference_data(names=["mu", "log_tau"])
    x = idata.posterior["x"]
    assert x.dims == ("chain", "draw", "coordinate") and x.shape == (3, 40, 2)
    assert list(x["coordinate"].values) == ["mu", "log_tau"]
    np.testing.assert_array_equal(x.values, samples)
    summary = az.summary(idata)
    assert list(summary.index) == ["x[mu]", "x[log_tau]"]
    assert summary.loc["x[mu]", "mean"] == pytest.approx(samples[..., 0].mean(), abs=1e-3)
    # no names, or the wrong number of them: x[0], x[1]
    assert list(DrawsApproximation(samples).to_inference_data(names=["a"]).posterior["coordinate"].values) == \
        ["x[0]", "x[1]"]


def test_a_gaussian_gives_iid_draws_of_q_as_one_chain():
    q = GaussianApproximation(np.array([1.0, -2.0]), sd=np.array([0.5, 3.0]))
    idata = q.to_inference_data(n_draws=4000, rng=np.random.default_rng(1))
    x = idata.posterior["x"].values
    assert x.shape == (1, 4000, 2)
    np.testing.assert_allclose(x.mean(axis=(0, 1)), q.mean, atol=4 * 3.0 / np.sqrt(4000))
    np.testing.assert_allclose(x.std(axis=(0, 1)), q.sd, rtol=0.05)
    again = q.to_inference_data(n_draws=4000, rng=np.random.default_rng(1)).posterior["x"].values
    np.testing.assert_array_equal(x, again)
    assert "iid draws" in idata.posterior.attrs["vibench_draws"]
    with pytest.raises(ValueError, match="n_draws"):
        q.to_inference_data(n_draws=0)


# --- --keep-draws ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("executor", [[], ["--jobs", "2"], ["--dask", "local", "--jobs", "2"]],
                         ids=["serial", "jobs", "dask"])
def test_keep_draws_saves_each_ok_cell_and_no_failed_one(tmp_path, crash_method, executor, capsys):
    suite_path = _suite(tmp_path, ("laplace", "emcee", "test-formats-crash"))
    args = ["run", str(suite_path), "--out", str(tmp_path / "out"), "--keep-draws", "--no-progress"]
    assert cli.main(args + executor) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    df = vibench.load(run_dir)
    files = sorted(p.name for p in (run_dir / "draws").iterdir())
    ok = df[df["status"] == "ok"]
    assert len(files) == len(ok) == 4 and not any("crash" in f for f in files)
    assert all(df.loc[df["status"] == "error", "info"].map(lambda i: "draws_file" not in i))
    for _, row in ok.iterrows():
        cell = Cell.make(row["task"], row["params"], row["method"], vibench.Budget(**row["budget"]), row["seed"])
        path = run_dir / row["info"]["draws_file"]
        assert path.name in files and path.name.endswith(f"-{cell.key}.nc")
        idata = az.from_netcdf(path)
        attrs = idata.posterior.attrs
        assert attrs["vibench_key"] == cell.key and attrs["vibench_method"] == cell.method
        x = idata.posterior["x"].values
        if cell.method == "emcee":  # the very draws the sampler returned (it is deterministic given the seed)
            task = vibench.get_task(cell.task, **cell.params_dict)
            fit_rng, _ = cell.rngs()
            np.testing.assert_array_equal(x, vibench.get_method("emcee").fit(task, cell.budget, fit_rng).samples)
        else:
            assert x.shape == (1, 1000, cell.params_dict["dim"])


def test_keep_draws_is_refused_by_an_executor_that_cannot(tmp_path):
    class _Remote(Executor):
        def run(self, cells, timeout=None):
            raise AssertionError("should not run")

    with pytest.raises(VibenchError, match="--keep-draws is not supported with the _Remote"):
        run_suite(load_suite(str(_suite(tmp_path))), _Remote(), out=tmp_path, keep_draws=True)
    assert SerialExecutor.can_keep_draws and ProcessExecutor.can_keep_draws


# --- references as InferenceData NetCDF -----------------------------------------------------------------------

def _reference(chains=2, per_chain=50, dim=3):
    rng = np.random.default_rng(5)
    draws = rng.standard_normal((chains * per_chain, dim)) * [1.0, 2.0, 0.5]
    cov = np.cov(draws, rowvar=False)
    provenance = {"method": "test", "settings": {"chains": chains, "draws": 1000}, "seed": 7,
                  "coordinates": ["a", "b[0]", "b[1]"][:dim], "ess_bulk": [900.0] * dim, "rhat_max": 1.001}
    return reference_store.Reference(mean=draws.mean(0) + 0.01, sd=np.sqrt(np.diag(cov)), cov=cov,
                                     mean_se=np.full(dim, 0.02), sd_se=np.full(dim, 0.01), draws=draws,
                                     provenance=provenance)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(reference_store.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "references"


def _same(truth, ref):
    for key in ("mean", "sd", "cov", "mean_se", "sd_se", "draws"):
        np.testing.assert_array_equal(getattr(truth, key), getattr(ref, key))


def test_a_reference_round_trips_through_netcdf(cache):
    ref = _reference()
    path = reference_store.save(ref, "task-dim=3-abc-def")
    assert path == cache / "task-dim=3-abc-def.nc" and sorted(p.name for p in cache.iterdir()) == [path.name]
    truth = reference_store.load("task-dim=3-abc-def")
    assert truth.kind == "reference"
    _same(truth, ref)
    assert truth.provenance == {**ref.provenance, "path": str(path)}
    # an ordinary ArviZ file: chains and draws, named coordinates, the moments and provenance beside them
    idata = az.from_netcdf(path)
    x = idata.posterior["x"]
    assert x.dims == ("chain", "draw", "coordinate") and x.shape == (2, 50, 3)
    assert list(x["coordinate"].values) == ["a", "b[0]", "b[1]"]
    np.testing.assert_array_equal(x.values[1], ref.draws[50:])
    np.testing.assert_array_equal(idata.reference_moments["cov"].values, ref.cov)
    assert json.loads(idata.posterior.attrs["vibench_provenance"])["seed"] == 7
    assert az.summary(idata, kind="diagnostics").shape[0] == 3
    assert reference_store.load("some-other-stem") is None


def test_an_old_npz_reference_is_still_read_and_a_new_nc_wins(cache):
    ref = _reference()
    cache.mkdir(parents=True)
    np.savez_compressed(cache / "old.npz", **{k: getattr(ref, k) for k in ("mean", "sd", "cov", "mean_se", "sd_se",
                                                                          "draws")})
    (cache / "old.json").write_text(json.dumps(ref.provenance))
    old = reference_store.load("old")
    _same(old, ref)
    assert old.provenance["path"] == str(cache / "old.npz") and old.provenance["seed"] == 7
    newer = reference_store.Reference(**{**ref.__dict__, "mean": ref.mean + 1.0})
    reference_store.save(newer, "old")
    np.testing.assert_array_equal(reference_store.load("old").mean, ref.mean + 1.0)


def test_an_unreadable_reference_is_skipped_with_a_warning(cache):
    cache.mkdir(parents=True)
    (cache / "broken.nc").write_text("not netcdf")
    with pytest.warns(UserWarning, match="ignoring unreadable reference"):
        assert reference_store.load("broken") is None


def test_draws_by_chain_keeps_chain_order_or_falls_back_to_one_chain():
    flat = np.arange(24.0).reshape(12, 2)
    assert reference_store.draws_by_chain(flat, {"chains": 3})[1, 0].tolist() == [8.0, 9.0]
    assert reference_store.draws_by_chain(flat, {"settings": {"chains": 5}}).shape == (1, 12, 2)
    assert reference_store.draws_by_chain(flat, {}).shape == (1, 12, 2)


# --- vibench truth's table ------------------------------------------------------------------------------------

def test_an_exact_truth_has_mean_and_sd_only():
    truth = vibench.get_task("gaussian", dim=30, rho=0.9).truth
    df = truth_summary(truth)
    assert list(df.columns) == ["mean", "sd"] and df.attrs["kind"] == "exact" and len(df) == 30
    np.testing.assert_array_equal(df["mean"].to_numpy(), truth.mean)
    np.testing.assert_array_equal(df["sd"].to_numpy(), truth.sd)
    text = format_truth_summary(df)
    assert "exact" in text.splitlines()[0] and text.splitlines()[-1].strip() == "... 10 more"
    assert len(text.splitlines()) == 1 + 1 + 20 + 1  # note, header, 20 rows, "... more"


def test_a_reference_truth_has_arviz_diagnostics_of_its_stored_draws():
    from vibench.scoring.diagnostics import chain_stats

    ref = _reference(chains=4, per_chain=200, dim=3)
    truth = ref.truth()
    df = truth_summary(truth)
    assert list(df.columns) == ["mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]
    assert list(df.index) == ["a", "b[0]", "b[1]"] and df.attrs == {"kind": "reference", "chains": 4, "draws": 200}
    stats = chain_stats(ref.draws.reshape(4, 200, 3))
    np.testing.assert_allclose(df["ess_bulk"], stats.ess_bulk)
    np.testing.assert_allclose(df["r_hat"], stats.rhat)
    np.testing.assert_array_equal(df["mean"], ref.mean)  # the truth's own moments and MCSEs
    np.testing.assert_array_equal(df["mcse_mean"], ref.mean_se)
    expected = az.summary(az.from_dict(posterior={"x": ref.draws.reshape(4, 200, 3)}), kind="diagnostics")
    np.testing.assert_allclose(df["ess_tail"], expected["ess_tail"], rtol=0.01)
    assert "... " not in format_truth_summary(df) and "ESS and R-hat of its 4 x 200" in format_truth_summary(df)


def test_vibench_truth_prints_the_table_and_keeps_the_provenance(capsys):
    assert cli.main(["truth", "logistic_regression"]) == 0  # the shipped reference: no sampling
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("logistic_regression(") and "reference truth, dim 5" in lines[0]
    header = next(line for line in lines if line.strip().startswith("coordinate"))
    assert header.split() == ["coordinate", "mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]
    beta0 = next(line for line in lines if line.strip().startswith("beta[0]")).split()
    truth = vibench.get_task("logistic_regression").truth
    assert float(beta0[1]) == pytest.approx(truth.mean[0], rel=1e-3) and float(beta0[5]) > 1000
    assert "  method: PyMC NUTS reference run" in lines and any(line.startswith("  path: ") for line in lines)
    assert cli.main(["truth", "gaussian", "dim=25"]) == 0
    out = capsys.readouterr().out
    assert "exact" in out and "... 5 more" in out and "mcse" not in out
