"""The report built from a real small run: one offline page, verdict first, charts with units, failures shown."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import textwrap
from html.parser import HTMLParser

import pytest

from vibench.cli import main
from vibench.columns import METRIC_KEYS
from vibench.report import VERDICT_COLORS, build_report

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


@pytest.fixture(scope="module")
def page(run):
    """The run's report, built once: its path and its text."""
    path = build_report(run[0])
    return path, path.read_text(encoding="utf-8")


class _Tags(HTMLParser):
    """Collects image sources, script sources, links and ids; checks that every element is closed in order."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}
    RAW = {"script", "style"}

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.srcs, self.hrefs, self.ids = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.ids += [a["id"]] if "id" in a else []
        self.srcs += [a["src"]] if "src" in a and tag != "img" else []
        self.hrefs += [a["href"]] if "href" in a else []
        if tag == "img":
            self.images.append(a["src"])
        elif tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def _specs(text: str) -> dict[str, dict]:
    """The Vega-Lite specs embedded in the page, by chart id."""
    return {m.group(1)[:-5]: json.loads(m.group(2).replace("<\\/", "</")) for m in
            re.finditer(r'<script type="application/json" id="([^"]+)">(.*?)</script>', text, re.S)}


def _walk(spec: dict):
    yield spec
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for sub in spec.get(key, []):
            yield from _walk(sub)


def test_run_ends_with_the_answer(run):
    _, printed = run
    assert "Answer:" in printed
    assert re.search(r"^gaussian dim=2,rho=0.5: moments<=0.1.*: optimization: laplace [0-9.e-]+ s", printed, re.M)
    assert re.search(r"KL \(methods with a density\): <=0.05 laplace", printed)
    assert re.search(r"^At moments<=0.1 \(by time\): optimization wins 2 of 2 task-sizes", printed, re.M)


def test_report_is_one_offline_page_verdict_first(run, page):
    run_dir, _ = run
    path, text = page
    assert path == run_dir / "report" / "report.html"
    pngs = sorted(p.name for p in path.parent.glob("*.png"))
    assert pngs == ["accuracy_vs_time_gaussian.png", "scaling_gaussian.png", "winners.png"]  # the static fallback
    for name in pngs:
        assert (path.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tags = _Tags()
    tags.feed(text)
    tags.close()
    assert tags.stack == [] and sorted(tags.images) == pngs  # every image written is linked, none is missing
    assert text.startswith("<!DOCTYPE html>") and 'charset="utf-8"' in text
    # offline: no script or stylesheet is loaded from anywhere; every link is inside the page (or a PNG beside it)
    assert tags.srcs == []
    assert all(h.startswith("#") for h in tags.hrefs), tags.hrefs
    assert "vegaEmbed" in text and "window.vegaEmbed" in text  # the bundle itself is inline
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", text)
    # verdict first: the summary sentence, then the verdict table, then the contents, then the task sections
    order = [text.index(s) for s in ('id="summary"', 'id="verdicts-time"', 'class="toc"', 'id="task-gaussian"')]
    assert order == sorted(order)
    assert "At moments&lt;=0.1 (by time): optimization wins 2 of 2 task-sizes" in text
    for heading in ("Verdicts", "gaussian", "Crossovers", "Unreliable and failed cells", "Accuracy floors",
                    "All cells"):
        assert re.search(rf'<h2[^>]*>{heading}', text), heading
    assert {"verdicts-time", "verdicts-evals", "task-gaussian", "crossovers", "problems", "floors"} <= set(tags.ids)


def test_verdict_table_cells(page):
    _, text = page
    table = re.search(r'<table class="sortable verdicts" id="verdicts-time">(.*?)</table>', text, re.S).group(1)
    header = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", table)
    assert header[:3] == ["task", "size", "dim"] and header[-1].startswith("unreliable")
    assert [h for h in header if "≤" in h] == ["moments ≤ 0.1", "dist ≤ 0.2", "KL ≤ 0.05", "KL ≤ 0.5"]  # the suite's
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    assert len(rows) == 2  # one per task x size
    for row in rows:
        cells = re.findall(r'<td[^>]* class="v"[^>]*style="background:(#[0-9A-Fa-f]{6})"[^>]*>', row)
        assert cells and set(cells) <= set(VERDICT_COLORS.values())
        assert "<b>laplace</b>" in row
        sorts = re.findall(r'<td data-v="([^"]*)" class="v"', row)
        assert all(float(v) > 0 for v in sorts[:2])  # optimization wins: positive sort keys


def test_charts_have_units_error_bars_and_the_front(page):
    specs = _specs(page[1])
    assert set(specs) == {"acc-gaussian", "kl-gaussian", "scale-gaussian"}
    for name, spec in specs.items():
        titles = [ch.get("title") for s in _walk(spec) for key, ch in (s.get("encoding") or {}).items()
                  if key in ("x", "y") and isinstance(ch, dict) and ch.get("type") == "quantitative"]
        assert titles and all(t and "(" in t for t in titles), (name, titles)  # every axis says its unit
        assert "$schema" not in spec
    acc = list(_walk(specs["acc-gaussian"]))
    marks = [s["mark"]["type"] if isinstance(s.get("mark"), dict) else s.get("mark") for s in acc]
    assert "rule" in marks and "line" in marks  # error bars and the Pareto front
    points = [s for s in acc if s.get("encoding", {}).get("y", {}).get("field") == "dist" and "tooltip" in s["encoding"]]
    values = [r for s in points for r in s["data"]["values"]]
    assert {"laplace", "emcee"} <= {r["method"] for r in values}
    assert any(r["exact"] and r["marker"].startswith("exact") for r in values if r["method"] == "laplace")
    scale = json.dumps(specs["scale-gaussian"])
    assert "slope" in scale and "dimension (log scale)" in scale


def test_failed_cells_are_drawn_with_their_reason(run, tmp_path):
    """A timed-out cell and a cell with one failed seed: in the charts, the verdict table and the problems table."""
    run_dir, _ = run
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    rows = [json.loads(line) for line in (broken / "cells.jsonl").read_text().splitlines()]
    for r in rows:
        if r["method"] == "emcee" and r["dim"] == 5:
            r.update({k: None for k in METRIC_KEYS + ("fit_s", "setup_s", "total_s", "n_logp", "n_grad")})
            r.update(status="timeout", error="cell exceeded the 120 s timeout; worker process killed", wall_s=120.0)
    (broken / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = build_report(broken).read_text(encoding="utf-8")
    acc = list(_walk(_specs(text)["acc-gaussian"]))
    crosses = [s for s in acc if isinstance(s.get("mark"), dict) and s["mark"].get("shape") == "cross"]
    assert len(crosses) == 1
    (fail,) = crosses[0]["data"]["values"]
    assert fail["method"] == "emcee" and "timeout" in fail["error"] and fail["wall_s"] == 120.0
    problems = text[text.index('id="problems"'):text.index('id="floors"')]
    assert "cell exceeded the 120 s timeout" in problems and "failed" in problems
    assert "1 failed" in text  # the verdict table's last column


def test_report_of_a_run_without_finished_cells(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"suite": {"name": "empty"}, "n_cells": 3}))
    path = build_report(tmp_path)
    text = path.read_text()
    assert "no finished cells" in text.lower() and "<img" not in text
    assert "window.vegaEmbed" not in text and len(text) < 100_000  # no charts, so no bundle
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
