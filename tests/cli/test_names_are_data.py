"""Names are data: database names, search paths, DB indexes and OS user names never act as code."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg2
import pytest

from dbtools import backends, runner
from dbtools.settings import Settings
from tests.backup.conftest import cli, env_for, write_migrations
from tests.conftest import Servers, fresh_settings


def _pg_tables(settings: Settings) -> list[str]:
    with psycopg2.connect(settings.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname !~ '^(pg_|information)'")
        return sorted(row[0] for row in cur.fetchall())


def _pg_database(servers: Servers, name: str) -> Settings:
    base = servers.get("postgres")
    conn = psycopg2.connect(base.with_database("postgres").url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return base.with_database(name)


def _pg_env(settings: Settings) -> dict[str, str]:
    return {
        "POSTGRES_HOST": settings.host,
        "POSTGRES_PORT": str(settings.port),
        "POSTGRES_USER": settings.user,
        "POSTGRES_PASSWORD": settings.password,
        "POSTGRES_DB": settings.database,
    }


def test_postgres_db_that_reads_like_a_connection_string_stays_a_name(servers: Servers, tmp_path: Path) -> None:
    decoy = fresh_settings(servers, "postgres", create=True)
    with psycopg2.connect(decoy.url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE decoy (id int)")
    # as a libpq connection string this names the decoy database
    source = _pg_database(servers, f"dbname={decoy.database} application_name={uuid.uuid4().hex[:6]}")
    target = _pg_database(servers, f"dbname={decoy.database} application_name={uuid.uuid4().hex[:6]}")
    migrations = write_migrations(tmp_path / "m", "postgres", {"001_mine.sql": "CREATE TABLE mine (id int);"})
    mdir = ["--migrations-dir", str(migrations)]

    assert cli(*mdir, "migrate", "--db", "postgres", env=_pg_env(source)).returncode == 0
    done = cli(*mdir, "backup", "--db", "postgres", "--to", str(tmp_path / "b"), env=_pg_env(source))
    assert done.returncode == 0, done.stderr
    folder = done.stdout.strip().splitlines()[-1]
    done = cli(*mdir, "restore", "--db", "postgres", "--from", folder, env=_pg_env(target))
    assert done.returncode == 0, done.stderr

    assert _pg_tables(target) == ["public.migration_history", "public.mine"]  # the backup read the right one
    assert _pg_tables(decoy) == ["public.decoy"]  # and the restore wrote nothing there


def test_history_writes_survive_a_migration_that_sets_search_path(servers: Servers, tmp_path: Path) -> None:
    target = fresh_settings(servers, "postgres", create=True)
    migrations = write_migrations(
        tmp_path / "m",
        "postgres",
        {
            "001_app.sql": "CREATE SCHEMA app; SET search_path TO app; CREATE TABLE accounts (id int);",
            "002_more.sql": "-- dbtools:no-transaction\nSET search_path TO app, public;\n"
            "CREATE INDEX CONCURRENTLY accounts_id ON accounts (id);",
            "003_last.sql": "CREATE TABLE app.orders (id int);",
        },
    )
    done = cli("--migrations-dir", str(migrations), "migrate", "--db", "postgres", env=env_for(target))
    assert done.returncode == 0, done.stderr
    state = runner.status("postgres", migrations_dir=migrations, settings=target)
    assert state["applied"] == [1, 2, 3] and state["failed"] == []
    assert _pg_tables(target) == ["app.accounts", "app.orders", "public.migration_history"]


def test_redis_history_stays_in_its_db_when_a_script_selects_another(servers: Servers, tmp_path: Path) -> None:
    target = fresh_settings(servers, "redis")
    elsewhere = fresh_settings(servers, "redis")
    migrations = write_migrations(
        tmp_path / "m",
        "redis",
        {
            "001_copy.py": f"def up(r):\n    r.select({elsewhere.database})\n    r.set('copied', 1)\n",
            "002_next.py": "def up(r):\n    r.set('next', 1)\n",
        },
    )
    done = cli("--migrations-dir", str(migrations), "migrate", "--db", "redis", env=env_for(target))
    assert done.returncode == 0, done.stderr
    state = runner.status("redis", migrations_dir=migrations, settings=target)
    assert state["applied"] == [1, 2] and state["failed"] == []
    other = backends.load("redis")(elsewhere)
    other.connect()
    try:
        assert other.history() == [] and other.client.exists("migration_lock") == 0
    finally:
        other.close()


@pytest.mark.parametrize("store", ["postgres", "redis", "clickhouse"])
def test_os_user_with_spaces_and_accents(servers: Servers, tmp_path: Path, store: str) -> None:
    target = fresh_settings(servers, store, create=True)
    body = "def up(r):\n    r.set('k', 1)\n" if store == "redis" else "CREATE TABLE t (id Int32) ENGINE = Memory"
    if store == "postgres":
        body = "CREATE TABLE t (id int)"
    name = "001_t.py" if store == "redis" else "001_t.sql"
    migrations = write_migrations(tmp_path / "m", store, {name: body})
    user = "José de la Peña"
    env = {**env_for(target), "LOGNAME": user, "USER": user}
    done = cli("--migrations-dir", str(migrations), "migrate", "--db", store, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["status"] == "applied"
    backend = backends.load(store)(target)
    backend.connect()
    try:
        assert backend.history()[0].applied_by.startswith(f"{user}@")
    finally:
        backend.close()
