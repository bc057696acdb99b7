"""CLI habits (issue 14): -q and -v anywhere, information is not a warning, no banners or empty warnings,
a progress bar that says what runs, ``vibench report`` in two lines, tables that fit the terminal."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings

import pytest

import vibench
from vibench import cli, commands, console, reference
from vibench.cell import Cell
from vibench.cli import build_parser, main
from vibench.runner import run_cell

SUMMARY = "At moments<=0.1 (by time): optimization wins 2 of 2 task-sizes, sampling 0, tie 0, unresolved 0, none 0."


def vibench_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "vibench.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


@pytest.fixture
def run_dir(tiny_suite, tmp_path, capsys):
    assert main(["run", str(tiny_suite), "--out", str(tmp_path / "res"), "--no-progress"]) == 0
    capsys.readouterr()
    (path,) = (tmp_path / "res").iterdir()
    return path


@pytest.mark.parametrize("argv", [["-q", "run", "S"], ["run", "S", "-q"], ["run", "-v", "S"], ["--verbose", "show", "R"],
                                  ["show", "R", "--quiet"], ["report", "R", "-v"]])
def test_quiet_and_verbose_are_accepted_before_or_after_the_command(argv):
    args = build_parser().parse_args(argv)
    assert args.quiet == ("-q" in argv or "--quiet" in argv)
    assert args.verbose == ("-v" in argv or "--verbose" in argv)


def test_quiet_and_verbose_together_is_one_line_and_exit_2(capsys):
    assert main(["list", "suites", "-q", "-v"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip().splitlines() == [
        "vibench: error: -q/--quiet and -v/--verbose cannot be used together"]


def test_quiet_run_prints_only_its_directory_and_the_summary_line(tiny_suite, tmp_path):
    proc = vibench_cli("run", str(tiny_suite), "--out", str(tmp_path / "res"), "-q")  # no --no-progress: -q hides it
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    (path,) = (tmp_path / "res").iterdir()
    assert proc.stdout.splitlines() == [str(path), SUMMARY]


def test_default_run_keeps_the_table_and_the_answer_and_says_what_it_does(tiny_suite, tmp_path, capsys):
    assert main(["run", str(tiny_suite), "--out", str(tmp_path), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "closed-form" in captured.out and "Answer:" in captured.out and SUMMARY in captured.out
    assert "Unreliable cells: none." in captured.out and "\x1b[" not in captured.out  # not a terminal: plain text
    assert captured.err.startswith("vibench: tiny: 2 of 2 cells to run -> ") and "warning" not in captured.err


def test_verbose_after_the_command_prints_a_line_per_cell(tiny_suite, tmp_path, capsys):
    assert main(["run", str(tiny_suite), "--out", str(tmp_path), "--no-progress", "-v"]) == 0
    err = capsys.readouterr().err.splitlines()
    cells = [ln for ln in err if ln.startswith("vibench: ok: gaussian(")]
    assert len(cells) == 2 and "laplace[50] seed=0, fit " in cells[0]


def test_report_prints_the_path_and_one_summary_line(run_dir, capsys):
    path = run_dir / "report" / "report.html"
    assert main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out.splitlines() == [SUMMARY, f"report: {path}"]
    assert main(["report", str(run_dir), "-q"]) == 0
    assert capsys.readouterr().out.splitlines() == [str(path)]
    assert main(["report", str(run_dir), "-v"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Answer:") and "Unreliable cells: none." in out and out.splitlines()[-1] == f"report: {path}"


def test_show_quiet_is_the_summary_line(run_dir, capsys):
    assert main(["-q", "show", str(run_dir)]) == 0
    assert capsys.readouterr().out.splitlines() == [SUMMARY]


def test_computing_a_reference_is_information_not_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(reference.CACHE_ENV, str(tmp_path / "cache"))

    def refuse(*args, **kwargs):
        raise reference.ReferenceRefused("reference refused for the test")

    monkeypatch.setattr(reference, "_run", refuse)
    assert main(["truth", "logistic_regression", "n=30", "dim=2"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("vibench: computing the reference truth of logistic_regression(")
    assert err[-1] == "vibench: error: reference refused for the test" and not [ln for ln in err if "warning" in ln]
    assert main(["truth", "logistic_regression", "n=30", "dim=2", "--refresh", "-q"]) == 2
    assert capsys.readouterr().err.splitlines() == ["vibench: error: reference refused for the test"]


def test_warnings_are_one_line_never_empty_and_banners_are_silenced(capsys):
    console.setup(0)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        cli._one_line_warnings()  # after "always": its banner filter comes first
        warnings.warn("")
        warnings.warn("\n   \n")
        warnings.warn("\nArviZ is undergoing a major refactor to improve flexibility\nSome upcoming changes",
                      FutureWarning)
        warnings.warn("\ntwo\n  lines")
    assert capsys.readouterr().err.splitlines() == ["vibench: warning: two lines"]


def test_information_is_hidden_by_quiet_and_debug_needs_verbose(capsys):
    for verbosity, expected in ((-1, ["vibench: warning: w"]), (0, ["vibench: i", "vibench: warning: w"]),
                                (1, ["vibench: i", "vibench: d", "vibench: warning: w"])):
        console.setup(verbosity)
        console.info("i")
        console.debug("d")
        console.warning("w")
        console.info("")
        assert capsys.readouterr().err.splitlines() == expected
    console.setup(0)


def test_no_arviz_banner_or_empty_warning_in_a_small_run(tiny_suite, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}  # no daily stamp: ArviZ would print its banner today
    proc = vibench_cli("run", str(tiny_suite), "--out", str(tmp_path / "res"), env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [ln.strip() for ln in proc.stderr.replace("\r", "\n").splitlines()]
    assert "ArviZ" not in proc.stderr and "refactor" not in proc.stderr
    assert "vibench: warning:" not in lines and not [ln for ln in lines if ln.startswith("vibench: warning:")]
    assert any("2/2 cells" in ln for ln in lines)  # the bar was drawn (stderr is not a terminal: no redraw thread)


class _Fails(vibench.Method):
    name, family = "test-fails", "laplace"

    def fit(self, task, budget, rng):
        raise RuntimeError("no luck today")


def test_quiet_still_prints_a_failed_cell(fresh_registry, tmp_path, capsys):
    from vibench.registry import get_registry

    get_registry().add_method(_Fails())
    suite = tmp_path / "fails.toml"
    suite.write_text('[[tasks]]\nname = "gaussian"\ndim = 2\n[[methods]]\nname = "test-fails"\nbudgets = [5]\n')
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["vibench: gaussian(dim=2) test-fails: error: RuntimeError: no luck today"]
    assert captured.out.splitlines()[-1].startswith("At ")


class _NoPrepare(vibench.Method):
    name, family = "test-no-prepare", "laplace"

    def fit(self, task, budget, rng):
        return vibench.get_method("laplace").fit(task, budget, rng)


def test_a_serial_cell_reports_its_phases_and_a_broken_listener_is_harmless(fresh_registry):
    from vibench.registry import get_registry

    get_registry().add_method(_NoPrepare())
    seen = []
    cell = Cell.make("gaussian", {"dim": 2}, "laplace", vibench.Budget(steps=20), 0)
    with console.phases(lambda c, phase: seen.append((c, phase))):
        assert run_cell(cell)["status"] == "ok"
    assert seen == [(cell, "building task"), (cell, "compiling"), (cell, "fitting"), (cell, "scoring")]
    seen.clear()
    with console.phases(lambda c, phase: seen.append(phase)):
        run_cell(Cell.make("gaussian", {"dim": 2}, "test-no-prepare", vibench.Budget(steps=20), 0))
    assert seen == ["building task", "fitting", "scoring"]  # nothing to compile

    def broken(c, phase):
        raise RuntimeError("listener bug")

    with console.phases(broken):
        assert run_cell(cell)["status"] == "ok"
    run_cell(cell)  # outside the block: nobody listens
    assert seen == ["building task", "fitting", "scoring"]


def test_the_bar_says_what_runs_and_estimates_the_time_left_only_after_a_fifth(capsys):
    cell = Cell.make("gaussian", {"dim": 2, "rho": 0.5}, "pymc-nuts", vibench.Budget(steps=1000), 0)
    assert commands._doing(cell, "compiling") == "compiling gaussian(dim=2,rho=0.5) for pymc-nuts"
    assert commands._doing(cell, "fitting") == f"fitting {cell}"
    console.setup(0)
    bar = commands._progress(10, enabled=True)
    bar.set_postfix_str(commands._doing(cell, "compiling"))
    assert bar.format_dict["left"] == "" and bar.format_dict["doing"].startswith("compiling gaussian")
    bar.update(1)
    assert bar.format_dict["left"] == ""  # 1 of 10: a rate from one cell says nothing
    bar.update(1)
    assert bar.format_dict["left"].startswith(", ~") and bar.format_dict["left"].endswith(" left")
    bar.close()
    err = capsys.readouterr().err
    assert "2/10 cells" in err and "compiling gaussian(dim=2,rho=0.5) for pymc-nuts" in err


def test_tables_fit_a_narrow_terminal_and_stay_plain_when_piped(run_dir, monkeypatch, capsys):
    assert main(["show", str(run_dir)]) == 0
    plain = capsys.readouterr().out
    assert "kl_estimator" in plain and "\x1b[" not in plain
    monkeypatch.setattr(console, "stdout_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "70")
    assert main(["show", str(run_dir)]) == 0
    fitted = capsys.readouterr().out
    assert max(len(ln) for ln in fitted.splitlines() if str(run_dir) not in ln) <= 70  # a path is not broken
    assert "left out to fit: family, kl_estimator" in fitted and "dist" in fitted and "laplace" in fitted
    assert main(["list", "methods"]) == 0
    assert max(len(ln) for ln in capsys.readouterr().out.splitlines()) <= 70


def test_a_closed_pipe_is_not_a_traceback(monkeypatch, capsys):
    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["list", "suites"]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_reference_runs_show_pymc_progress_only_to_a_person(monkeypatch):
    """``console.interactive()`` (pm.sample's progressbar for a reference truth): a terminal, not -q."""
    import io

    from vibench import console

    class Tty(io.StringIO):
        def isatty(self):
            return True

    saved = dict(console._state)
    try:
        console._state.update(stream=None, verbosity=0)
        assert console.interactive() is False  # no command line: a library call shows nothing
        console._state.update(stream=Tty(), verbosity=0)
        assert console.interactive() is True
        console._state.update(verbosity=-1)
        assert console.interactive() is False  # -q
        console._state.update(stream=io.StringIO(), verbosity=1)
        assert console.interactive() is False  # piped
    finally:
        console._state.clear()
        console._state.update(saved)


def test_the_accuracy_table_fits_the_width_it_is_given(tmp_path, capsys):
    """The answer's last table (one column per method) wraps into blocks at ``width`` (the terminal's)."""
    from vibench.answer import answer_text

    suite = tmp_path / "wide.toml"
    suite.write_text('name = "wide"\nseeds = [0]\n[[tasks]]\nname = "gaussian"\ndim = 2\nrho = 0.5\n'
                     + "".join(f'[[methods]]\nname = "{m}"\nbudgets = [50]\n'
                               for m in ("laplace", "meanfield", "fullrank", "emcee")))
    assert main(["run", str(suite), "--out", str(tmp_path / "res"), "--no-progress"]) == 0
    capsys.readouterr()
    (run,) = (tmp_path / "res").iterdir()

    def table(text):
        return text.split("Accuracy at each method's largest budget")[1].splitlines()[1:]

    assert max(len(ln) for ln in table(answer_text(run))) > 40  # one block, however wide
    narrow = table(answer_text(run, width=40))
    assert max(len(ln) for ln in narrow) <= 40
    assert all(m in "\n".join(narrow) for m in ("laplace", "meanfield", "fullrank", "emcee"))
