"""Fixtures of the CLI tests: a migrations folder of two PostgreSQL migrations (test_cli.py has its own, of one)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def mdir(tmp_path: Path) -> Path:
    """A migrations root whose `postgres/` holds 001_users and 002_orders, each with a down section."""
    (tmp_path / "postgres").mkdir()
    for version, table in ((1, "users"), (2, "orders")):
        (tmp_path / "postgres" / f"00{version}_{table}.sql").write_text(
            f"-- migrate:up\nCREATE TABLE {table} (id int);\n-- migrate:down\nDROP TABLE {table};\n"
        )
    return tmp_path
