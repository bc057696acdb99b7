"""Time and peak memory of ``chain_stats``: ArviZ's R-hat, ESS and MCSE of every coordinate of a chain.

Run ``python suites/bench_chain_stats.py`` (emcee's shape at d = 1000: 2,002
walkers x 12 stored steps, random walks, about 15 s) or ``--shape 4,1000,100``
(chains, draws, dim). It prints the seconds of one ``chain_stats`` call and the
process's peak RSS before and after it (``ru_maxrss``: the draws themselves
are in the "before"). One BLAS thread. This is a script, never a timed test.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Measure one ``chain_stats`` call on random-walk chains of the given shape."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="2002,12,1000", help="chains,draws,dim (default emcee's at d = 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        chains, draws, dim = (int(v) for v in args.shape.split(","))
        if min(chains, draws, dim) < 1:
            raise ValueError
    except ValueError:
        print(f"bench_chain_stats: --shape wants three positive integers chains,draws,dim, got {args.shape!r}",
              file=sys.stderr)
        return 2
    import numpy as np

    from vibench.scoring.diagnostics import chain_stats

    samples = np.random.default_rng(args.seed).normal(size=(chains, draws, dim)).cumsum(axis=1)
    chain_stats(samples[:2, :, :2])  # first-use imports (arviz_stats) outside the timing
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    stats = chain_stats(samples)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores; 1 BLAS thread")
    print(f"chain_stats of {chains} x {draws} x {dim}: {seconds:.2f} s, peak RSS {before:,.0f} -> {after:,.0f} MB; "
          f"R-hat max {stats.rhat_max:.3g}, bulk ESS min {np.nanmin(stats.ess_bulk):,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
