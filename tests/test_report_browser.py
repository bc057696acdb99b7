"""report.html in a real browser: headless Chromium renders it offline, with no console errors.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it when
missing). Without it the test is skipped, except in CI (``CI=true``), where
it fails. Each check runs Chromium once with the network cut off
(``--host-resolver-rules``): ``--dump-dom`` for what rendered (the page
copies every JavaScript error, console error and console warning into hidden
``#errors`` / ``#warnings`` elements, and counts the charts vega-embed
rendered), ``--screenshot`` for what a reader sees.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from vibench.cli import main
from vibench.columns import METRIC_KEYS
from vibench.report import VERDICT_COLORS, build_report

SUITE = """
    name = "browsertiny"
    seeds = [0, 1]
    thresholds = { moments = [0.1], dist = [0.1, 0.2], kl = [0.1, 1.0] }
    [[tasks]]
    name = "gaussian"
    dim = [2, 5]
    rho = 0.9
    [[methods]]
    name = "laplace"
    budgets = [500]
    [[methods]]
    name = "meanfield"
    budgets = [1000]
    [[methods]]
    name = "emcee"
    budgets = [300, 3000]
"""

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
         "--virtual-time-budget=30000"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed: .ci/run installs it (apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def _browse(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    cmd = [_chromium(), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args,
           page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """The report of a real run (3 methods, 2 sizes, 2 seeds), one cell of which timed out."""
    _chromium()
    tmp = tmp_path_factory.mktemp("browser")
    suite = tmp / "browsertiny.toml"
    suite.write_text(textwrap.dedent(SUITE))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", str(suite), "--out", str(tmp / "res"), "--no-progress"]) == 0
    (run_dir,) = (tmp / "res").iterdir()
    cells = run_dir / "cells.jsonl"
    rows = [json.loads(line) for line in cells.read_text().splitlines()]
    for r in rows:  # a timeout, as the executors record one: no measurement, the wall time of the kill
        if r["method"] == "emcee" and r["dim"] == 5 and r["budget"]["steps"] == 300:
            r.update({k: None for k in METRIC_KEYS + ("fit_s", "setup_s", "total_s", "n_logp", "n_grad")})
            r.update(status="timeout", error="cell exceeded the 60 s timeout; worker process killed", wall_s=60.0)
    cells.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return build_report(run_dir)


def _console_errors(stderr: str) -> list[str]:
    """Chromium's own log of the page's console: lines that report a JavaScript error."""
    return [ln for ln in stderr.splitlines() if "CONSOLE" in ln and re.search(r"error|uncaught", ln, re.I)]


def _hidden(dom: str, ident: str) -> list[str]:
    m = re.search(rf'<div id="{ident}">(.*?)</div>', dom, re.S)
    assert m, f"#{ident} is missing"
    return re.findall(r"<p>(.*?)</p>", m.group(1), re.S)


def test_page_renders_offline_without_errors(page, tmp_path):
    proc = _browse(page, tmp_path, "--dump-dom")
    dom = proc.stdout
    assert _hidden(dom, "errors") == []
    assert _hidden(dom, "warnings") == []
    assert _console_errors(proc.stderr) == []
    body = re.search(r"<body([^>]*)>", dom).group(1)
    n = int(re.search(r'data-charts="(\d+)"', body).group(1))
    assert n == 3  # accuracy vs cost, KL vs cost, scaling
    assert f'data-charts-rendered="{n}"' in body and 'data-charts-failed="0"' in body
    # every chart drew a non-empty SVG (a Vega layout bug can render at width 0 without any error)
    sizes = re.findall(r'<div class="chart[^"]*" id="([^"]+)"[^>]*>\s*<svg[^>]*width="(\d+)" height="(\d+)"', dom)
    assert len(sizes) == n and all(int(w) > 300 and int(h) > 100 for _, w, h in sizes), sizes
    # the verdict table: a row per task x size, coloured cells naming the winner with its factor and range
    table = re.search(r'<table class="sortable verdicts" id="verdicts-time">(.*?)</table>', dom, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    assert len(rows) == 2
    assert all(re.search(r"background: ?(#[0-9a-fA-F]{6}|rgb)", row) for row in rows)
    assert "<b>laplace</b>" in table
    # the timed-out cell is in the chart data with its reason, and in the problems table
    assert "cell exceeded the 60 s timeout" in dom


def test_screenshot_shows_the_verdict_table_first(page, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    _browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,900")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 900)
    # the first screen shows the verdict table: cells in the optimization colour, above the fold
    colour = tuple(int(VERDICT_COLORS["optimization"][i:i + 2], 16) for i in (1, 3, 5))
    pixels = image.getdata()
    assert sum(1 for p in pixels if p == colour) > 5000
    assert len(set(image.crop((0, 0, 1280, 200)).getdata())) > 20  # text, not a blank page


SORT_PROBE = """
<script>
(function () {
  var out = [];
  var table = document.getElementById("verdicts-time");
  function col() { return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[2].textContent; }); }
  var th = table.tHead.rows[0].cells[2];           // dim
  th.click(); out.push(col().join(","));
  th.click(); out.push(col().join(","));
  document.querySelector("input[name=by][value=evals]").click();
  out.push(document.querySelector("[data-by=time]").hidden + "," + document.querySelector("[data-by=evals]").hidden);
  var p = document.createElement("pre"); p.id = "probe"; p.textContent = out.join("|"); document.body.appendChild(p);
})();
</script>
"""


def test_tables_sort_and_the_cost_toggles(page, tmp_path):
    """Clicks, in the browser: a header sorts both ways; the cost toggle swaps the tables (a probe script on a copy)."""
    probe = tmp_path / "probe.html"
    head, tail = page.read_text(encoding="utf-8").rsplit("</body>", 1)  # the last one: the bundle has its own
    probe.write_text(head + SORT_PROBE + "</body>" + tail, encoding="utf-8")
    dom = _browse(probe, tmp_path, "--dump-dom").stdout
    assert _hidden(dom, "errors") == []
    result = re.search(r'<pre id="probe">(.*?)</pre>', dom).group(1).split("|")
    assert result == ["2,5", "5,2", "true,false"]
