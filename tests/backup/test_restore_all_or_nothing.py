"""`restore --force` is all or nothing: a restore that fails half-way leaves the target exactly as it
was (compared as a snapshot), on PostgreSQL, Redis, the ClickHouse 18.16 server and chdb; and "not
empty" counts every object a user could lose."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from dbtools import backends, backup, runner
from dbtools.errors import DbtoolsError
from dbtools.settings import Settings
from tests.backup.conftest import (
    CH_MIGRATIONS,
    MIGRATIONS,
    PG_MIGRATIONS,
    ch_tables,
    cli,
    env_for,
    pg_tables,
    snapshot,
    write_migrations,
)
from tests.cli.test_cli import assert_one_clear_error
from tests.conftest import Servers, fresh_settings


def reseal(folder: Path) -> None:
    """Recompute the manifest's sizes and checksums after a test edited the backup on purpose: a
    backup that is intact as far as the manifest knows, but that the server will refuse half-way."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    for entry in manifest["files"]:
        data = (folder / entry["path"]).read_bytes()
        entry["size"], entry["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    path.write_text(json.dumps(manifest))


def sql(settings: Settings, *statements: str) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(settings.url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


# -- PostgreSQL ---------------------------------------------------------------------------------


def pg_state(settings: Settings) -> dict[str, Any]:
    """Schema, rows and the database-level objects a snapshot of tables would miss."""
    extra = sql(
        settings,
        "SELECT (SELECT array_agg(pubname ORDER BY pubname) FROM pg_publication), "
        "(SELECT array_agg(extname ORDER BY extname) FROM pg_extension), "
        "(SELECT count(*) FROM pg_largeobject_metadata)",
    )[0]
    return {"schema": snapshot(settings), "rows": pg_tables(settings), "database": extra}


@pytest.fixture
def pg_target(servers: Servers, tmp_path: Path) -> Settings:
    """A database users would hate to lose: migrated, with rows, a publication, an enum, a function,
    an extension and a large object."""
    target = fresh_settings(servers, "postgres")
    migrations = write_migrations(tmp_path / "target-m", "postgres", PG_MIGRATIONS)
    runner.migrate("postgres", migrations_dir=migrations, settings=target, create_db=True)
    sql(
        target,
        "INSERT INTO accounts (name, balance) SELECT 'a' || g, g FROM generate_series(1, 500) g",
        "CREATE PUBLICATION accounts_feed FOR TABLE accounts",
        "CREATE TYPE mood AS ENUM ('calm', 'angry')",
        "CREATE FUNCTION twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2'",
        "CREATE EXTENSION hstore",
        "SELECT lo_from_bytea(0, 'kept')",
    )
    return target


def _pg_backup(servers: Servers, tmp_path: Path, *setup: str) -> Path:
    source = fresh_settings(servers, "postgres")
    migrations = write_migrations(tmp_path / "source-m", "postgres", PG_MIGRATIONS)
    runner.migrate("postgres", migrations_dir=migrations, settings=source, create_db=True)
    sql(source, "INSERT INTO accounts (name, balance) SELECT 'b' || g, g FROM generate_series(1, 300) g", *setup)
    return backup.backup("postgres", tmp_path / "b", settings=source, migrations_dir=migrations)


def test_postgres_restore_failing_half_way_leaves_the_target_as_it_was(
    servers: Servers, pg_target: Settings, tmp_path: Path
) -> None:
    # a unique index on a function whose body changed after the index was built: the rows restore,
    # then CREATE UNIQUE INDEX (which pg_restore runs after the data) finds duplicates and fails
    folder = _pg_backup(
        servers,
        tmp_path,
        "CREATE FUNCTION bucket(bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT $1'",
        "CREATE UNIQUE INDEX accounts_bucket ON accounts (bucket(id))",
        "CREATE OR REPLACE FUNCTION bucket(bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT $1 % 2'",
    )
    before = pg_state(pg_target)
    done = cli("restore", "--db", "postgres", "--force", "--from", str(folder), env=env_for(pg_target))
    assert_one_clear_error(done, 1, "accounts_bucket", "exactly as it was")
    assert pg_state(pg_target) == before


def test_postgres_force_replaces_every_kind_of_object(servers: Servers, pg_target: Settings, tmp_path: Path) -> None:
    # the backup holds a publication of the same name as the target's: a clear that left publications
    # behind made this restore fail after the target was already emptied
    folder = _pg_backup(servers, tmp_path, "CREATE PUBLICATION accounts_feed FOR TABLE accounts")
    done = cli("restore", "--db", "postgres", "--force", "--from", str(folder), env=env_for(pg_target))
    assert done.returncode == 0, done.stderr
    state = pg_state(pg_target)
    assert state["database"] == (["accounts_feed"], ["plpgsql"], 0)  # no hstore, no large object left
    assert state["rows"]["public.accounts"][0] == 300
    assert not sql(pg_target, "SELECT 1 FROM pg_type WHERE typname = 'mood'")
    assert not sql(pg_target, "SELECT 1 FROM pg_proc WHERE proname = 'twice'")


@pytest.mark.parametrize(
    ("kind", "statement"),
    [
        ("type", "CREATE TYPE mood AS ENUM ('calm')"),
        ("function", "CREATE FUNCTION twice(int) RETURNS int LANGUAGE sql AS 'SELECT $1 * 2'"),
        ("publication", "CREATE PUBLICATION everything FOR ALL TABLES"),
        ("extension", "CREATE EXTENSION citext"),
        ("schema", "CREATE SCHEMA reports"),
        ("large object", "SELECT lo_from_bytea(0, 'x')"),
    ],
)
def test_postgres_target_holding_only_one_object_is_not_empty(
    servers: Servers, tmp_path: Path, kind: str, statement: str
) -> None:
    folder = _pg_backup(servers, tmp_path)
    target = fresh_settings(servers, "postgres", create=True)
    sql(target, statement)
    done = cli("restore", "--db", "postgres", "--from", str(folder), env=env_for(target))
    assert_one_clear_error(done, 2, "is not empty", kind, "--force")
    assert pg_tables(target) == {}  # nothing was restored into it


# -- Redis --------------------------------------------------------------------------------------


def redis_state(settings: Settings) -> dict[bytes, tuple[bytes, int]]:
    """Every key: its DUMP payload and whether it has a TTL (its exact value ticks down)."""
    r = backends.load("redis")(settings)
    r.connect()
    raw = r.open_client(decode=False)
    try:
        return {k: (raw.dump(k), raw.pttl(k) > 0) for k in raw.scan_iter()}
    finally:
        raw.close()
        r.close()


def test_redis_restore_with_a_refused_key_leaves_the_target_as_it_was(servers: Servers, tmp_path: Path) -> None:
    source = fresh_settings(servers, "redis")
    s = backends.load("redis")(source)
    s.connect()
    for i in range(2500):  # several pipelines restore before the bad key is reached
        s.client.set(f"new:{i}", i)
    s.client.set("zz-last", "will be damaged")
    s.close()
    folder = backup.backup("redis", tmp_path / "b", settings=source, migrations_dir=MIGRATIONS)
    dump = bytearray((folder / "redis.dump").read_bytes())
    dump[-3] ^= 0xFF  # inside the last key's DUMP payload: RESTORE refuses it (bad CRC)
    (folder / "redis.dump").write_bytes(bytes(dump))
    reseal(folder)

    target = fresh_settings(servers, "redis")
    t = backends.load("redis")(target)
    t.connect()
    t.client.set("kept", "v", ex=900)
    t.client.hset("user:1", mapping={"a": "1"})
    t.client.rpush("queue", *"abc")
    t.close()
    before = redis_state(target)
    done = cli("restore", "--db", "redis", "--force", "--from", str(folder), env=env_for(target))
    assert_one_clear_error(done, 1, "RESTORE refused a key", "exactly as it was")
    assert redis_state(target) == before


def test_redis_force_switches_everything_in_and_keeps_nothing_else(servers: Servers, tmp_path: Path) -> None:
    source = fresh_settings(servers, "redis")
    s = backends.load("redis")(source)
    s.connect()
    s.client.set("from-backup", "1", ex=600)
    s.close()
    folder = backup.backup("redis", tmp_path / "b", settings=source, migrations_dir=MIGRATIONS)
    target = fresh_settings(servers, "redis")
    t = backends.load("redis")(target)
    t.connect()
    t.client.set("old", "x")
    t.close()
    done = cli("restore", "--db", "redis", "--force", "--from", str(folder), env=env_for(target))
    assert done.returncode == 0, done.stderr
    assert set(redis_state(target)) == {b"from-backup"}  # the old key is gone, the lock was released


# -- ClickHouse ---------------------------------------------------------------------------------


def ch_state(settings: Settings) -> dict[str, Any]:
    return {"schema": snapshot(settings), "rows": ch_tables(settings)}


def _ch_fill(settings: Settings, migrations: Path, rows: int) -> None:
    runner.migrate("clickhouse", migrations_dir=migrations, settings=settings, create_db=True)
    b = backends.load("clickhouse")(settings)
    b.connect()
    db = f"`{b.database}`"
    b.query(
        f"INSERT INTO {db}.ticks SELECT concat('S', toString(number % 7)), toDateTime(1700000000 + number), "
        f"number / 3, number % 100 FROM numbers({rows})"
    )
    b.query(f"INSERT INTO {db}.orders (id, symbol, side) SELECT number, 'S1', 1 FROM numbers({rows // 10})")
    b.close()


def _damage_last_step(folder: Path) -> None:
    """Make the backup fail at its end: the last table's DDL (a DDL dump) or a view of the engine's
    BACKUP is damaged, and the manifest resealed."""
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest["method"] == "BACKUP DATABASE":  # the view restores after the tables and their rows
        (view,) = (folder / "clickhouse" / "metadata").rglob("volume_mv.sql")
        view.write_text(view.read_text().replace("ticks", "no_such_table"))
    else:
        schema = json.loads((folder / "schema.json").read_text())
        tables = [t for t in schema["tables"] if t["data"] is not None]
        last = tables[-1]
        last["create"] = re.sub(r"ENGINE = \w+", "ENGINE = NoSuchEngine", last["create"])
        assert "NoSuchEngine" in last["create"]
        (folder / "schema.json").write_text(json.dumps(schema))
    reseal(folder)


@pytest.fixture(params=["server 18.16", "chdb"])
def ch_pair(request: pytest.FixtureRequest, servers: Servers) -> tuple[Settings, Settings]:
    """(source, target) databases on the 18.16 server or in chdb."""
    if request.param == "chdb":
        root = request.getfixturevalue("chdb_dir")
        token = os.urandom(4).hex()
        return root.with_database(f"src_{token}"), root.with_database(f"dst_{token}")
    source = fresh_settings(servers, "clickhouse")
    if source.path:
        pytest.skip("the clickhouse-server binary (18.16) is not installed")
    return source, fresh_settings(servers, "clickhouse")


def test_clickhouse_restore_failing_half_way_leaves_the_target_as_it_was(
    ch_pair: tuple[Settings, Settings], tmp_path: Path
) -> None:
    source, target = ch_pair
    migrations = write_migrations(tmp_path / "m", "clickhouse", CH_MIGRATIONS)
    _ch_fill(source, migrations, 20_000)
    _ch_fill(target, migrations, 3_000)
    folder = backup.backup("clickhouse", tmp_path / "b", settings=source, migrations_dir=migrations)
    _damage_last_step(folder)
    before = ch_state(target)
    with pytest.raises(DbtoolsError, match="restore failed") as refused:
        backup.restore("clickhouse", folder, force=True, settings=target, migrations_dir=migrations)
    assert "exactly as it was" in (refused.value.hint or "")
    assert ch_state(target) == before
    b = backends.load("clickhouse")(target)
    b.connect()
    try:  # no scratch database left behind
        assert not b.query(f"SELECT name FROM system.databases WHERE name LIKE '{b.database}__dbtools%'")
    finally:
        b.close()


def test_clickhouse_force_replaces_the_target(ch_pair: tuple[Settings, Settings], tmp_path: Path) -> None:
    source, target = ch_pair
    migrations = write_migrations(tmp_path / "m", "clickhouse", CH_MIGRATIONS)
    _ch_fill(source, migrations, 20_000)
    _ch_fill(target, migrations, 3_000)
    folder = backup.backup("clickhouse", tmp_path / "b", settings=source, migrations_dir=migrations)
    backup.restore("clickhouse", folder, force=True, settings=target, migrations_dir=migrations)
    assert ch_state(target) == ch_state(source)
    b = backends.load("clickhouse")(target)
    b.connect()
    try:  # the views were re-created in the target and feed its tables, not the scratch database's
        db = f"`{b.database}`"
        b.query(f"INSERT INTO {db}.ticks VALUES ('NEW', now(), 1, 5)")
        assert b.query(f"SELECT sum(qty) FROM {db}.volume_by_symbol WHERE symbol = 'NEW'") == [(5,)]
        assert b.lock_holder() is None
    finally:
        b.close()
