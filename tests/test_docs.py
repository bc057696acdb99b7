"""docs/plugins.md documents every hook, its arguments, and the conformance kit (datasette's habit)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from vibench import hookspecs, testing

DOC = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text()
HOOKSPECS = [
    fn for name, fn in sorted(vars(hookspecs).items())
    if callable(fn) and getattr(fn, f"{hookspecs.PROJECT}_spec", None) is not None
]


def _arguments(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_hookspecs_are_found():
    assert {fn.__name__ for fn in HOOKSPECS} >= {"vibench_register_methods", "vibench_register_tasks"}


@pytest.mark.parametrize("hook", HOOKSPECS, ids=lambda fn: fn.__name__)
def test_every_hookspec_has_a_section_with_its_arguments(hook):
    heading = re.search(rf"^#+ `{hook.__name__}\((?P<args>[^)]*)\)`$", DOC, re.MULTILINE)
    assert heading, f"docs/plugins.md has no heading for hook {hook.__name__}(...)"
    assert [a.strip() for a in heading["args"].split(",") if a.strip()] == _arguments(hook)
    for argument in _arguments(hook):
        assert f"`{argument}`" in DOC, f"argument {argument!r} of {hook.__name__} is not documented"


@pytest.mark.parametrize("name", ["check_method", "check_task"])
def test_conformance_checks_are_documented_with_their_signature(name):
    fn = getattr(testing, name)
    assert name in testing.__all__
    heading = re.search(rf"^#+ `{name}\((?P<args>[^)]*)\)`$", DOC, re.MULTILINE)
    assert heading, f"docs/plugins.md has no heading for {name}(...)"
    documented = [a.split("=")[0].strip() for a in heading["args"].split(",") if a.strip() not in ("", "*")]
    assert documented == _arguments(fn)


def test_the_contracts_are_sorted_into_mandatory_recommended_optional():
    for contract in ("Method", "Task"):
        section = DOC.split(f"## The {contract} contract", 1)[1].split("\n## ", 1)[0]
        positions = [section.find(f"### {level}") for level in ("Mandatory", "Recommended", "Optional")]
        assert -1 not in positions and positions == sorted(positions), contract


def test_the_example_plugin_and_entry_point_group_are_documented():
    assert "[project.entry-points.vibench]" in DOC
    assert "examples/vibench-example-plugin" in DOC
    assert "vibench plugins" in DOC
