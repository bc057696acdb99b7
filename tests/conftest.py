"""Shared fixtures: an isolated registry per test that asks for one, and a tiny suite file."""

from __future__ import annotations

import textwrap

import pytest

from vibench.registry import reset_registry


@pytest.fixture
def fresh_registry():
    """Forget the process-wide registry before and after the test."""
    reset_registry()
    yield
    reset_registry()


@pytest.fixture
def tiny_suite(tmp_path):
    """A two-cell suite file (laplace on two small Gaussians)."""
    path = tmp_path / "tiny.toml"
    path.write_text(textwrap.dedent("""
        name = "tiny"
        seeds = [0]
        [[tasks]]
        name = "gaussian"
        dim = [2, 3]
        rho = 0.5
        [[methods]]
        name = "laplace"
        budgets = [50]
    """))
    return path
