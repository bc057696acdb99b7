"""Check each posteriordb translation by NUTS: PyMC's moments against posteriordb's reference, within MCSE.

::

    python suites/check_posteriordb.py [--tasks a,b] [--chains 4] [--draws 1000] [--seed 0]

For every ``posteriordb:`` task (the shipped ones, or those of ``$VIBENCH_POSTERIORDB``),
``pm.sample`` runs on the task's PyMC model (``chains`` x ``draws`` after as many
tuning steps, one core) and, per unconstrained coordinate, the mean and the sd
are compared to the reference's: ``z = (nuts - ref) / sqrt(se_nuts^2 + se_ref^2)``
with both MCSEs from ArviZ; a posterior passes when every ``|z|`` is below the
Bonferroni bound at level 0.01 over its ``2 dim`` tests. One line per posterior
is printed as it finishes (max ``|z|`` of means and sds, divergences, R-hat, seconds).
The score-identity test of the same translations is ``tests/test_posteriordb.py``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy.stats import norm


def check(name: str, chains: int, draws: int, seed: int) -> dict:
    """Sample one task's PyMC model with NUTS and compare its moments to the reference truth.

    Parameters
    ----------
    name : str
        A ``posteriordb:`` task name.
    chains, draws, seed : int
        ``pm.sample`` settings (``tune = draws``).

    Returns
    -------
    dict
        ``z_mean``, ``z_sd`` (arrays), ``passed``, ``divergences``, ``rhat_max``, ``seconds``.
    """
    from vibench.pymc_bridge import import_pymc, pytensor_mode, quiet_pymc
    from vibench.tasks.posteriordb import make_task
    from vibench.tasks.posteriordb.unconstrained import mcse

    pm = import_pymc()
    import arviz as az

    task = make_task(name)
    model = task.pymc_model()
    started = time.perf_counter()
    with quiet_pymc():
        trace = pm.sample(draws=draws, tune=draws, chains=chains, cores=1, random_seed=seed, model=model,
                          progressbar=False, compute_convergence_checks=False, return_inferencedata=False,
                          compile_kwargs={"mode": pytensor_mode()})
    seconds = time.perf_counter() - started
    values = [np.stack(trace.get_values(v.name, combine=False)) for v in model.value_vars]
    samples = np.concatenate([v.reshape(v.shape[:2] + (-1,)) for v in values], axis=-1)
    mean_se, sd_se = mcse(samples)
    flat = samples.reshape(-1, samples.shape[-1])
    truth = task.truth
    z_mean = (flat.mean(axis=0) - truth.mean) / np.hypot(mean_se, truth.mean_se)
    z_sd = (flat.std(axis=0, ddof=1) - truth.sd) / np.hypot(sd_se, truth.sd_se)
    bound = norm.isf(0.01 / (2 * 2 * task.dim))
    rhat = np.atleast_1d(az.rhat(az.convert_to_dataset({"x": samples}))["x"].values)
    return {"z_mean": z_mean, "z_sd": z_sd, "bound": bound,
            "passed": bool(np.all(np.abs(z_mean) < bound) and np.all(np.abs(z_sd) < bound)),
            "divergences": int(np.sum(trace.get_sampler_stats("diverging", combine=False))),
            "rhat_max": float(np.max(rhat)), "seconds": seconds, "dim": task.dim}


def main(argv: list[str] | None = None) -> int:
    """Run :func:`check` on every (or the chosen) posteriordb task; exit 1 if any fails."""
    from vibench.tasks.posteriordb import task_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="", help="comma-separated posteriordb: task names (default: all)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.tasks.split(",") if n.strip()] or task_names()
    print(f"{'posterior':58s} {'dim':>3s} {'max|z| mean':>11s} {'max|z| sd':>9s} {'bound':>5s} "
          f"{'div':>4s} {'rhat':>6s} {'sec':>6s}  verdict", flush=True)
    failed = []
    for name in names:
        try:
            r = check(name, args.chains, args.draws, args.seed)
        except Exception as exc:  # report and go on
            print(f"{name:58s} error: {type(exc).__name__}: {exc}", flush=True)
            failed.append(name)
            continue
        verdict = "ok" if r["passed"] else "DIFFERS"
        if not r["passed"]:
            failed.append(name)
        print(f"{name:58s} {r['dim']:3d} {np.max(np.abs(r['z_mean'])):11.2f} {np.max(np.abs(r['z_sd'])):9.2f} "
              f"{r['bound']:5.2f} {r['divergences']:4d} {r['rhat_max']:6.3f} {r['seconds']:6.1f}  {verdict}",
              flush=True)
    print(f"{len(names) - len(failed)} of {len(names)} agree with their reference"
          + (f"; differ or failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
