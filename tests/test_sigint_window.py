"""A real Ctrl-C stops a serial run wherever it lands, also in a cell's set-up (not only inside fit).

Seen in CI under load: a SIGINT that arrived while ``run_cell`` was capturing output, before the
method's guard was in place, became an error row, and the run went on to a 120 s cell.
"""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from vibench import runner
from vibench.cell import Cell
from vibench.isolation import _INTERRUPTED, marking_sigint
from vibench.method import Budget


@contextlib.contextmanager
def _sigint_on_entry(output, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)  # delivered here, before _guarded installs its own handler
    yield


@pytest.fixture(autouse=True)
def python_sigint():
    """Python's own SIGINT handler for the test, even in a background job (which starts with SIGINT ignored)."""
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, saved)


def _cell():
    return Cell.make("gaussian", {"dim": 2, "rho": 0.5}, "laplace", Budget(10), 0)


def test_a_sigint_in_a_cells_setup_stops_a_marked_run(monkeypatch):
    monkeypatch.setattr(runner, "_captured", _sigint_on_entry)
    with marking_sigint(), pytest.raises(KeyboardInterrupt):
        runner.run_cell(_cell())
    assert _INTERRUPTED.is_set()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_methods_own_keyboardinterrupt_is_still_an_error_row(monkeypatch):
    @contextlib.contextmanager
    def raising(output, *args, **kwargs):
        raise KeyboardInterrupt  # not a signal: a misbehaving method or library
        yield

    monkeypatch.setattr(runner, "_captured", raising)
    with marking_sigint():
        row = runner.run_cell(_cell())
    assert row["status"] == "error" and "KeyboardInterrupt" in row["error"]
