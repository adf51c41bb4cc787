"""backup and restore take the migration lock: a backup never holds half a migration (its manifest
version is the history inside it), a restore and a migrate never run on one database at once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest

from dbtools import backends, backup, runner
from dbtools.settings import Settings
from tests.backup.conftest import (
    CH_MIGRATIONS,
    PG_MIGRATIONS,
    ROOT,
    ch_tables,
    current_version,
    env_for,
    pg_tables,
    snapshot,
    write_migrations,
)
from tests.conftest import Servers, fresh_settings


class Running:
    """A `python -m dbtools` process whose output lines are collected as they come."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        import os

        base = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "CLICKHOUSE_", "DBTOOLS_"))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dbtools", *args],
            env={**base, "DBTOOLS_AUDIT": "off", **env},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def said(self, needle: str) -> bool:
        return any(needle in line for line in self.lines)

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code, "".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def running() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(*args: str, env: dict[str, str]) -> Running:
        started.append(Running(*args, env=env))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def until(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    """Wait for `condition` (polled every 50 ms): the tests depend on these states, never on timing."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def lock_holder(settings: Settings) -> str | None:
    backend = backends.load(settings.store)(settings)
    backend.connect()
    try:
        return backend.lock_holder()
    finally:
        backend.close()


def history_status(settings: Settings, version: int) -> str | None:
    with psycopg2.connect(settings.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('migration_history') IS NOT NULL")
        if not cur.fetchone()[0]:
            return None
        cur.execute("SELECT status FROM migration_history WHERE version = %s", (version,))
        row = cur.fetchone()
        return row[0] if row else None


def test_postgres_backup_waits_for_a_running_migration(
    servers: Servers, tmp_path: Path, running: Callable[..., Running]
) -> None:
    source = fresh_settings(servers, "postgres", create=True)
    migrations = write_migrations(
        tmp_path / "m",
        "postgres",
        {
            "001_a.sql": "CREATE TABLE a (id int);",
            # statement by statement, with a pause in the middle: a backup taken then holds half of it
            "002_b.sql": "-- dbtools:no-transaction\nCREATE TABLE b (id int);\nSELECT pg_sleep(4);\n"
            "CREATE TABLE c (id int);",
        },
    )
    migrate = running(
        "--migrations-dir", str(migrations), "migrate", "--db", "postgres", "--create-db", env=env_for(source)
    )
    until(lambda: history_status(source, 2) == "running", "migration 002 is running")

    folder = backup.backup("postgres", tmp_path / "b", settings=source, migrations_dir=migrations)

    assert migrate.finish()[0] == 0
    manifest = backup.read_manifest(folder)
    copy = fresh_settings(servers, "postgres")
    backup.restore("postgres", folder, settings=copy, migrations_dir=migrations)
    state = runner.status("postgres", migrations_dir=migrations, settings=copy)
    assert manifest["version"] == state["current"] == 2  # the backup waited for the migration to end
    assert state["unfinished"] == [] and set(pg_tables(copy)) >= {"public.b", "public.c"}


def test_postgres_migrate_waits_for_a_restore(servers: Servers, tmp_path: Path, running: Callable[..., Running]):
    two = dict(list(PG_MIGRATIONS.items())[:2])
    source = fresh_settings(servers, "postgres")
    runner.migrate(
        "postgres", migrations_dir=write_migrations(tmp_path / "s", "postgres", two), settings=source, create_db=True
    )
    with psycopg2.connect(source.url) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO accounts (name, balance) SELECT 'n' || g, g FROM generate_series(1, 1000) g")
    folder = backup.backup("postgres", tmp_path / "b", settings=source, migrations_dir=tmp_path / "s")

    migrations = write_migrations(tmp_path / "m", "postgres", PG_MIGRATIONS)  # 003 is pending after the restore
    target = fresh_settings(servers, "postgres")
    runner.migrate("postgres", migrations_dir=migrations, settings=target, create_db=True, target=2)
    env = env_for(target)
    # a reader holding a table of the target keeps the restore's transaction waiting, mid-way,
    # for as long as this test needs: the restore holds the migration lock meanwhile
    blocker = psycopg2.connect(target.url)
    try:
        with blocker.cursor() as cur:
            cur.execute("SELECT count(*) FROM accounts")
        restore = running(
            "--migrations-dir",
            str(migrations),
            "restore",
            "--db",
            "postgres",
            "--force",
            "--from",
            str(folder),
            env=env,
        )
        until(lambda: lock_holder(target) is not None, "the restore holds the migration lock")
        migrate = running("--migrations-dir", str(migrations), "migrate", "--db", "postgres", env=env)
        until(lambda: migrate.said("waiting"), "the migrate waits for the lock")
    finally:
        blocker.rollback()
        blocker.close()
    restored, said = restore.finish()
    assert restored == 0, said
    migrated, said = migrate.finish()
    assert migrated == 0 and "applied     003_add_column" in said, said
    state = runner.status("postgres", migrations_dir=migrations, settings=target)
    assert state["applied"] == [1, 2, 3] and state["unfinished"] == []
    assert pg_tables(target)["public.accounts"][0] == 1000  # the restored rows, migrated by 003


def test_clickhouse_restore_waits_for_a_running_migration(
    servers: Servers, tmp_path: Path, running: Callable[..., Running]
) -> None:
    source = fresh_settings(servers, "clickhouse")
    if source.path:
        pytest.skip("the clickhouse-server binary (18.16) is not installed")
    migrations = write_migrations(tmp_path / "m", "clickhouse", CH_MIGRATIONS)
    runner.migrate("clickhouse", migrations_dir=migrations, settings=source, create_db=True)
    folder = backup.backup("clickhouse", tmp_path / "b", settings=source, migrations_dir=migrations)

    # on the target a slow 002 is running: it creates a table, pauses, then writes into it
    slow = write_migrations(
        tmp_path / "slow",
        "clickhouse",
        {
            "001_ticks.sql": CH_MIGRATIONS["001_ticks.sql"],
            "002_orders.sql": CH_MIGRATIONS["002_orders.sql"] + ";\nSELECT sleep(3);\nSELECT sleep(2);\n"
            "INSERT INTO orders (id, symbol, side) VALUES (1, 'S', 1)",
        },
    )
    target = fresh_settings(servers, "clickhouse")
    runner.migrate("clickhouse", migrations_dir=slow, settings=target, create_db=True, target=1)
    migrate = running("--migrations-dir", str(slow), "migrate", "--db", "clickhouse", env=env_for(target))
    until(lambda: lock_holder(target) is not None, "the migrate holds the lock")

    backup.restore("clickhouse", folder, force=True, settings=target, migrations_dir=migrations)

    code, said = migrate.finish()
    assert code == 0, said  # nothing was dropped under it: the restore waited for it to end
    assert snapshot(target) == snapshot(source) and ch_tables(target) == ch_tables(source)
    assert current_version(target, migrations) == 3
