"""The report built from a real small run: the answer is printed, the files exist, the HTML shows every plot."""

from __future__ import annotations

import contextlib
import io
import json
import re
import textwrap
from html.parser import HTMLParser

import pytest

from vibench.cli import main
from vibench.report import build_report

SUITE = """
    name = "reporttiny"
    seeds = [0]
    thresholds = { moments = [0.1], dist = [0.2], kl = [0.05, 0.5] }
    [[tasks]]
    name = "gaussian"
    dim = [2, 5]
    rho = 0.5
    [[methods]]
    name = "laplace"
    budgets = [5, 50]
    [[methods]]
    name = "emcee"
    budgets = [300]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One real run (laplace and emcee on two small Gaussians) and what ``vibench run`` printed."""
    tmp = tmp_path_factory.mktemp("report")
    suite = tmp / "reporttiny.toml"
    suite.write_text(textwrap.dedent(SUITE))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):  # capsys is per test; this fixture is per module
        assert main(["run", str(suite), "--out", str(tmp / "res"), "--no-progress"]) == 0
    (run_dir,) = (tmp / "res").iterdir()
    return run_dir, buf.getvalue()


class _Tags(HTMLParser):
    """Collects image sources and checks that every opened element is closed in order."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.images = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def test_run_ends_with_the_answer(run):
    _, printed = run
    assert "Answer:" in printed
    assert re.search(r"^gaussian dim=2,rho=0.5: moments<=0.1.*: optimization: laplace [0-9.e-]+ s", printed, re.M)
    assert re.search(r"KL \(methods with a density\): <=0.05 laplace", printed)
    assert re.search(r"^At moments<=0.1 \(by time\): optimization wins 2 of 2 task-sizes", printed, re.M)


def test_report_files_and_html(run):
    run_dir, _ = run
    path = build_report(run_dir)
    assert path == run_dir / "report" / "report.html"
    pngs = sorted(p.name for p in path.parent.glob("*.png"))
    assert pngs == ["accuracy_vs_time_gaussian.png", "scaling_gaussian.png", "winners.png"]
    for name in pngs:
        assert (path.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = path.read_text(encoding="utf-8")
    tags = _Tags()
    tags.feed(text)
    tags.close()
    assert tags.stack == [] and sorted(tags.images) == pngs  # every image written is shown, none is missing
    assert text.startswith("<!DOCTYPE html>") and 'charset="utf-8"' in text
    assert "moments&lt;=0.1" in text and "dist&lt;=0.2" in text and "&lt;=0.05 laplace" in text  # the suite's levels
    for heading in ("The answer", "Verdicts", "Crossovers", "Accuracy floors", "All cells"):
        assert f"<h2>{heading}" in text


def test_report_command_prints_the_answer(run, capsys):
    run_dir, _ = run
    assert main(["report", str(run_dir), "--thresholds", "0.01,1"]) == 0
    out = capsys.readouterr().out
    assert "Answer:" in out and "<=0.01 laplace" in out and "<=1 laplace" in out and "Accuracy at each" in out
    assert out.rstrip().endswith(str(run_dir / "report" / "report.html"))


def test_report_of_a_run_without_finished_cells(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"suite": {"name": "empty"}, "n_cells": 3}))
    path = build_report(tmp_path)
    text = path.read_text()
    assert "no finished cells" in text and "<img" not in text
    assert not list(path.parent.glob("*.png"))


@pytest.mark.parametrize("args, message", [
    (["report", "{tmp}"], "is not a vibench run directory"),
    (["report", "{tmp}/nope"], "is not a vibench run directory"),
    (["report", "{run}", "--thresholds", "x"], "--thresholds must be numbers"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, run, capsys):
    args = [a.format(tmp=tmp_path, run=run[0]) for a in args]
    assert main(args) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("vibench: error:") and message in err[0]
