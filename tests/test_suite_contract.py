"""The suite contract, pinned exactly: what a suite file loads to (``to_dict``), its digest (the
documented rule, computed here independently), ``filtered``, ``cells``, ``runs_on``, and the exact
one-line errors of ``load_suite`` / ``parse_suite`` for bad input."""

from __future__ import annotations

import datetime
import hashlib
import json
import tomllib

import numpy as np
import pytest

from vibench.cell import Cell
from vibench.errors import VibenchError
from vibench.method import Budget
from vibench.suite import SUITES_DIR, MethodSpec, Suite, TaskSpec, load_suite, parse_suite, suite_digest

TINY = """\
name = "tiny"
description = "a small suite"
seeds = [3, 1]
timeout = 30
thresholds = {moments = [0.2], kl = [0.5]}

[[tasks]]
name = "gaussian"
dim = [2, 3]
rho = 0.5

[tasks.reference]
target_accept = 0.95
draws = 2000

[[tasks]]
name = "banana"

[[methods]]
name = "laplace"
budgets = [10, {steps = 20, max_seconds = 1.5}]

[[methods]]
name = "emcee"
budgets = [5]
tasks = ["banana"]
"""

REF = "draws=2000,target_accept=0.95"
GAUSSIAN = {"name": "gaussian", "sizes": [{"dim": 2, "reference": REF, "rho": 0.5},
                                          {"dim": 3, "reference": REF, "rho": 0.5}]}
BANANA = {"name": "banana", "sizes": [{}]}
LAPLACE = {"name": "laplace", "budgets": [{"steps": 10}, {"steps": 20, "max_seconds": 1.5}]}
EMCEE = {"name": "emcee", "budgets": [{"steps": 5}], "tasks": ["banana"]}


def _rule(d: dict) -> str:
    """The documented digest rule: to_dict minus path/description/digest, canonical JSON, sha256, 16 hex."""
    data = {k: v for k, v in d.items() if k not in ("path", "description", "digest")}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _expected(path: str) -> dict:
    d = {"name": "tiny", "path": path, "description": "a small suite", "seeds": [3, 1], "timeout": 30.0,
         "thresholds": {"moments": [0.2], "dist": [0.1, 0.2], "kl": [0.5]},
         "tasks": [GAUSSIAN, BANANA], "methods": [LAPLACE, EMCEE]}
    d["digest"] = _rule(d)
    return d


