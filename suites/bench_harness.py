"""Harness performance: overhead on the smoke suite, and the --jobs speed-up.

Run ``python suites/bench_harness.py`` (about 3 minutes on 2 cores). It prints

1. for ``vibench run smoke`` in one process: the methods' own time (sum of
   ``fit_s``), the evaluation time (sum of ``wall_s - fit_s``: scoring against
   the truth), and the orchestration overhead (the run's wall time minus the
   sum of the cells' ``wall_s``: suite parsing, task checks, storing rows,
   progress), each as a share of the methods' time;
2. the wall time of the ``cpubound`` suite with ``--jobs 1`` and ``--jobs 2``
   and the speed-up.

Both go through the command line in a fresh interpreter, as a user runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(suite: str, *extra: str) -> tuple[float, list[dict]]:
    """Run ``vibench run SUITE`` in a subprocess; return its wall time and rows."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vibench.cli", "run", suite, "--out", out, "--no-progress", *extra],
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        (cells,) = Path(out).glob("*/cells.jsonl")
        rows = [json.loads(line) for line in cells.read_text().splitlines()]
    return wall, rows


def main() -> None:
    """Print the two measurements."""
    wall, rows = run("smoke")
    fit = sum(r["fit_s"] or 0.0 for r in rows)
    cells = sum(r["wall_s"] or 0.0 for r in rows)
    print(f"smoke: {len(rows)} cells, run wall {wall:.1f} s, methods' own time {fit:.1f} s")
    print(f"  evaluation against the truth  {cells - fit:6.1f} s  ({100 * (cells - fit) / fit:.1f}% of methods' time)")
    print(f"  orchestration (incl. startup) {wall - cells:6.1f} s  ({100 * (wall - cells) / fit:.1f}% of methods' time)")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from vibench.runner import warm_up; warm_up()"], check=True)
    startup = time.perf_counter() - start
    print(f"  of which one-time start-up     {startup:6.1f} s  (interpreter, imports incl. ArviZ, plugin registry)")
    per_cell = (cells - fit) + (wall - cells - startup)
    print(f"  per-cell harness work         {per_cell:6.1f} s  ({100 * per_cell / fit:.1f}% of methods' time)")
    t1, _ = run("cpubound", "--jobs", "1")
    t2, _ = run("cpubound", "--jobs", "2")
    print(f"cpubound: --jobs 1 {t1:.1f} s, --jobs 2 {t2:.1f} s, speed-up {t1 / t2:.2f}x")


if __name__ == "__main__":
    main()
