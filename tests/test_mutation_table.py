"""The arithmetic behind the project's mutation scores (suites/mutation_table.py).

docs/mutation.md reports kill percentages per module and area; these tests pin
how a mutmut status is counted, what is left out of the denominator, and which
equivalents are flagged as stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SUITES = Path(__file__).resolve().parent.parent / "suites"
if str(SUITES) not in sys.path:
    sys.path.insert(0, str(SUITES))

from mutation_table import (  # noqa: E402
    MutationError, changed_equivalents, fingerprints, load_equivalents, load_fingerprints, module_of,
    recorded_fingerprints, report, score, tally)

M = "vibench.scoring.kl.x_kl_mc__mutmut_"


def statuses() -> dict[str, str]:
    return {M + "1": "killed", M + "2": "caught by type check", M + "3": "timeout", M + "4": "survived",
            M + "5": "survived", M + "6": "no tests", M + "7": "not checked", M + "8": "segfault", M + "9": "skipped"}


def test_tally_counts_each_status_in_its_column_and_only_surviving_equivalents_as_equivalent():
    c = tally(statuses(), {M + "5": "a reason", M + "1": "stale: it was killed"})
    assert c == {"killed": 2, "timeout": 1, "survived": 1, "no tests": 1, "not run": 1, "other": 1,
                 "equivalent": 1, "total": 9, "skipped": 1}


def test_score_counts_timeouts_as_killed_and_leaves_out_skipped_and_equivalents():
    c = tally(statuses(), {M + "5": "a reason"})
    # (2 killed + 1 timeout) / (9 - 1 skipped - 1 equivalent)
    assert score(c) == pytest.approx(100.0 * 3 / 7)
    assert score(tally({}, {})) is None
    everything_equivalent = tally({M + "4": "survived"}, {M + "4": "why"})
    assert score(everything_equivalent) is None


def test_module_of_strips_the_function_and_the_number():
    assert module_of(M + "12") == "vibench.scoring.kl"
    assert module_of("vibench_vi.meanfield.x_ǁMeanFieldVIǁfit__mutmut_3") == "vibench_vi.meanfield"


def test_report_lists_rows_survivors_and_stale_equivalents(tmp_path):
    found = {"vibench/scoring/kl.py": statuses(),
             "vibench/scoring/gates.py": {"vibench.scoring.gates.x_gate__mutmut_1": "killed"}}
    equivalents = {M + "5": "why", M + "1": "stale", M + "99": "renumbered", "vibench.other.x_f__mutmut_1": "elsewhere"}
    text = report(found, equivalents, [("area scoring", list(found)), ("empty group", [])], tmp_path)
    lines = text.splitlines()
    kl_row = next(line for line in lines if line.startswith("vibench/scoring/kl.py"))
    # killed timeout survived no-tests not-run other equivalent total kill%
    assert kl_row.split()[1:] == ["2", "1", "1", "1", "1", "1", "1", "9", f"{100 * 3 / 7:.1f}"]
    area = next(line for line in lines if line.startswith("area scoring"))
    assert area.split()[-2:] == ["10", f"{100 * 4 / 8:.1f}"]
    assert not any(line.startswith("empty group") for line in lines)
    assert any(line.startswith("overall") for line in lines)
    survivors = text.split("not killed", 1)[1].split("\n\n")[0]
    assert f"{M}4" in survivors and f"{M}5" not in survivors and f"{M}7  [not checked]" in survivors
    stale = text.split("equivalents killed or missing", 1)[1]
    assert f"{M}1  [killed]" in stale and f"{M}99  [missing]" in stale
    assert "vibench.other" not in stale  # a module this run did not mutate says nothing


def test_load_equivalents_wants_names_and_reasons(tmp_path):
    path = tmp_path / "eq.toml"
    assert load_equivalents(path) == {}
    path.write_text(f'"{M}4" = "a reason a reviewer can check"\n')
    assert load_equivalents(path) == {M + "4": "a reason a reviewer can check"}
    for bad in (f'"{M}4" = ""\n', '"not_a_mutant" = "why"\n', f'"{M}4" = 3\n', "= broken"):
        path.write_text(bad)
        with pytest.raises(MutationError, match="eq.toml"):
            load_equivalents(path)


BEFORE = """
def x_f__mutmut_orig(a, b=2):
    return a + b