def _write(tmp_path, text=TINY, name="tiny.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def tiny(tmp_path):
    p = _write(tmp_path)
    return load_suite(str(p)), str(p)


def test_to_dict_of_a_loaded_suite_is_exactly_the_file(tiny):
    suite, path = tiny
    d = suite.to_dict()
    assert d == _expected(path)
    assert list(d) == ["name", "path", "description", "seeds", "timeout", "thresholds", "tasks", "methods",
                       "digest"]
    assert isinstance(d["timeout"], float) and suite.path == path
    # the canonical JSON this pins, written out: sorted keys, no spaces
    blob = json.dumps({k: v for k, v in d.items() if k not in ("path", "description", "digest")},
                      sort_keys=True, separators=(",", ":"))
    assert blob.startswith('{"methods":[{"budgets":[{"steps":10},{"max_seconds":1.5,"steps":20}],"name":"laplace"}')
    assert '"timeout":30.0' in blob and '"seeds":[3,1]' in blob


def test_digest_is_the_documented_rule_and_a_fixed_value(tiny):
    suite, path = tiny
    blob = ('{"methods":[{"budgets":[{"steps":10},{"max_seconds":1.5,"steps":20}],"name":"laplace"},'
            '{"budgets":[{"steps":5}],"name":"emcee","tasks":["banana"]}],"name":"tiny","seeds":[3,1],'
            '"tasks":[{"name":"gaussian","sizes":[{"dim":2,"reference":"draws=2000,target_accept=0.95","rho":0.5},'
            '{"dim":3,"reference":"draws=2000,target_accept=0.95","rho":0.5}]},{"name":"banana","sizes":[{}]}],'
            '"thresholds":{"dist":[0.1,0.2],"kl":[0.5],"moments":[0.2]},"timeout":30.0}')
    assert hashlib.sha256(blob.encode()).hexdigest()[:16] == "0448696f7f32da25"
    assert suite.digest == _rule(_expected(path)) == "0448696f7f32da25"
    assert suite_digest(suite) == suite.digest  # recomputing on a loaded suite ignores its own digest
    assert suite.to_dict()["digest"] == suite.digest


def test_path_and_description_do_not_change_the_digest(tmp_path, tiny):
    suite, _ = tiny
    other = tmp_path / "sub"
    other.mkdir()
    moved = load_suite(str(_write(other, TINY.replace("a small suite", "something else"), "renamed.toml")))
    assert moved.path != suite.path and moved.description == "something else"
    assert moved.digest == suite.digest
    no_description = load_suite(str(_write(other, TINY.replace('description = "a small suite"\n', ""), "n.toml")))
    assert no_description.description == "" and no_description.digest == suite.digest


@pytest.mark.parametrize("edits", [
    [("seeds = [3, 1]", "seeds = [1, 3]")],
    [("seeds = [3, 1]", "seeds = [3]")],
    [("kl = [0.5]", "kl = [0.6]")],
    [("timeout = 30", "timeout = 31")],
    [("timeout = 30\n", "")],
    [('name = "tiny"', 'name = "tiny2"')],
    [("dim = [2, 3]", "dim = [2, 4]")],
    [("draws = 2000", "draws = 3000")],
    [('name = "banana"', 'name = "funnel"'), ('tasks = ["banana"]', 'tasks = ["funnel"]')],
    [("budgets = [5]", "budgets = [6]")],
    [("max_seconds = 1.5", "max_seconds = 2.5")],
    [('tasks = ["banana"]', 'tasks = ["gaussian"]')],
    [('tasks = ["banana"]\n', "")],
])
def test_content_changes_the_digest(tmp_path, tiny, edits):
    suite, _ = tiny
    text = TINY
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    other = load_suite(str(_write(tmp_path, text, "other.toml")))
    assert other.digest != suite.digest
    assert other.digest == _rule(other.to_dict())


def test_digest_of_a_suite_built_in_code_with_numpy_seeds(tmp_path):
    suite = Suite(name="s", tasks=[TaskSpec("t", ({"dim": 2},))], methods=[MethodSpec("m", (Budget(4),))],
                  seeds=[np.int64(0), np.int64(2)])
    assert [c.seed for c in suite.cells()] == [0, 2]
    blob = '{"methods":[{"budgets":[{"steps":4}],"name":"m"}],"name":"s","seeds":["0","2"],' \
           '"tasks":[{"name":"t","sizes":[{"dim":2}]}],"thresholds":{"dist":[0.1,0.2],"kl":[0.1,1.0],' \
           '"moments":[0.1]},"timeout":null}'
    assert suite_digest(suite) == hashlib.sha256(blob.encode()).hexdigest()[:16]


def test_cells_are_every_combination_in_a_fixed_order(tiny):
    suite, _ = tiny
    g2 = {"dim": 2, "reference": REF, "rho": 0.5}
    g3 = {"dim": 3, "reference": REF, "rho": 0.5}
    b10, b20, b5 = Budget(10), Budget(20, 1.5), Budget(5)
    want = [Cell.make("gaussian", g, "laplace", b, s) for g in (g2, g3) for b in (b10, b20) for s in (3, 1)]
    want += [Cell.make("banana", {}, "laplace", b, s) for b in (b10, b20) for s in (3, 1)]
    want += [Cell.make("banana", {}, "emcee", b5, s) for s in (3, 1)]
    assert suite.cells() == want


def test_runs_on():
    every = MethodSpec("m", (Budget(1),))
    some = MethodSpec("m", (Budget(1),), ("a", "c"))
    assert every.tasks is None and every.runs_on("anything")
    assert some.runs_on("a") and some.runs_on("c")
    assert not some.runs_on("b") and not some.runs_on("")


def test_filtered_keeps_everything_but_the_dropped_tasks_and_methods(tiny):
    suite, path = tiny
    want = _expected(path)
    assert suite.filtered().to_dict() == want
    assert suite.filtered(tasks=None, methods=None).to_dict() == want
    assert suite.filtered(tasks=["gaussian"]).to_dict() == {**want, "tasks": [GAUSSIAN]}
    assert suite.filtered(methods=["emcee"]).to_dict() == {**want, "methods": [EMCEE]}
    both = suite.filtered(tasks=["banana", "gaussian"], methods=["emcee", "laplace"])
    assert both.to_dict() == want
    only = suite.filtered(tasks=["banana"], methods=["emcee"])
    assert only.to_dict() == {**want, "tasks": [BANANA], "methods": [EMCEE]}
    assert only.cells() == [Cell.make("banana", {}, "emcee", Budget(5), s) for s in (3, 1)]
    assert suite.filtered(tasks=["gaussian"], methods=["emcee"]).cells() == []
    assert only.seeds is not suite.seeds


@pytest.mark.parametrize("kw, message", [
    ({"tasks": []}, "--tasks needs at least one task name"),
    ({"methods": []}, "--methods needs at least one method name"),
    ({"tasks": ["gausian"]}, "suite 'tiny' has no task 'gausian'; it has: banana, gaussian; did you mean 'gaussian'?"),
    ({"tasks": ["zzz"]}, "suite 'tiny' has no task 'zzz'; it has: banana, gaussian"),
    ({"methods": ["emce"]}, "suite 'tiny' has no method 'emce'; it has: emcee, laplace; did you mean 'emcee'?"),
    ({"tasks": ["banana"], "methods": ["qqq"]}, "suite 'tiny' has no method 'qqq'; it has: emcee, laplace"),
])
def test_filtered_errors(tiny, kw, message):
    suite, _ = tiny
    with pytest.raises(VibenchError) as info:
        suite.filtered(**kw)
    assert str(info.value) == message


def test_a_builtin_suite_by_name_and_a_file_by_any_name(tmp_path):
    smoke = load_suite("smoke")
    assert smoke.path == str(SUITES_DIR / "smoke.toml") and smoke.name == "smoke"
    other = load_suite(str(_write(tmp_path, TINY.replace('name = "tiny"\n', ""), "my suite.txt")))
    assert other.name == "my suite" and other.path == str(tmp_path / "my suite.txt")
    unnamed = load_suite(str(_write(tmp_path, TINY.replace('name = "tiny"\n', ""), "unnamed.toml")))
    assert unnamed.name == "unnamed"
    empty = load_suite(str(_write(tmp_path, TINY.replace('name = "tiny"', 'name = ""'), "blank.toml")))
    assert empty.name == "blank"


def test_load_errors_are_one_exact_line(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(VibenchError) as info:
        load_suite(str(missing))
    assert str(info.value) == f"cannot read suite file {str(missing)!r}: No such file or directory"
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    with pytest.raises(VibenchError) as info:
        load_suite(str(folder))
    assert str(info.value) == f"cannot read suite file {str(folder)!r}: Is a directory"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'name = "\xff"\n')
    with pytest.raises(VibenchError) as info:
        load_suite(str(binary))
    assert str(info.value) == f"suite file {str(binary)!r} is not UTF-8 text (byte 8)"
    bad = _write(tmp_path, "[[tasks]\nname = 'gaussian'\n", "bad.toml")
    with pytest.raises(tomllib.TOMLDecodeError) as decode:
        tomllib.loads(bad.read_text())
    with pytest.raises(VibenchError) as info:
        load_suite(str(bad))
    assert str(info.value) == f"malformed suite file {str(bad)!r}: {decode.value}"
    schema = _write(tmp_path, TINY.replace("seeds = [3, 1]", "seeds = [1, 1]"), "schema.toml")
    with pytest.raises(VibenchError) as info:
        load_suite(str(schema))
    assert str(info.value) == f"{str(schema)}: 'seeds' repeats a seed: [1, 1]"


def test_unknown_suite_name_is_not_read_as_a_file():
    with pytest.raises(VibenchError) as info:
        load_suite("no-such-suite-xyz")
    assert str(info.value).startswith("unknown suite 'no-such-suite-xyz'; choose from: ")


def _base(**over):
    doc = {"tasks": [{"name": "gaussian", "dim": [2, 3]}], "methods": [{"name": "laplace", "budgets": [10]}]}
    doc.update(over)
    return doc


def _m(**entry):
    return {"methods": [{"name": "laplace", **entry}]}


ALLOWED_REF = ("chains, draws, tune, seed, target_accept, keep, max_rhat, min_ess_bulk, min_ess_tail, "
               "max_divergences, min_bfmi, max_divergence_rate")


@pytest.mark.parametrize("over, message", [
    ({"colour": "red"}, "unknown key 'colour'; allowed: description, methods, name, seeds, tasks, thresholds, timeout"),
    ({"tasks": []}, "needs at least one [[tasks]] entry"),
    ({"tasks": {"name": "g"}}, "needs at least one [[tasks]] entry"),
    ({"methods": []}, "needs at least one [[methods]] entry"),
    ({"timeout": [5, 6]}, "'timeout' must be one number of seconds, got [5, 6]"),
    ({"timeout": "5"}, "'timeout' must be numbers, got '5'"),
    ({"timeout": True}, "'timeout' must be numbers, got True"),
    ({"timeout": float("inf")}, "'timeout' must be finite, got inf"),
    ({"timeout": 0}, "'timeout' must be > 0, got 0"),
    ({"timeout": -1.5}, "'timeout' must be > 0, got -1.5"),
    ({"seeds": 0}, "'seeds' must be a non-empty list of integers, got 0"),
    ({"seeds": []}, "'seeds' must be a non-empty list of integers, got []"),
    ({"seeds": [1.0]}, "'seeds' must be integers, got 1.0"),
    ({"seeds": [True]}, "'seeds' must be integers, got True"),
    ({"seeds": ["a"]}, "'seeds' must be integers, got 'a'"),
    ({"seeds": [0, -1]}, "'seeds' must be >= 0"),
    ({"seeds": [2, 0, 2]}, "'seeds' repeats a seed: [2, 0, 2]"),
    ({"name": 3}, "'name' must be a string, got 3"),
    ({"description": ["d"]}, "'description' must be a string, got ['d']"),
    ({"thresholds": {"klx": [1]}}, "thresholds has unknown metric 'klx'; allowed: moments, dist, kl"),
    ({"thresholds": [0]}, "thresholds.kl must be finite numbers > 0, got 0"),
    ({"thresholds": {"moments": [], "dist": [], "kl": []}}, "thresholds gives no level: keep at least one threshold"),
    ({"tasks": ["gaussian"]}, "each [[tasks]] entry needs a string 'name'"),
    ({"tasks": [{"name": 3}]}, "each [[tasks]] entry needs a string 'name'"),
    ({"tasks": [{"dim": 3}]}, "each [[tasks]] entry needs a string 'name'"),
    ({"tasks": [{"name": "g", "dim": [2, 2]}]}, "task 'g': parameter 'dim' repeats a value: [2, 2]"),
    ({"tasks": [{"name": "g", "dim": [{"a": 1}, {"a": 1}]}]},
     "task 'g': parameter 'dim' repeats a value: [{'a': 1}, {'a': 1}]"),
    ({"tasks": [{"name": "g", "rho": float("nan")}]}, "task 'g': parameter 'rho' must be finite, got nan"),
    ({"tasks": [{"name": "g", "rho": [0.5, float("-inf")]}]},
     "task 'g': parameter 'rho' must be finite, got [0.5, -inf]"),
    ({"tasks": [{"name": "g", "when": datetime.date(1979, 5, 27)}]},  # TOML's 1979-05-27
     "task 'g': parameter 'when' must be a string, number or boolean, got date 1979-05-27"),
    ({"tasks": [{"name": "g", "at": [1, datetime.time(7, 32)]}]},
     "task 'g': parameter 'at' must be a string, number or boolean, got time 07:32:00"),
    ({"tasks": [{"name": "g", "dim": []}]}, "task 'g': parameter 'dim' must be a value or a list of values"),
    ({"tasks": [{"name": "g", "dim": {}}]}, "task 'g': parameter 'dim' must be a value or a list of values"),
    ({"tasks": [{"name": "g", "dim": {"a": 1}}]}, "task 'g': parameter 'dim' must be a value or a list of values"),
    ({"tasks": [{"name": "g", "dim": [2, [3]]}]}, "task 'g': parameter 'dim' must be a value or a list of values"),
    ({"tasks": [{"name": "g", "dim": [2, {"a": 3}]}]},
     "task 'g': parameter 'dim' must be a value or a list of values"),
    ({"tasks": [{"name": "g", "reference": {"bogus": 1}}]},
     f"task 'g': [tasks.reference]: reference: unknown reference setting 'bogus'; allowed: {ALLOWED_REF}"),
    ({"tasks": [{"name": "g", "reference": {"draws": 2.5}}]},
     "task 'g': [tasks.reference]: reference: draws must be an integer, got 2.5"),
    ({"tasks": [{"name": "g", "reference": {"target_accept": 1.5}}]},
     "task 'g': [tasks.reference]: reference target_accept must be in (0, 1), got 1.5"),
    ({"tasks": [{"name": "gaussian"}, {"name": "gaussian"}]},
     "cell gaussian() laplace[10] seed=0 appears twice: a task, method, budget or seed is listed twice"),
    ({"methods": ["laplace"]}, "each [[methods]] entry needs a string 'name'"),
    ({"methods": [{"budgets": [1]}]}, "each [[methods]] entry needs a string 'name'"),
    ({"methods": [{"name": None, "budgets": [1]}]}, "each [[methods]] entry needs a string 'name'"),
    (_m(budgets=[1], colour=1, zeta=2), "method 'laplace': unknown key 'colour' (allowed: name, budgets, tasks)"),
    (_m(budgets=[1], tasks="gaussian"), "method 'laplace': 'tasks' must be a non-empty list of task names, "
                                        "got 'gaussian'"),
    (_m(budgets=[1], tasks=[]), "method 'laplace': 'tasks' must be a non-empty list of task names, got []"),
    (_m(budgets=[1], tasks=["gaussian", 3]),
     "method 'laplace': 'tasks' must be a non-empty list of task names, got ['gaussian', 3]"),
    (_m(budgets=[1], tasks=["gaussian", "gaussian"]),
     "method 'laplace': 'tasks' repeats a task: ['gaussian', 'gaussian']"),
    (_m(budgets=[1], tasks=["gausian"]), "method 'laplace': 'tasks' names 'gausian', which is not one of the "
                                         "suite's [[tasks]] (gaussian); did you mean 'gaussian'?"),
    (_m(budgets=[1], tasks=["zzz"]), "method 'laplace': 'tasks' names 'zzz', which is not one of the "
                                     "suite's [[tasks]] (gaussian)"),
    ({"tasks": [{"name": "gaussian"}, {"name": "banana"}], **_m(budgets=[1], tasks=["gaussian", "banan"])},
     "method 'laplace': 'tasks' names 'banan', which is not one of the suite's [[tasks]] (banana, gaussian); "
     "did you mean 'banana'?"),
    (_m(), "method 'laplace' needs a non-empty 'budgets' list"),
    (_m(budgets=[]), "method 'laplace' needs a non-empty 'budgets' list"),
    (_m(budgets=5), "method 'laplace' needs a non-empty 'budgets' list"),
    (_m(budgets=[{"steps": 5, "max_seconds": "x"}]),
     "method 'laplace': budget max_seconds must be a finite number > 0, got 'x'"),
    (_m(budgets=[{"steps": 5, "max_seconds": True}]),
     "method 'laplace': budget max_seconds must be a finite number > 0, got True"),
    (_m(budgets=[{"steps": 5, "max_seconds": float("inf")}]),
     "method 'laplace': budget max_seconds must be a finite number > 0, got inf"),
    (_m(budgets=[{"steps": 5, "max_seconds": 0}]),
     "method 'laplace': budget max_seconds must be a finite number > 0, got 0"),
    (_m(budgets=[{"steps": 5, "max_seconds": -2}]),
     "method 'laplace': budget max_seconds must be a finite number > 0, got -2"),
    (_m(budgets=[{"stepz": 3}]), "method 'laplace': budget has unknown key 'stepz'; allowed: steps, max_seconds"),
    (_m(budgets=[{"max_seconds": 3}]), "method 'laplace': budget needs 'steps'"),
    (_m(budgets=[0]), "method 'laplace': budget steps must be >= 1, got 0"),
    (_m(budgets=[1.5]), "method 'laplace': budget steps must be an integer, got 1.5"),
    (_m(budgets=["a"]), "method 'laplace': budget steps must be an integer, got 'a'"),
    (_m(budgets=[5, {"steps": 5}]), "method 'laplace' repeats a budget: 5, 5"),
    (_m(budgets=[{"steps": 5, "max_seconds": 1}, {"steps": 5, "max_seconds": 1.0}, 6]),
     "method 'laplace' repeats a budget: 5/1s, 5/1.0s, 6"),
])
def test_parse_errors_are_one_exact_line(over, message):
    with pytest.raises(VibenchError) as info:
        parse_suite(_base(**over), "x", "x.toml")
    assert str(info.value) == "x.toml: " + message


def test_defaults_and_what_is_accepted():
    suite = parse_suite(_base(), "x", "x.toml")
    assert suite.to_dict() == {
        "name": "x", "path": "x.toml", "description": "", "seeds": [0], "timeout": None,
        "thresholds": {"moments": [0.1], "dist": [0.1, 0.2], "kl": [0.1, 1.0]},
        "tasks": [{"name": "gaussian", "sizes": [{"dim": 2}, {"dim": 3}]}],
        "methods": [{"name": "laplace", "budgets": [{"steps": 10}]}],
        "digest": suite.digest}
    assert suite.digest == _rule(suite.to_dict())
    doc = _base(seeds=[0, 5], timeout=0.5, thresholds=[2, 0.5], name="named", description="d",
                tasks=[{"name": "g", "dim": [3, 2], "rho": [0.1, -0.2], "kind": "x", "flag": False,
                        "reference": "draws=100"}],
                methods=[{"name": "laplace", "budgets": [{"steps": 7, "max_seconds": 2}, 8],
                          "tasks": ["g"]}])
    suite = parse_suite(doc, "x", "x.toml")
    assert suite.to_dict() == {
        "name": "named", "path": "x.toml", "description": "d", "seeds": [0, 5], "timeout": 0.5,
        "thresholds": {"moments": [0.1], "dist": [0.1, 0.2], "kl": [0.5, 2.0]},
        "tasks": [{"name": "g", "sizes": [
            {"dim": d, "flag": False, "kind": "x", "reference": "draws=100", "rho": r}
            for d in (3, 2) for r in (0.1, -0.2)]}],
        "methods": [{"name": "laplace", "budgets": [{"steps": 7, "max_seconds": 2}, {"steps": 8}], "tasks": ["g"]}],
        "digest": suite.digest}
    assert [type(s) for s in suite.seeds] == [int, int]
    assert isinstance(suite.timeout, float)
    assert suite.methods[0] == MethodSpec("laplace", (Budget(7, 2), Budget(8)), ("g",))
    assert suite.tasks[0].sizes[0] == {"dim": 3, "flag": False, "kind": "x", "reference": "draws=100", "rho": 0.1}
    assert parse_suite(_base(timeout=7, seeds=[4]), "x", "x.toml").to_dict()["timeout"] == 7.0
    assert parse_suite(_base(tasks=[{"name": "g", "reference": {}}]), "x", "x.toml").tasks[0].sizes == \
        ({"reference": ""},)
