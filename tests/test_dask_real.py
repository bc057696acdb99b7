"""A real Dask cluster (a ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1) that loses a worker.

One worker is SIGKILLed mid-run and another joins: the run finishes, every
cell has exactly one row, no cell is an innocent timeout, and the workers
that came later run cells too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import distributed  # noqa: F401  (dask[distributed] is a dependency: fail, never skip)

import vibench  # noqa: E402
from vibench.cell import Cell  # noqa: E402
from vibench.registry import reset_registry  # noqa: E402

HERE = Path(__file__).resolve().parent
N_CELLS = 16
SLEEP_S = 2  # each cell sleeps, so the test costs wall time, not CPU


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args, env, log):
    return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    env = dict(os.environ, VIBENCH_PLUGINS="fault_plugin",
               PYTHONPATH=os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("VIBENCH_PLUGINS", "fault_plugin")
    monkeypatch.syspath_prepend(str(HERE))
    reset_registry()
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "w")
    procs = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
                     "--no-dashboard"], env, log)]
    worker = ["distributed.cli.dask_worker", address, "--nthreads", "1", "--host", "127.0.0.1",
              "--no-dashboard", "--death-timeout", "60"]
    procs.append(_start([*worker, "--nworkers", "2"], env, log))
    client = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                client = client or distributed.Client(address, timeout=2)
                if len(client.scheduler_info()["workers"]) == 2:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the Dask cluster did not start: " + (tmp_path / "dask.log").read_text()[-2000:])
        yield address, client, lambda: procs.append(_start(worker, env, log))
    finally:
        if client is not None:
            client.close()
        for proc in reversed(procs):
            _stop(proc)
        log.close()
        reset_registry()


def test_a_sigkilled_worker_loses_no_cell_and_new_workers_take_work(cluster):
    from vibench.dask_executor import DaskExecutor

    address, client, add_worker = cluster
    cells = [Cell.make("gaussian", {"dim": 2, "rho": 0.5}, "fault-sleep", vibench.Budget(SLEEP_S), seed)
             for seed in range(N_CELLS)]
    ex = DaskExecutor(address)
    assert ex.jobs == 2
    rows, killed = [], None
    start = time.monotonic()
    try:
        for row in ex.run(cells, timeout=30):
            rows.append(row)
            if len(rows) == 3 and killed is None:
                busy = client.processing()  # worker address -> keys it is running
                victim = next(addr for addr, keys in busy.items() if keys)
                killed = client.run(os.getpid, workers=[victim])[victim]
                os.kill(killed, signal.SIGKILL)
                add_worker()
    finally:
        ex.close()
    assert time.monotonic() - start < 120
    assert killed is not None
    assert sorted(r["key"] for r in rows) == sorted(c.key for c in cells), "every cell exactly one row"
    assert [r["status"] for r in rows] == ["ok"] * N_CELLS, [(r["status"], r["error"]) for r in rows]
    used = {r["info"]["dask_worker"] for r in rows}
    assert len(used) >= 3, f"the restarted or the added worker took no cell: {used}"
