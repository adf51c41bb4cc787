"""Backup fixtures: migrated, seeded sources on the session's sandboxes, and helpers comparing two copies."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest

from dbtools import backends, runner
from dbtools.sandbox.embedded import EmbeddedSandbox
from dbtools.settings import Settings
from tests.conftest import Servers, fresh_settings

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "migrations"

# ClickHouse migrations both engines run (the project's own need a current server; 18.16 refuses them)
CH_MIGRATIONS = {
    "001_ticks.sql": """
        CREATE TABLE ticks (symbol String, ts DateTime, price Float64, qty UInt32)
        ENGINE = MergeTree ORDER BY (symbol, ts);
        CREATE TABLE volume_by_symbol (symbol String, qty UInt64) ENGINE = SummingMergeTree ORDER BY symbol;
        CREATE MATERIALIZED VIEW volume_mv TO volume_by_symbol AS SELECT symbol, toUInt64(qty) AS qty FROM ticks;
        CREATE VIEW last_prices AS SELECT symbol, max(ts) AS ts FROM ticks GROUP BY symbol
    """,
    "002_orders.sql": "CREATE TABLE orders (id UInt64, symbol String, side Int8) ENGINE = MergeTree ORDER BY id",
    "003_add_note.sql": "ALTER TABLE orders ADD COLUMN note String DEFAULT ''",
}
PG_MIGRATIONS = {
    "001_accounts.sql": "CREATE TABLE accounts (id bigserial PRIMARY KEY, name text NOT NULL, balance numeric(18,2));",
    "002_index.sql": "CREATE INDEX accounts_name ON accounts (name);",
    "003_add_column.sql": "ALTER TABLE accounts ADD COLUMN status text NOT NULL DEFAULT 'active';\n"
    "UPDATE accounts SET status = 'vip' WHERE balance > 900;",
}


def write_migrations(root: Path, store: str, files: dict[str, str]) -> Path:
    folder = root / store
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (folder / name).write_text(textwrap.dedent(body).strip() + "\n")
    return root


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m dbtools ARGS` with only the given store settings in the environment."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES_", "CLICKHOUSE_", "REDIS_", "MONGO_", "DBTOOLS_"))
    }
    base["DBTOOLS_AUDIT"] = "off"
    return subprocess.run(
        [sys.executable, "-m", "dbtools", *args],
        env={**base, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def env_for(settings: Settings) -> dict[str, str]:
    return {backends.load(settings.store).defaults.url_env: settings.url}


# -- PostgreSQL -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_source(servers: Servers) -> Settings:
    """The project's migrations applied and `seed --scale small` loaded (shared by the module's tests)."""
    from dbtools.seed import dataset, load

    settings = fresh_settings(servers, "postgres")
    runner.migrate("postgres", migrations_dir=MIGRATIONS, settings=settings, create_db=True)
    load(
        "postgres",
        dataset.build(7, "small", datetime(2026, 11, 1, tzinfo=UTC)),
        settings=settings,
        migrations_dir=MIGRATIONS,
    )
    return settings


def pg_tables(settings: Settings) -> dict[str, tuple[int, str]]:
    """Per user table: (row count, MD5 of its rows in a fixed order)."""
    with psycopg2.connect(settings.url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        )
        result = {}
        for (table,) in cur.fetchall():
            cur.execute(f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t")
            result[table] = tuple(cur.fetchone())
        return result


def snapshot(settings: Settings) -> dict:
    backend = backends.load(settings.store)(settings)
    backend.connect()
    try:
        return backend.snapshot()
    finally:
        backend.close()


def current_version(settings: Settings, migrations: Path) -> int | None:
    return runner.status(settings.store, migrations_dir=migrations, settings=settings)["current"]


# -- ClickHouse ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chdb_dir() -> Iterator[Settings]:
    """A chdb directory for this module (chdb opens one directory per process at a time)."""
    with EmbeddedSandbox("clickhouse", backends.load("clickhouse").sandbox_recipes["embedded"]) as settings:
        yield settings


def ch_tables(settings: Settings) -> dict[str, tuple[int, str]]:
    """Per table: (rows, SHA-256 of its rows sorted), read through the backend."""
    backend = backends.load("clickhouse")(settings)
    backend.connect()
    try:
        db = backend.database
        names = backend.query(
            f"SELECT name FROM system.tables WHERE database = '{db}' AND engine NOT IN ('View', 'MaterializedView') "
            "AND name != 'dbtools_migration_lock' ORDER BY name"
        )
        result = {}
        for (name,) in names:
            final = " FINAL" if name == "migration_history" else ""
            rows = sorted(repr(r) for r in backend.query(f"SELECT * FROM `{db}`.`{name}`{final}"))
            result[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        return result
    finally:
        backend.close()
