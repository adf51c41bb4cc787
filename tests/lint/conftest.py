"""Helpers: write migrations into a throwaway folder and lint it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from dbtools.backends.postgres.squawk import binary
from dbtools.lint import Finding, lint

Write = Callable[[str, str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """write(store, file name, text) -> path; text is dedented, so tests can indent it."""

    def _write(store: str, name: str, text: str) -> Path:
        folder = tmp_path / store
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return _write


@pytest.fixture
def run_lint(tmp_path: Path) -> Callable[[str], list[Finding]]:
    return lambda store: lint(store, tmp_path)


@pytest.fixture
def needs_squawk() -> None:
    if binary() is None:
        pytest.skip("squawk is not installed here (pip install squawk-cli)")


def rules(findings: list[Finding], name: str | None = None) -> list[str]:
    """Rule ids found, optionally only those in the file called `name`."""
    return [f.rule for f in findings if name is None or Path(f.path).name == name]


def at(findings: list[Finding], rule: str) -> list[tuple[str, int]]:
    """(file name, line) of each finding of `rule`."""
    return [(Path(f.path).name, f.line) for f in findings if f.rule == rule]
