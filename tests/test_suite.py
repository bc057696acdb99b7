"""Suite files: the schema, the grid, filters, and one-line errors for bad files."""

from __future__ import annotations

import pytest

from vibench.errors import VibenchError
from vibench.method import Budget
from vibench.suite import builtin_suites, load_suite, parse_suite


def _doc(**over):
    doc = {"tasks": [{"name": "gaussian", "dim": [2, 3], "rho": [0.1, 0.5]}],
           "methods": [{"name": "laplace", "budgets": [10, {"steps": 20, "max_seconds": 1.5}]}],
           "seeds": [0, 1]}
    doc.update(over)
    return doc


def test_grid_is_the_cartesian_product():
    suite = parse_suite(_doc(), "x", "x.toml")
    cells = suite.cells()
    assert len(cells) == 4 * 2 * 2
    assert {c.params_dict["dim"] for c in cells} == {2, 3}
    assert cells[1].budget == Budget(10) and cells[1].seed == 1
    assert Budget(20, 1.5) in {c.budget for c in cells}
    assert len({c.key for c in cells}) == len(cells)


def test_cell_keys_are_stable():
    a = parse_suite(_doc(), "x", "x.toml").cells()
    b = parse_suite(_doc(), "y", "y.toml").cells()
    assert [c.key for c in a] == [c.key for c in b]


@pytest.mark.parametrize("over, message", [
    ({"tasks": []}, r"needs at least one \[\[tasks\]\]"),
    ({"methods": [{"name": "laplace"}]}, "needs a non-empty 'budgets' list"),
    ({"methods": [{"name": "laplace", "budgets": [0]}]}, "budget steps must be >= 1"),
    ({"methods": [{"name": "laplace", "budgets": [{"stepz": 3}]}]}, "unknown key 'stepz'"),
    ({"seeds": ["a"]}, "'seeds' must be integers"),
    ({"timeout": -1}, "'timeout' must be > 0"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"tasks": [{"dim": 3}]}, "needs a string 'name'"),
])
def test_schema_errors(over, message):
    with pytest.raises(VibenchError, match=message):
        parse_suite(_doc(**over), "x", "x.toml")


def test_malformed_toml_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[tasks]\nname = 'gaussian'\n")
    with pytest.raises(VibenchError, match="malformed suite file"):
        load_suite(str(bad))


def test_unknown_suite_lists_builtins():
    with pytest.raises(VibenchError, match="unknown suite 'nope'; choose from: .*smoke"):
        load_suite("nope")


def test_filters():
    suite = parse_suite(_doc(methods=[{"name": "laplace", "budgets": [5]}, {"name": "emcee", "budgets": [5]}]), "x", "x")
    assert {c.method for c in suite.filtered(methods=["emcee"]).cells()} == {"emcee"}
    with pytest.raises(VibenchError, match="has no method 'nope'"):
        suite.filtered(methods=["nope"])


def test_builtin_suites_parse():
    for name in builtin_suites():
        assert load_suite(name).cells()


def test_the_digest_names_the_content_not_the_file_or_the_filters():
    a = parse_suite(_doc(methods=[{"name": "laplace", "budgets": [5]}, {"name": "emcee", "budgets": [5]}]), "x", "a.toml")
    b = parse_suite(_doc(methods=[{"name": "laplace", "budgets": [5]}, {"name": "emcee", "budgets": [5]}]), "x", "b.toml")
    c = parse_suite(_doc(methods=[{"name": "laplace", "budgets": [6]}, {"name": "emcee", "budgets": [5]}]), "x", "a.toml")
    assert a.digest == b.digest != c.digest and len(a.digest) == 16
    assert a.filtered(methods=["emcee"]).digest == a.digest
    assert a.to_dict()["digest"] == a.digest


@pytest.mark.parametrize("over, message", [
    ({"seeds": []}, "'seeds' must be a non-empty list"),
    ({"seeds": [1, 1]}, "repeats a seed"),
    ({"timeout": [5, 6]}, "must be one number"),
    ({"timeout": float("inf")}, "must be finite"),
    ({"tasks": [{"name": "gaussian"}, {"name": "gaussian"}]}, "appears twice"),
    ({"methods": [{"name": "laplace", "budgets": [{"steps": 5, "max_seconds": "x"}]}]}, "max_seconds must be a finite"),
])
def test_more_schema_errors(over, message):
    with pytest.raises(VibenchError, match=message):
        parse_suite(_doc(**over), "x", "x.toml")


def test_a_method_can_be_kept_to_some_of_the_tasks():
    doc = _doc(tasks=[{"name": "gaussian", "dim": [2, 3]}, {"name": "banana"}, {"name": "funnel", "dim": 2}],
               methods=[{"name": "laplace", "budgets": [5]},
                        {"name": "emcee", "budgets": [5, 6], "tasks": ["funnel", "gaussian"]}])
    suite = parse_suite(doc, "x", "x.toml")
    emcee = {(c.task, c.params_dict.get("dim"), c.budget.steps) for c in suite.cells() if c.method == "emcee"}
    assert emcee == {("gaussian", 2, 5), ("gaussian", 2, 6), ("gaussian", 3, 5), ("gaussian", 3, 6),
                     ("funnel", 2, 5), ("funnel", 2, 6)}
    assert len([c for c in suite.cells() if c.method == "laplace"]) == 4 * 2  # 4 task-sizes, 2 seeds
    assert len(suite.cells()) == 8 + 6 * 2
    assert suite.to_dict()["methods"][1]["tasks"] == ["funnel", "gaussian"]
    assert "tasks" not in suite.to_dict()["methods"][0]  # an unrestricted method's digest is what it was
    unrestricted = parse_suite(_doc(tasks=doc["tasks"], methods=[doc["methods"][0], {"name": "emcee", "budgets": [5, 6]}]),
                               "x", "x.toml")
    assert unrestricted.digest != suite.digest
    assert {c.task for c in suite.filtered(tasks=["banana"]).cells()} == {"banana"}
    assert {c.method for c in suite.filtered(tasks=["banana"]).cells()} == {"laplace"}


@pytest.mark.parametrize("tasks, message", [
    (["funel"], "'tasks' names 'funel', which is not one of the suite's \\[\\[tasks\\]\\] .*did you mean 'funnel'"),
    ([], "'tasks' must be a non-empty list"),
    ("funnel", "'tasks' must be a non-empty list"),
    (["funnel", "funnel"], "repeats a task"),
])
def test_method_tasks_errors(tasks, message):
    doc = _doc(tasks=[{"name": "funnel", "dim": 2}], methods=[{"name": "laplace", "budgets": [5], "tasks": tasks}])
    with pytest.raises(VibenchError, match=message):
        parse_suite(doc, "x", "x.toml")
