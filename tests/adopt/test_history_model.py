"""Every store's history carries `adopted_from`, and histories written before it existed still read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dbtools import backends
from dbtools.plan import AppliedMigration
from dbtools.settings import Settings
from tests.adopt.conftest import cli, pg_env, sql, write
from tests.conftest import Servers, fresh_settings

ROW = AppliedMigration(
    1,
    "a",
    "c" * 64,
    "applied",
    applied_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    applied_by="me@host",
    tool_version="0.1.0",
    adopted_from="dbmate",
)


@pytest.mark.parametrize("store", ["postgres", "redis", "mongodb"])
def test_record_many_keeps_adopted_from(servers: Servers, store: str) -> None:
    backend = backends.load(store)(fresh_settings(servers, store, create=True))
    backend.connect(create_database=True)
    try:
        backend.ensure_history()
        backend.record_many([ROW, ROW._replace(version=2, name="b")])
        rows = backend.history()
    finally:
        backend.close()
    assert [(r.version, r.adopted_from) for r in rows] == [(1, "dbmate"), (2, "dbmate")]


# the table as dbtools created it before `adopt` existed (dbtools/backends/postgres.py before this change)
OLD_PG_HISTORY = """CREATE TABLE migration_history (
    version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
    status text NOT NULL CHECK (status IN ('applied', 'baseline', 'failed', 'running')),
    statements_done integer NOT NULL DEFAULT 0, statements_total integer, progress_checksum text NOT NULL DEFAULT '',
    error text, applied_at timestamptz NOT NULL DEFAULT now(), execution_ms integer NOT NULL DEFAULT 0,
    applied_by text NOT NULL, tool_version text NOT NULL)"""


def test_a_postgres_history_from_before_adopt_reads_and_gains_the_column(pg: Settings, tmp_path: Path) -> None:
    from dbtools.migrations import discover

    migrations = tmp_path / "migrations"
    write(migrations / "postgres", {"001_a.sql": "CREATE TABLE a (x int);\n", "002_b.sql": "CREATE TABLE b (x int);\n"})
    first = discover(migrations / "postgres", "postgres", ("sql",))[0]
    sql(pg, f"{OLD_PG_HISTORY}; CREATE TABLE a (x int)")
    sql(
        pg,
        "INSERT INTO migration_history (version, name, checksum, status, applied_by, tool_version) "
        "VALUES (1, 'a', %s, 'applied', 'me@host', '0.1.0')",
        (first.checksum,),
    )
    status = json.loads(
        cli("--migrations-dir", migrations, "status", "--json", "--db", "postgres", env=pg_env(pg)).stdout
    )
    assert (status["postgres"]["applied"], status["postgres"]["pending"]) == ([1], [2])
    assert cli("--migrations-dir", migrations, "migrate", "--db", "postgres", env=pg_env(pg)).returncode == 0
    assert sql(pg, "SELECT version, adopted_from FROM migration_history ORDER BY version") == [(1, ""), (2, "")]
