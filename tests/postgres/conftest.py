"""Fixtures and helpers shared by the PostgreSQL tests: a fresh database, a migrations folder, a query."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtools.settings import Settings
from tests.conftest import Servers, fresh_settings, run_query


@pytest.fixture
def pg(servers: Servers) -> Settings:
    """A new database on the session's PostgreSQL server."""
    return fresh_settings(servers, "postgres", create=True)


@pytest.fixture
def mdir(tmp_path: Path) -> Path:
    """A migrations root with an empty `postgres/` folder."""
    (tmp_path / "postgres").mkdir()
    return tmp_path


def query(settings: Settings, sql: str) -> list[tuple]:
    """The rows of one statement, on a connection of its own."""
    return run_query("postgres", settings, sql)
