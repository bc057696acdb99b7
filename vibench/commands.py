"""What each ``vibench`` command does (the CLI parses, this module acts and prints)."""

from __future__ import annotations

import time
from pathlib import Path

from . import console
from .errors import VibenchError

__all__ = ["cmd_run", "cmd_list", "cmd_show", "cmd_plugins", "cmd_report", "cmd_truth"]


#: The bar estimates the time left only once this share of the cells is done: cells differ in cost by orders of
#: magnitude (a Laplace fit takes milliseconds, a PyMC NUTS cell a minute), so an early rate predicts nothing.
ETA_AFTER = 0.2
#: What the bar says a cell is doing, per phase (:func:`vibench.console.phase`); ``running`` is all a worker shows.
_PHASES = {"building task": "building {task}", "compiling": "compiling {task} for {method}",
           "fitting": "fitting {cell}", "scoring": "scoring {cell}", "running": "running {cell}"}


def _doing(cell, phase: str) -> str:
    from .cell import size_label

    task = f"{cell.task}({size_label(cell.params_dict)})"
    return _PHASES.get(phase, phase + " {cell}").format(task=task, method=cell.method, cell=cell)


def _progress(total_todo: int, enabled: bool, tick: bool = True):
    """The run's progress bar: cells done, elapsed time, what runs now, and the time left after ETA_AFTER.

    With ``tick``, a thread redraws it every second on a terminal, so the clock moves during a long cell.
    """
    import threading

    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread writing to stderr while a cell's output is captured

    class Bar(tqdm):
        @property
        def format_dict(self):
            d = super().format_dict
            n, total, elapsed = d["n"], d["total"], d["elapsed"]
            left = ""
            if total and ETA_AFTER * total <= n < total and elapsed > 0:  # the mean rate so far, not tqdm's EMA
                left = f", ~{self.format_interval(elapsed * (total - n) / n)} left"
            return {**d, "left": left, "doing": d.get("postfix") or ""}

        def close(self):
            if getattr(self, "ticking", None) is not None:
                self.ticking.set()
            super().close()

    stream = console.terminal()
    bar = Bar(total=total_todo, unit="cell", disable=not enabled, file=stream, dynamic_ncols=True,
              bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} cells [{elapsed}{left}] {doing}")
    bar.ticking = threading.Event()

    def redraw():
        while not bar.ticking.wait(1.0):
            bar.refresh()

    if enabled and tick and stream.isatty():
        threading.Thread(target=redraw, name="vibench-progress", daemon=True).start()
    return bar


def cmd_run(args) -> int:
    """``vibench run SUITE``: run, store, print the table."""
    from .executors import ProcessExecutor, check_timeout, make_executor
    from .session import run_suite
    from .store import load
    from .suite import load_suite

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
    quiet = console.verbosity() < 0

    def on_start(run_dir, n_total, n_todo):
        nonlocal bar
        console.info(f"{suite.name}: {n_todo} of {n_total} cells to run -> {run_dir}")
        # no redrawing thread while worker processes are forked: a fork must not copy a lock it holds
        bar = _progress(n_todo, enabled=not (args.no_progress or quiet), tick=not isinstance(executor, ProcessExecutor))
        bar.set_postfix_str("starting", refresh=True)

    def on_phase(cell, phase):  # in this process only: with worker processes a cell is just "running"
        if bar is not None:
            bar.set_postfix_str(_doing(cell, phase), refresh=True)

    def on_row(row):
        if row["status"] in ("error", "timeout"):
            console.write_line(f"vibench: {row['task']}({row['size']}) {row['method']}: {row['status']}: "
                               f"{row['error']}")
        elif console.verbosity() > 0:
            fit = f", fit {row['fit_s']:.3g} s" if isinstance(row.get("fit_s"), (int, float)) else ""
            console.debug(f"{row['status']}: {row['task']}({row['size']}) {row['method']}"
                          f"[{(row.get('budget') or {}).get('steps', '?')}] seed={row['seed']}{fit}")
        bar.update(1)
        if bar.total and bar.n >= bar.total:
            bar.set_postfix_str("done", refresh=True)

    executor.on_cell_start = lambda cell: on_phase(cell, "running")

    try:
        with console.phases(on_phase):
            run_dir = run_suite(suite, executor, out=args.out, resume=args.resume, timeout=timeout,
                                on_start=on_start, on_row=on_row, retry_failed=args.retry_failed,
                                keep_draws=getattr(args, "keep_draws", False))
    finally:
        if bar is not None:
            bar.close()
    if quiet:  # the run directory and the answer's summary line
        print(run_dir)
        print(_summary_line(run_dir))
        return 0
    _print_results(load(run_dir), run_dir, f"\n{run_dir}  ({time.perf_counter() - started:.1f} s)")
    return 0


def _print_results(df, run_dir, between: str | None = None) -> None:
    """The summary table, then ``between`` (if any), then the answer: the run's cells computed once for both."""
    from .analysis import cells, levels_of
    from .answer import answer_text

    c = cells(df)
    _print_summary(df, c)
    if between is not None:
        print(between)
    console.print_text(answer_text(df, levels_of(run_dir), width=console.text_width(), cells=c))


def _summary_line(run_dir, levels=None) -> str:
    """The answer's summary line (``At moments<=0.1 (by time): optimization wins ...``) of a stored run."""
    from .analysis import cells, levels_of, verdicts
    from .answer import summary_line
    from .store import load

    df = load(run_dir)
    return summary_line(verdicts(df, levels or levels_of(run_dir), cells(df)))


#: The summary table's columns left out first when it does not fit the terminal.
_SUMMARY_DROP = ["family", "kl_estimator", "dist_floor", "setup_s", "n_logp", "n_grad", "sd_err", "steps",
                 "mean_err", "kl", "status"]


