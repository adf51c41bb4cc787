"""ClickHouse on Debian's 18.16 server (native protocol): a dirty golang-migrate row is refused, and a history
table an older dbtools made still reads and gains `adopted_from` (18.16 has no ADD COLUMN IF NOT EXISTS)."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dbtools.backends.clickhouse import ClickHouseBackend
from dbtools.migrations import discover
from dbtools.settings import Settings
from tests.adopt.conftest import assert_refused, cli, write
from tests.conftest import Servers, fresh_settings


@pytest.fixture
def native(servers: Servers) -> Settings:
    if shutil.which("clickhouse-server") is None:
        pytest.skip("clickhouse-server is not installed (apt-get install clickhouse-server)")
    settings = fresh_settings(servers, "clickhouse")
    backend = ClickHouseBackend(settings)
    backend.connect(create_database=True)
    backend.close()
    return settings


def query(settings: Settings, *statements: str | tuple[str, list[tuple[object, ...]]]) -> list[tuple[object, ...]]:
    """Run statements through clickhouse-driver; an (INSERT ... VALUES, rows) pair sends the rows as data."""
    from clickhouse_driver import Client

    client = Client(settings.host, port=settings.port, database=settings.database, user=settings.user or "default")
    try:
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            if isinstance(statement, tuple):
                client.execute(statement[0], statement[1])
            else:
                rows = client.execute(statement) or []
        return rows
    finally:
        client.disconnect()


def env(settings: Settings) -> dict[str, str]:
    return {"CLICKHOUSE_URL": settings.url}


def test_a_dirty_golang_migrate_row_is_refused(native: Settings, tmp_path: Path) -> None:
    src = write(
        tmp_path / "src",
        {
            "1_a.up.sql": "CREATE TABLE a (x Int64) ENGINE = MergeTree ORDER BY x;\n",
            "2_b.up.sql": "CREATE TABLE b (x Int64) ENGINE = MergeTree ORDER BY x;\n",
        },
    )
    # golang-migrate 18966c755f83de2b250dd8e766bad8b769cd0e25 database/clickhouse/clickhouse.go: its table, and
    # SetVersion's rows around migration 1 (clean) and a failed migration 2 (left dirty)
    n = time.time_ns()
    query(
        native,
        "CREATE TABLE schema_migrations (version Int64, dirty UInt8, sequence UInt64) Engine=TinyLog",
        "CREATE TABLE a (x Int64) ENGINE = MergeTree ORDER BY x",
        ("INSERT INTO schema_migrations VALUES", [(1, 1, n), (1, 0, n + 1), (2, 1, n + 2)]),
    )
    migrations = tmp_path / "migrations"
    cli("--migrations-dir", migrations, "adopt", "--from", "golang-migrate", "--files", src, "--db", "clickhouse")
    done = cli(
        "--migrations-dir", migrations, "adopt", "--from", "golang-migrate", "--db", "clickhouse", env=env(native)
    )
    assert_refused(done, "golang-migrate left 2_b.up.sql dirty")
    assert query(native, "EXISTS TABLE migration_history") == [(0,)]


def test_a_history_written_before_adopt_existed_still_reads_and_gains_the_column(
    native: Settings, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations"
    write(
        migrations / "clickhouse",
        {
            "001_a.sql": "CREATE TABLE a (x Int64) ENGINE = MergeTree ORDER BY x;\n",
            "002_b.sql": "CREATE TABLE b (x Int64) ENGINE = MergeTree ORDER BY x;\n",
        },
    )
    first = discover(migrations / "clickhouse", "clickhouse", ("sql",))[0]
    # the table as dbtools created it before `adopt` existed (dbtools/backends/clickhouse.py before this change)
    query(
        native,
        """CREATE TABLE migration_history (
            version Int64, name String, checksum String, status String, statements_done UInt32,
            statements_total Nullable(UInt32), progress_checksum String, error Nullable(String), applied_at DateTime,
            execution_ms UInt64, applied_by String, tool_version String, revision UInt64, deleted UInt8
        ) ENGINE = ReplacingMergeTree(revision) ORDER BY version""",
        first.up,
        (
            "INSERT INTO migration_history VALUES",
            [(1, "a", first.checksum, "applied", 1, 1, "", None, datetime.now(UTC), 3, "me@host", "0.1.0", 1, 0)],
        ),
    )
    status = json.loads(
        cli("--migrations-dir", migrations, "status", "--json", "--db", "clickhouse", env=env(native)).stdout
    )
    assert (status["clickhouse"]["applied"], status["clickhouse"]["pending"]) == ([1], [2])
    done = cli("--migrations-dir", migrations, "migrate", "--db", "clickhouse", env=env(native))
    assert done.returncode == 0, done.stderr
    rows = query(native, "SELECT version, adopted_from FROM migration_history FINAL ORDER BY version")
    assert rows == [(1, ""), (2, "")]


def test_a_server_error_while_reading_the_tools_table_is_one_line(native: Settings, tmp_path: Path) -> None:
    """The table exists but the server cannot read it (a view over a table dropped since): one error line
    naming the table and the server's words, one hint, no traceback, nothing written."""
    src = write(tmp_path / "src", {"1_a.up.sql": "CREATE TABLE a (x Int64) ENGINE = MergeTree ORDER BY x;\n"})
    query(
        native,
        "CREATE TABLE gone (version Int64, dirty UInt8, sequence UInt64) ENGINE = TinyLog",
        "CREATE VIEW schema_migrations AS SELECT version, dirty, sequence FROM gone",
        "DROP TABLE gone",
    )
    migrations = tmp_path / "migrations"
    cli("--migrations-dir", migrations, "adopt", "--from", "golang-migrate", "--files", src, "--db", "clickhouse")
    done = cli(
        "--migrations-dir", migrations, "adopt", "--from", "golang-migrate", "--db", "clickhouse", env=env(native)
    )
    assert_refused(done, "could not read schema_migrations", "gone")
    assert query(native, "EXISTS TABLE migration_history") == [(0,)]
