"""What each ``vibench`` command does (the CLI parses, this module acts and prints)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .errors import VibenchError

__all__ = ["cmd_run", "cmd_list", "cmd_show", "cmd_plugins", "cmd_report", "cmd_truth"]


def _progress(total_todo: int, enabled: bool):
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread writing to stderr while a cell's output is captured

    return tqdm(total=total_todo, unit="cell", disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} cells [{elapsed}<{remaining}] {postfix}")


def cmd_run(args) -> int:
    """``vibench run SUITE``: run, store, print the table."""
    from .executors import check_timeout, make_executor
    from .session import run_suite
    from .store import load
    from .suite import load_suite
    from .table import format_summary

    suite = load_suite(args.suite).filtered(args.tasks, args.methods)
    if args.seed is not None:
        if args.seed < 0:
            raise VibenchError(f"--seed must be >= 0, got {args.seed}")
        suite.seeds = [args.seed]
    check_timeout(args.timeout, "--timeout")
    if args.resume and not Path(args.resume).is_dir():
        raise VibenchError(f"--resume: {args.resume!r} is not a run directory")
    if args.retry_failed and not args.resume:
        raise VibenchError("--retry-failed needs --resume RUN_DIR")
    timeout = args.timeout if args.timeout is not None else suite.timeout
    executor = make_executor(jobs=args.jobs, dask=args.dask, timeout=timeout, debug=args.debug)
    bar = None
    started = time.perf_counter()

    def on_start(run_dir, n_total, n_todo):
        nonlocal bar
        print(f"vibench: {suite.name}: {n_todo} of {n_total} cells to run -> {run_dir}", file=sys.stderr)
        bar = _progress(n_todo, enabled=not args.no_progress)

    def on_cell_start(cell):
        if bar is not None:
            bar.set_postfix_str(f"running {cell}", refresh=True)

    def on_row(row):
        if row["status"] in ("error", "timeout"):
            bar.write(f"vibench: {row['task']}({row['size']}) {row['method']}: {row['status']}: {row['error']}",
                      file=sys.stderr)
        bar.update(1)

    executor.on_cell_start = on_cell_start

    try:
        run_dir = run_suite(suite, executor, out=args.out, resume=args.resume, timeout=timeout,
                            on_start=on_start, on_row=on_row, retry_failed=args.retry_failed)
    finally:
        if bar is not None:
            bar.close()
    print(format_summary(load(run_dir)))
    print(f"\n{run_dir}  ({time.perf_counter() - started:.1f} s)")
    _print_answer(run_dir)
    return 0


def _print_answer(run_dir) -> None:
    from .answer import answer_text

    print(answer_text(run_dir))


def cmd_list(args) -> int:
    """``vibench list tasks|methods|suites``."""
    if args.what == "suites":
        from .suite import builtin_suites, load_suite

        for name in builtin_suites():
            suite = load_suite(name)
            print(f"{name:12s} {len(suite.cells()):5d} cells  {suite.description}")
        return 0
    import inspect

    from .registry import get_registry, method_attr

    registry = get_registry()
    if args.what == "methods":
        for name, method in sorted(registry.methods.items()):
            print(f"{name:22s} {str(method_attr(method, 'family') or '?'):10s} steps = {method_attr(method, 'steps_meaning')}")
    else:
        for name, factory in sorted(registry.tasks.items()):
            try:
                params = ", ".join(f"{p.name}={p.default!r}" for p in inspect.signature(factory).parameters.values())
            except (TypeError, ValueError):
                params = "(parameters unknown)"
            print(f"{name:22s} {params}")
    return 0


def cmd_show(args) -> int:
    """``vibench show RUN_DIR``: the summary table of a stored run."""
    from .store import load, read_run_json
    from .table import format_summary

    meta = read_run_json(Path(args.run_dir))
    df = load(args.run_dir)
    suite = (meta.get("suite") or {}).get("name", "?")
    print(f"{args.run_dir}: suite {suite}, {len(df)} of {meta.get('n_cells', '?')} cells, "
          f"started {meta.get('started')}, ended {meta.get('ended') or '(unfinished)'}")
    print(format_summary(df))
    _print_answer(args.run_dir)
    return 0


def cmd_report(args) -> int:
    """``vibench report RUN_DIR``: print the answer, write the plots and ``RUN_DIR/report/report.html``."""
    from .analysis import levels_of
    from .answer import answer_text
    from .report import build_report
    from .scoring.levels import parse_levels
    from .store import read_run_json

    read_run_json(Path(args.run_dir))  # one clear error for a wrong directory, before any work
    levels = None
    if args.thresholds:
        try:
            kl = [float(t) for t in args.thresholds]
            levels = [lv for lv in levels_of(args.run_dir) if lv.metric != "kl"] + [
                lv for lv in parse_levels(kl) if lv.metric == "kl"]
        except ValueError:
            raise VibenchError(f"--thresholds must be numbers > 0, got {','.join(args.thresholds)!r}") from None
    print(answer_text(args.run_dir, levels))
    print(f"\nreport: {build_report(args.run_dir, levels)}")
    return 0


def cmd_plugins(args) -> int:
    """``vibench plugins``: each plugin, its distribution, what it registered, load failures."""
    from .registry import get_registry

    plugins = list(get_registry().plugins.values())
    width = max(len(f"{p.distribution} {p.version}") for p in plugins) + 2
    for info in plugins:
        what = ", ".join([f"methods: {' '.join(info.methods)}"] * bool(info.methods)
                         + [f"tasks: {' '.join(info.tasks)}"] * bool(info.tasks)) or "(nothing)"
        dist = f"{info.distribution} {info.version}".strip()
        line = f"{info.name:16s} {dist:{width}s} {what}"
        if info.error:
            line += f"  FAILED TO LOAD: {info.error}"
        print(line)
    return 0


def _param(text: str) -> tuple[str, object]:
    """``k=v`` -> ``(k, v)`` with ``v`` an int, float, bool or string, as in a suite file."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise VibenchError(f"size parameters are written k=v, got {text!r}")
    for convert in (int, float):
        try:
            return key, convert(value)
        except ValueError:
            pass
    return key, {"true": True, "false": False}.get(value.lower(), value)


