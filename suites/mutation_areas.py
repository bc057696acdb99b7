"""What suites/mutation.py mutates, and which tests run against it: the areas of vibench's scientific core.

Each :class:`Area` names repository paths (globs) and the test files that
exercise them; ``UNSELECTED`` are test files in no area on purpose and
``SLOW_TESTS`` the test ids deselected in the workspace. See docs/mutation.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    """Files mutated together (``paths``: globs of repository paths) and the test files that judge them.

    ``name`` labels the area's row in the table; ``core`` areas make the "scoring and truth" row.
    """

    name: str
    paths: tuple[str, ...]
    tests: tuple[str, ...]
    core: bool = False


AREAS = (
    Area("scoring", ("vibench/scoring/*.py",),
         ("tests/test_scoring.py", "tests/test_metrics.py", "tests/test_standard_errors.py", "tests/test_scale.py",
          "tests/test_analysis.py", "tests/test_oracle_run.py", "tests/test_conformance.py",
          "tests/test_killed_survivors.py", "tests/test_verdicts_state.py", "tests/test_distance_frame.py",
          "tests/test_gates_rules.py", "tests/test_kl_forms.py", "tests/test_moments_levels.py",
          "tests/test_evaluate_row.py", "tests/test_scoring_edges.py", "tests/test_khat_tails.py",
          "tests/test_rank_diagnostics.py", "tests/test_shared_draws.py"),
         core=True),
    Area("truth", ("vibench/truth.py", "vibench/banded.py", "vibench/tasks/_gaussian.py", "vibench/tasks/gaussian.py",
                   "vibench/tasks/gmrf.py", "vibench/tasks/linear_regression.py",
                   "vibench/tasks/linear_regression_nig.py", "vibench/tasks/brownian_motion.py",
                   "vibench/tasks/_quadrature.py"),
         ("tests/test_tasks.py", "tests/test_realistic_tasks.py", "tests/test_metrics.py", "tests/test_scale.py",
          "tests/test_scoring.py", "tests/test_density.py", "tests/test_fullrank_start.py",
          "tests/test_conformance.py", "tests/test_banded.py", "tests/test_gmrf.py",
          "tests/test_nig.py", "tests/test_task_factories.py", "tests/test_truth_contracts.py", "tests/test_quadrature.py"), core=True),
    Area("analysis", ("vibench/analysis.py",),
         ("tests/test_analysis.py", "tests/test_oracle_run.py", "tests/test_report.py", "tests/test_analysis_verdicts.py",
          "tests/test_analysis_floors.py", "tests/test_analysis_cells.py", "tests/test_analysis_ranking.py",
          "tests/test_analysis_columns.py")),
    Area("vi", ("plugins/vibench_vi/*.py",),
         ("tests/test_vi.py", "tests/test_vi_contract.py", "tests/test_fullrank_start.py", "tests/test_scale.py", "tests/test_conformance.py",
          "tests/test_killed_survivors.py", "tests/test_meanfield_steps.py", "tests/test_fullrank_contract.py", "tests/test_vi_pieces.py")),
    Area("laplace", ("plugins/vibench_laplace/*.py",),
         ("tests/test_laplace_emcee.py", "tests/test_scale.py", "tests/test_conformance.py",
          "tests/test_killed_survivors.py", "tests/test_laplace_contract.py")),
    Area("cavi", ("plugins/vibench_cavi/*.py",), ("tests/test_cavi.py", "tests/test_conformance.py")),
    Area("store", ("vibench/store.py", "vibench/session.py", "vibench/suite.py"),
         ("tests/test_store.py", "tests/test_suite.py", "tests/test_runner.py", "tests/test_formats.py",
          "tests/test_cli.py", "tests/test_bad_input.py", "tests/test_oracle_run.py",
          "tests/test_killed_survivors.py", "tests/test_session.py", "tests/test_session_contract.py",
          "tests/test_store_contract.py", "tests/test_suite_contract.py")),
)

#: Test files in no area on purpose: slow, a browser, Dask, PyMC, subprocesses (whose calls mutmut cannot
#: trace), or no mutated code. A test file in neither list is reported at the start of a run.
UNSELECTED = ("test_asv", "test_bench_scale", "test_byo", "test_cli_habits", "test_dask_real", "test_docs", "test_example_plugin",
              "test_executors", "test_faults", "test_lazy_imports", "test_mutation_table", "test_peers",
              "test_posteriordb", "test_pymc",
              "test_pymc_costs", "test_pymc_initvals", "test_reference", "test_registry", "test_report_browser",
              "test_sigint_window")

#: Regular expressions of test ids deselected in the workspace: seconds to a minute each, too slow to run
#: once per mutant (PyMC compiles, Dask clusters, the banded truths at d = 20 000).
SLOW_TESTS = (
    r"::test_builtin_method_conforms\[pymc-",
    r"::test_builtin_task_conforms\[posteriordb:",
    r"::test_a_broken_method_fails_with_a_clear_message\[.*rejects every task offered",
    r"beyond_the_dense_size",
    r"\[dask\]|dask_address",
)