def _print_summary(df, c=None) -> None:
    """The summary table: rich on a terminal (fits its width), else :func:`~vibench.table.format_summary`'s text."""
    import math

    from .table import format_table, summary

    table = summary(df, c)
    plain = format_table(table)
    if table.empty or not console.stdout_is_terminal():
        print(plain)
        return
    counts = {"steps", "n_grad", "n_logp"}

    def text(column, v):
        if v is None or isinstance(v, float) and math.isnan(v):
            return "-"
        if isinstance(v, float):
            return "~0" if column == "kl" and v < 0 else f"{v:.0f}" if column in counts else f"{v:.3g}"
        return str(v)

    numeric = [c for c in table.columns if table[c].dtype.kind in "iuf"]
    console.print_table(list(table.columns), [[text(c, v) for c, v in r.items()] for r in table.to_dict("records")],
                        plain, right=numeric, drop=_SUMMARY_DROP)


def cmd_list(args) -> int:
    """``vibench list tasks|methods|suites``."""
    if args.what == "suites":
        from .suite import builtin_suites, load_suite

        rows = [(name, len(suite.cells()), suite.description) for name, suite in
                ((name, load_suite(name)) for name in builtin_suites())]
        console.print_table(["suite", "cells", "description"], rows, "\n".join(
            f"{name:12s} {n:5d} cells  {description}" for name, n, description in rows), right=["cells"])
        return 0
    if args.what == "posteriordb":
        return _list_posteriordb()
    import inspect

    from .registry import get_registry, method_attr

    registry = get_registry()
    if args.what == "methods":
        rows = [(name, str(method_attr(method, "family") or "?"), str(method_attr(method, "steps_meaning")))
                for name, method in sorted(registry.methods.items())]
        console.print_table(["method", "family", "steps"], rows, "\n".join(
            f"{name:22s} {family:10s} steps = {steps}" for name, family, steps in rows))
        return 0
    rows = []
    for name, factory in sorted(registry.tasks.items()):
        try:
            params = ", ".join(f"{p.name}={p.default!r}" for p in inspect.signature(factory).parameters.values())
        except (TypeError, ValueError):
            params = "(parameters unknown)"
        rows.append((name, params))
    console.print_table(["task", "parameters (defaults)"], rows,
                        "\n".join(f"{name:22s} {params}" for name, params in rows))
    return 0


def _list_posteriordb() -> int:
    """``vibench list posteriordb``: every posterior of the source, and whether it is a vibench task."""
    from .tasks.posteriordb import available, database_root, task_names

    root = database_root()
    tasks = set(task_names())
    rows = []
    for name, translated in available():
        task = "posteriordb:" + name
        status = "task" if task in tasks else ("no reference draws" if translated else "no translation")
        rows.append((name, status))
    source = f"$VIBENCH_POSTERIORDB = {root}" if root is not None else "the posteriors shipped with vibench"
    console.info(f"{source}: {len(rows)} posteriors, {len(tasks)} of them tasks (posteriordb:<name>)")
    console.print_table(["posterior", "status"], rows, "\n".join(f"{name:58s} {status}" for name, status in rows))
    return 0


def cmd_show(args) -> int:
    """``vibench show RUN_DIR``: the summary table of a stored run."""
    from .store import load, read_run_json

    meta = read_run_json(Path(args.run_dir))
    if console.verbosity() < 0:
        print(_summary_line(args.run_dir))
        return 0
    df = load(args.run_dir)
    suite = (meta.get("suite") or {}).get("name", "?")
    console.print_text(f"{args.run_dir}: suite {suite}, {len(df)} of {meta.get('n_cells', '?')} cells, "
                       f"started {meta.get('started')}, ended {meta.get('ended') or '(unfinished)'}")
    _print_results(df, args.run_dir)
    return 0


def cmd_report(args) -> int:
    """``vibench report RUN_DIR``: write the plots and ``RUN_DIR/report/report.html``; print the answer's summary
    line and the report's path (``-v``: the full answer; ``-q``: the path only)."""
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
    path = build_report(args.run_dir, levels)
    if console.verbosity() < 0:
        print(path)
    elif console.verbosity() > 0:
        console.print_text(answer_text(args.run_dir, levels, width=console.text_width()))
        print(f"\nreport: {path}")
    else:
        print(_summary_line(args.run_dir, levels))
        print(f"report: {path}")
    return 0


def cmd_plugins(args) -> int:
    """``vibench plugins``: each plugin, its distribution, what it registered, load failures."""
    from .registry import get_registry

    plugins = list(get_registry().plugins.values())
    width = max(len(f"{p.distribution} {p.version}") for p in plugins) + 2
    rows, lines = [], []
    for info in plugins:
        what = ", ".join([f"methods: {' '.join(info.methods)}"] * bool(info.methods)
                         + [f"tasks: {' '.join(info.tasks)}"] * bool(info.tasks)) or "(nothing)"
        if info.error:
            what += f"  FAILED TO LOAD: {info.error}"
        dist = f"{info.distribution} {info.version}".strip()
        rows.append((info.name, dist, what))
        lines.append(f"{info.name:16s} {dist:{width}s} {what}")
    console.print_table(["plugin", "distribution", "registered"], rows, "\n".join(lines))
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
    from .truth_summary import format_truth_summary, truth_summary

    truth, prov = task.truth, dict(task.truth.provenance)
    prov.pop("coordinates", None)
    lines = [f"{task.label}: {truth.kind} truth, dim {truth.dim}"
             + (f", log Z = {truth.log_evidence:.6g}" if truth.log_evidence is not None else "")]
    lines.append(format_truth_summary(truth_summary(truth)))
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
