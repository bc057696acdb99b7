"""What report.html embeds besides its content: the style sheet, the page's two scripts, the Vega bundle.

* ``_CSS``: the whole style sheet (no external font or stylesheet);
* ``_CAPTURE_JS``: runs first, collecting every error and console warning in
  hidden elements (so a headless browser's ``--dump-dom`` shows them);
* ``_PAGE_JS``: runs last: sortable tables, the cost toggle, and rendering
  each chart's inline Vega-Lite spec with vega-embed;
* :func:`vega_javascript`: the vega-embed + Vega-Lite + Vega JavaScript, from
  the ``vl-convert-python`` bundle, inlined so the page works offline.
"""

from __future__ import annotations

import functools

from .errors import VibenchError

__all__ = ["vega_javascript"]

_CSS = """
:root { --border: #d8d8d8; }
body { font-family: system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 1.2em auto;
       max-width: 1280px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.45em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.15em; }
h3 { font-size: 1.0em; margin: 1.2em 0 0.3em; }
.meta { color: #555; font-size: 0.85em; margin-top: 0; }
.summary { font-size: 1.15em; font-weight: 600; margin: 0.6em 0 0.2em; }
.levels { margin: 0 0 0.8em; padding-left: 1.2em; color: #333; font-size: 0.9em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.4em 0 1em; }
th, td { border: 1px solid var(--border); padding: 0.25em 0.5em; text-align: right; vertical-align: top; }
th { background: #f0f0f0; position: relative; }
td.l, th.l { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; padding-right: 1.1em; }
table.sortable th::after { content: "\\2195"; position: absolute; right: 0.25em; color: #aaa; font-size: 0.85em; }
table.sortable th[data-dir="asc"]::after { content: "\\25B2"; color: #333; }
table.sortable th[data-dir="desc"]::after { content: "\\25BC"; color: #333; }
table.verdicts td.v { text-align: left; min-width: 9em; }
table.verdicts td.v b { font-weight: 600; }
td.v .rng, .muted { color: #555; font-size: 0.9em; }
td.v small { color: #444; }
.warn { color: #b35900; font-weight: 700; cursor: help; }
tr.unreliable td { background: #fff8e6; } tr.failed td { background: #fdecea; }
.legend { font-size: 0.82em; margin: 0.3em 0; }
.legend span.sw { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #999;
                  vertical-align: -0.1em; margin: 0 0.25em 0 0.8em; }
.toggle { font-size: 0.85em; margin: 0.3em 0; }
.toggle label { margin-right: 1em; cursor: pointer; }
nav.toc { background: #f8f8f8; border: 1px solid #e4e4e4; padding: 0.4em 1em; font-size: 0.88em; }
nav.toc ol { margin: 0.2em 0; padding-left: 1.4em; columns: 3; }
.chart { margin: 0.3em 0 0.6em; min-height: 40px; }
.note { font-size: 0.82em; color: #444; max-width: 70em; }
details > summary { cursor: pointer; font-size: 0.9em; color: #333; margin: 0.3em 0; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
#errors, #warnings { display: none; }
"""

# Before any other script: every error (and console warning) lands in a hidden element, so a headless
# browser's --dump-dom shows it (tests/test_report_browser.py).
_CAPTURE_JS = """
(function () {
  var log = {errors: [], warnings: []};
  window.__vibench = log;
  function put(kind, text) {
    log[kind].push(String(text));
    var el = document.getElementById(kind);
    if (el) { var p = document.createElement("p"); p.textContent = String(text); el.appendChild(p); }
  }
  window.addEventListener("error", function (e) { put("errors", "error: " + (e.message || e)); });
  window.addEventListener("unhandledrejection", function (e) {
    put("errors", "unhandled rejection: " + ((e.reason && e.reason.message) || e.reason)); });
  var err = console.error, warn = console.warn;
  console.error = function () { put("errors", "console.error: " + Array.prototype.join.call(arguments, " "));
                                return err.apply(console, arguments); };
  console.warn = function () { put("warnings", "console.warn: " + Array.prototype.join.call(arguments, " "));
                               return warn.apply(console, arguments); };
  window.__vibenchFlush = function () {
    ["errors", "warnings"].forEach(function (kind) {
      var el = document.getElementById(kind);
      if (el && !el.childElementCount) { log[kind].forEach(function (t) {
        var p = document.createElement("p"); p.textContent = t; el.appendChild(p); }); }
    });
  };
})();
"""

_PAGE_JS = """
(function () {
  window.__vibenchFlush();
  function key(cell) {
    var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
    if (v === "") return null;
    var n = Number(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }
  function sortBy(table, index, th) {
    var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", dir);
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index]), y = key(b.cells[index]);
      if (x === null || y === null) return (x === null) - (y === null);    // blanks last, either way
      if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;
      var c = x < y ? -1 : x > y ? 1 : 0;
      return dir === "asc" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, i) {
      th.tabIndex = 0;
      th.title = (th.title ? th.title + " - " : "") + "click to sort";
      th.addEventListener("click", function () { sortBy(table, i, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, i, th); });
    });
  });
  document.querySelectorAll("input[name=by]").forEach(function (input) {
    input.addEventListener("change", function () {
      document.querySelectorAll("[data-by]").forEach(function (el) {
        el.hidden = el.getAttribute("data-by") !== input.value; });
    });
  });
  var charts = document.querySelectorAll("div.chart[data-spec]");
  var done = 0, failed = 0;
  function finish() {
    document.body.setAttribute("data-charts", charts.length);
    document.body.setAttribute("data-charts-rendered", done);
    document.body.setAttribute("data-charts-failed", failed);
  }
  finish();
  if (!charts.length) return;
  if (typeof vegaEmbed !== "function") { console.error("vega-embed did not load"); return; }
  charts.forEach(function (el) {
    var spec = JSON.parse(document.getElementById(el.getAttribute("data-spec")).textContent);
    vegaEmbed(el, spec, {actions: false, renderer: "svg", tooltip: {theme: "light"}}).then(function () {
      done += 1; el.setAttribute("data-rendered", "1"); finish();
    }).catch(function (e) { failed += 1; console.error("chart " + el.id + ": " + e); finish(); });
  });
})();
"""


@functools.lru_cache(maxsize=1)
def vega_javascript() -> str:
    """The vega-embed + Vega-Lite + Vega bundle (one script, no imports), for the installed Altair's Vega-Lite."""
    try:
        import altair as alt
        import vl_convert as vlc
    except ImportError as exc:  # both are dependencies; a broken install says which
        raise VibenchError(f"the report needs altair and vl-convert-python: {exc}") from None
    version = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    try:
        return vlc.javascript_bundle(vl_version=version)
    except Exception:  # an Altair newer than the bundle: vl-convert's own newest Vega-Lite
        return vlc.javascript_bundle()