def _truth_text(task) -> str:
    """The truth of ``task``: kind, per-coordinate mean and sd (with MCSE), provenance, file."""
    truth, prov = task.truth, dict(task.truth.provenance)
    names = prov.pop("coordinates", None) or [f"x[{i}]" for i in range(truth.dim)]
    lines = [f"{task.label}: {truth.kind} truth, dim {truth.dim}"
             + (f", log Z = {truth.log_evidence:.6g}" if truth.log_evidence is not None else "")]
    se = truth.mean_se is not None and truth.sd_se is not None
    lines.append(f"  {'coordinate':16s} {'mean':>11s} {'(mcse)':>9s} {'sd':>10s} {'(mcse)':>9s}" if se
                 else f"  {'coordinate':16s} {'mean':>11s} {'sd':>10s}")
    for i in range(min(truth.dim, 50)):
        cells = [f"{truth.mean[i]:11.4g}", f"({truth.mean_se[i]:.2g})".rjust(9)] if se else [f"{truth.mean[i]:11.4g}"]
        cells += [f"{truth.sd[i]:10.4g}"] + ([f"({truth.sd_se[i]:.2g})".rjust(9)] if se else [])
        lines.append(f"  {names[i]:16s} " + " ".join(cells))
    if truth.dim > 50:
        lines.append(f"  ... {truth.dim - 50} more")
    for key in ("method", "command", "settings", "versions", "seconds", "divergences", "rhat_max",
                "ess_bulk_min", "ess_tail_min", "bfmi_min", "grid", "path"):
        if key in prov:
            value = prov[key]
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            value = f"{value:.4g}" if isinstance(value, float) else value
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def _check_text(truth, ref) -> tuple[str, bool]:
    """z-scores of a fresh NUTS reference against ``truth``, and whether they agree."""
    import numpy as np
    from scipy.stats import norm

    from .reference import compare

    z = compare(truth, ref)
    worst = max(np.max(np.abs(z["z_mean"])), np.max(np.abs(z["z_sd"])))
    bound = float(norm.isf(1e-3 / (4 * truth.dim)))  # two-sided, Bonferroni over 2 dim tests, level 1e-3
    prov = ref.provenance
    verdict = "agree" if worst <= bound else "DISAGREE"
    return (f"check: NUTS reference ({prov['settings']['chains']} x {prov['settings']['draws']} draws, "
            f"min ESS {prov['ess_bulk_min']:.0f}, {prov['seconds']:.1f} s): max |z| of means "
            f"{np.max(np.abs(z['z_mean'])):.2f}, of sds {np.max(np.abs(z['z_sd'])):.2f} "
            f"(in MCSEs; Bonferroni bound {bound:.2f}): truth and reference {verdict}"), worst <= bound


def cmd_truth(args) -> int:
    """``vibench truth TASK [k=v ...] [--refresh] [--check]``: a task's truth and where it came from.

    With ``--check``, exit code 1 when the truth and a fresh NUTS reference disagree.
    """
    from . import reference
    from .registry import get_registry

    params = dict(_param(text) for text in args.params)
    with reference.using(refresh=args.refresh or None):
        task = get_registry().get_task(args.task, **params)
    print(_truth_text(task))
    if args.check:
        if task.truth.kind == "reference":
            raise VibenchError(f"{task.label}: --check compares a truth with a NUTS reference; this truth is one")
        text, agree = _check_text(task.truth, reference.task_reference(task))
        print(text)
        return 0 if agree else 1
    return 0