def x_f__mutmut_1(a, b=2):
    return a - b

def x_f__mutmut_2(a, b=2):
    return a + b * 3

class C:
    def xǁCǁm__mutmut_1(self):
        return None
"""

# the function gained a line: mutmut's mutant 1 is now another mutation, the old "a - b" is mutant 2
AFTER = """
def x_f__mutmut_orig(a, b=2):
    a = abs(a)
    return a + b

def x_f__mutmut_1(a, b=2):
    a = None
    return a + b

def x_f__mutmut_2(a, b=2):
    a = abs(a)
    return a - b   # a comment and spacing do not count

class C:
    def xǁCǁm__mutmut_1(self):
        return None
"""


def test_fingerprints_name_each_mutant_by_module_and_hash_its_arguments_and_body():
    before = fingerprints(BEFORE, "pkg.mod")
    assert sorted(before) == ["pkg.mod.x_f__mutmut_1", "pkg.mod.x_f__mutmut_2", "pkg.mod.xǁCǁm__mutmut_1"]
    assert len(set(before.values())) == 3
    same_body = fingerprints(BEFORE.replace("x_f__mutmut_1", "x_f__mutmut_7"), "pkg.mod")
    assert same_body["pkg.mod.x_f__mutmut_7"] == before["pkg.mod.x_f__mutmut_1"]  # the number is not hashed
    head = "def x_f__mutmut_1(a, b=2):\n"
    documented = fingerprints(BEFORE.replace(head, head + '    """Doc."""\n'), "pkg.mod")
    assert documented == before  # a docstring is not the mutant
    other_default = fingerprints(BEFORE.replace("def x_f__mutmut_1(a, b=2)", "def x_f__mutmut_1(a, b=3)"), "pkg.mod")
    assert other_default["pkg.mod.x_f__mutmut_1"] != before["pkg.mod.x_f__mutmut_1"]  # arguments are


def test_a_renumbered_equivalent_is_reported_and_a_recorded_one_that_stayed_is_not(tmp_path):
    equivalents = {"pkg.mod.x_f__mutmut_1": "a - b: why", "pkg.mod.xǁCǁm__mutmut_1": "why"}
    recorded = recorded_fingerprints({"pkg.old.x_g__mutmut_1": "abc"}, fingerprints(BEFORE, "pkg.mod"), equivalents)
    assert sorted(recorded) == sorted(equivalents)  # only listed equivalents; an unlisted name is dropped
    now = fingerprints(AFTER, "pkg.mod")
    assert changed_equivalents(now, recorded, equivalents) == ["pkg.mod.x_f__mutmut_1"]
    assert changed_equivalents(fingerprints(BEFORE, "pkg.mod"), recorded, equivalents) == []
    assert changed_equivalents(now, {}, equivalents) == []  # nothing recorded: nothing to compare
    found = {"pkg/mod.py": {"pkg.mod.x_f__mutmut_1": "survived", "pkg.mod.xǁCǁm__mutmut_1": "survived"}}
    text = report(found, equivalents, [], tmp_path, changed_equivalents(now, recorded, equivalents))
    assert "pkg.mod.x_f__mutmut_1  [survived]" in text.split("changed since they were listed", 1)[1]
    path = tmp_path / "prints.json"
    assert load_fingerprints(path) == {}
    for bad in ("{", '["a"]', '{"a": 1}'):
        path.write_text(bad)
        with pytest.raises(MutationError, match="prints.json"):
            load_fingerprints(path)
