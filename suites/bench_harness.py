"""Harness performance: what the harness costs beside the methods' own time, and the --jobs speed-up.

Run ``python suites/bench_harness.py`` (smoke in one process, then the
``cpubound`` suite with ``--jobs 1`` and ``--jobs 2``: about 8 minutes on 2 idle
cores). ``--methods laplace,meanfield,fullrank,cavi,emcee`` runs smoke without
the PyMC methods (about 1 minute), ``--suite`` another suite, ``--no-speedup``
skips the ``cpubound`` part. It prints

1. for ``vibench run SUITE`` in a fresh interpreter, as a user runs it, from
   start to exit: the methods' own time (sum of ``fit_s``) and set-up (sum of
   ``setup_s``: compiling, first-use imports; the method's, not the harness's),
   and the **harness overhead, start-up included**: the run's wall time minus
   both, as a share of the methods' own time (issue 12's target: <= 5 % on
   smoke). It is split into the work inside the cells (sum of ``wall_s -
   fit_s - setup_s``: scoring against the truth, the sum of ``score_s``, and
   building the task where its cells run) and outside them (the wall time minus the sum of ``wall_s``),
   of which the start-up (a fresh interpreter importing vibench and the
   plugins and warming up, timed apart) and the end of the run (the summary
   table and the answer, timed apart on the run's rows); the rest is reading
   the suite, checking the cells, storing the rows and the Parquet copy. The
   overhead less scoring, what the harness costs beside the methods and the
   measurement itself, is the line issue 12's 5 % target applies to. The last
   line times apart the import of ``arviz_stats.base``, the diagnostics
   library only scoring uses: a run imports it on its first scoring, so it is
   inside that cell's ``score_s``;
2. the wall time of the ``cpubound`` suite with ``--jobs 1`` and ``--jobs 2``
   and the speed-up.

The run goes through the command line (``python -m vibench.cli``); the
machine's load is printed with the figures, since a loaded machine inflates
every one of them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: A fresh interpreter doing what every run does before its first cell (imports, plugins, warm-up); it then
#: prints the seconds of importing the scoring's diagnostics library (``arviz_stats.base``, the ArviZ functions
#: the yardstick calls), which a run pays inside its first cell's scoring, so the run's ``score_s`` holds it.
STARTUP = ("import time; from vibench.cli import build_parser; from vibench import commands, session, executors; "
           "from vibench.runner import warm_up; warm_up(); "
           "t = time.perf_counter(); from arviz_stats.base import array_stats; print(time.perf_counter() - t)")


def run(suite: str, *extra: str, keep: str | None = None) -> tuple[float, list[dict], Path | None]:
    """Run ``vibench run SUITE`` in a subprocess; its wall time, its rows and (with ``keep``) its run directory."""
    out = keep or tempfile.mkdtemp(prefix="vibench-bench-")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vibench.cli", "run", suite, "--out", out, "--no-progress", *extra],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    (cells,) = Path(out).glob("*/cells.jsonl")
    rows = [json.loads(line) for line in cells.read_text().splitlines()]
    return wall, rows, cells.parent


def _startup() -> tuple[float, float]:
    """A fresh interpreter's start-up, start to exit, and the seconds of the ``arviz_stats.base`` import after it."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", STARTUP], check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, float(out.split()[0])


def end_of_run(run_dir: Path) -> float:
    """Seconds for what ``vibench run`` does after the last cell: the summary table and the answer."""
    from vibench.answer import answer_text
    from vibench.store import load
    from vibench.table import format_summary

    start = time.perf_counter()
    format_summary(load(run_dir))
    answer_text(run_dir)
    return time.perf_counter() - start


def overhead(suite: str, extra: list[str]) -> dict:
    """Run ``suite`` once and account for its wall time (see the module docstring); print and return the figures."""
    with tempfile.TemporaryDirectory(prefix="vibench-bench-") as out:
        wall, rows, run_dir = run(suite, *extra, keep=out)
        tail = end_of_run(run_dir)
    startup, library = _startup()
    startup -= library  # the run pays that import in its first scoring, not in its start-up
    fit = sum(r["fit_s"] or 0.0 for r in rows)
    setup = sum(r["setup_s"] or 0.0 for r in rows)
    score = sum(r.get("score_s") or 0.0 for r in rows)
    cells = sum(r["wall_s"] or 0.0 for r in rows)
    inside = cells - fit - setup
    outside = wall - cells
    harness = wall - fit - setup

    def share(x: float) -> str:
        return f"{100 * x / fit:5.1f}% of methods' time" if fit > 0 else "n/a"

    label = " ".join([suite, *extra])
    print(f"vibench run {label}: {len(rows)} cells, run wall {wall:.1f} s (a fresh process, start to exit)")
    print(f"  methods' own time (sum of fit_s)            {fit:7.1f} s")
    print(f"  methods' set-up (sum of setup_s)            {setup:7.1f} s   (compiling, first-use imports)")
    print(f"  harness overhead, start-up included         {harness:7.1f} s   {share(harness)}")
    print(f"    in the cells: task builds, scoring        {inside:7.1f} s   {share(inside)}")
    print(f"      scoring (sum of score_s)                {score:7.1f} s   {share(score)}")
    print(f"      task builds, the rest                   {inside - score:7.1f} s   {share(inside - score)}")
    print(f"    outside the cells                         {outside:7.1f} s   {share(outside)}")
    print(f"      start-up (imports, plugins, warm-up)    {startup:7.1f} s   (timed apart)")
    print(f"      end of run (table and answer)           {tail:7.1f} s   (timed apart)")
    print(f"      rest (suite, checks, storing rows)      {outside - startup - tail:7.1f} s")
    print(f"  harness overhead less scoring (target 5 %)  {harness - score:7.1f} s   {share(harness - score)}")
    print(f"  scoring's first-use import of arviz_stats   {library:7.1f} s   (timed apart; in the first cell's score_s)")
    return {"cells": len(rows), "wall": wall, "fit": fit, "setup": setup, "harness": harness, "inside": inside,
            "score": score, "outside": outside, "startup": startup, "library": library, "end_of_run": tail}


def speedup() -> None:
    """Print the ``cpubound`` suite's wall time with one and two worker processes."""
    t1, _, _ = run("cpubound", "--jobs", "1")
    t2, _, _ = run("cpubound", "--jobs", "2")
    print(f"cpubound: --jobs 1 {t1:.1f} s, --jobs 2 {t2:.1f} s, speed-up {t1 / t2:.2f}x")


def main(argv: list[str] | None = None) -> None:
    """Print the measurements (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="smoke", help="the suite whose overhead to measure (default: smoke)")
    parser.add_argument("--methods", help="comma-separated methods to keep (vibench run --methods)")
    parser.add_argument("--tasks", help="comma-separated tasks to keep (vibench run --tasks)")
    parser.add_argument("--no-speedup", action="store_true", help="skip the cpubound --jobs speed-up")
    args = parser.parse_args(argv)
    extra = [*(["--methods", args.methods] if args.methods else []), *(["--tasks", args.tasks] if args.tasks else [])]
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    overhead(args.suite, extra)
    if not args.no_speedup:
        speedup()


if __name__ == "__main__":
    main()
