"""Helpers shared by the PostgreSQL tests: a migrations folder, a query (`pg` is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtools.settings import Settings
from tests.conftest import run_query


@pytest.fixture
def mdir(tmp_path: Path) -> Path:
    """A migrations root with an empty `postgres/` folder."""
    (tmp_path / "postgres").mkdir()
    return tmp_path


def query(settings: Settings, sql: str) -> list[tuple]:
    """The rows of one statement, on a connection of its own."""
    return run_query("postgres", settings, sql)
