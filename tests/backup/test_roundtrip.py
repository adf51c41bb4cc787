"""backup -> restore into a fresh database gives the same schema, rows and history, on real servers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dbtools import backends, backup, runner
from dbtools.settings import Settings
from tests.backup.conftest import (
    CH_MIGRATIONS,
    MIGRATIONS,
    ch_tables,
    cli,
    current_version,
    env_for,
    pg_tables,
    snapshot,
    write_migrations,
)
from tests.conftest import Servers, fresh_settings


def test_postgres_backup_restores_schema_rows_and_history(pg_source: Settings, servers: Servers, tmp_path: Path):
    done = cli("backup", "--db", "postgres", "--to", str(tmp_path), env=env_for(pg_source))
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip().splitlines()[-1])  # the last line is the folder
    assert folder.parent == tmp_path and folder.name.startswith("postgres-") and folder.name.endswith("-v3")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == 3 and manifest["method"] == "pg_dump --format=custom"
    assert manifest["tool"].startswith("pg_dump ") and manifest["files"][0]["sha256"]
    assert not list(tmp_path.glob(".*partial"))

    target = fresh_settings(servers, "postgres")
    done = cli("restore", "--db", "postgres", "--from", str(folder), env=env_for(target))
    assert done.returncode == 0, done.stderr
    assert snapshot(target) == snapshot(pg_source)
    source_tables = pg_tables(pg_source)
    assert pg_tables(target) == source_tables and source_tables["public.users"][0] > 0
    assert current_version(target, MIGRATIONS) == 3  # history travelled with the data


def test_redis_keys_keep_types_values_and_ttls(servers: Servers, tmp_path: Path):
    source = fresh_settings(servers, "redis")
    runner.migrate("redis", migrations_dir=MIGRATIONS, settings=source)
    r = backends.load("redis")(source)
    r.connect()
    r.client.set("plain", "v")
    r.client.set("session:abc", "tok", ex=600)
    r.client.hset("user:1", mapping={"a": "1", "b": "2"})
    r.client.rpush("queue", *[str(i) for i in range(500)])
    r.client.sadd("tags", "x", "y")
    r.client.zadd("board", {"p": 1.5, "q": 2})
    r.client.xadd("events", {"k": "v"})
    for i in range(2500):  # several SCAN batches
        r.client.set(f"bulk:{i}", i, px=900_000 if i % 2 else None)
    read_before = time.monotonic()
    before = {k: (r.client.type(k), r.client.pttl(k)) for k in r.client.scan_iter()}
    raw = r.open_client(decode=False)
    dumps = {k: raw.dump(k) for k in ("plain", "user:1", "queue", "board")}
    raw.close()
    r.close()

    folder = backup.backup("redis", tmp_path, settings=source, migrations_dir=MIGRATIONS)
    target = fresh_settings(servers, "redis")
    backup.restore("redis", folder, settings=target, migrations_dir=MIGRATIONS)

    t = backends.load("redis")(target)
    t.connect()
    try:
        after = {k: (t.client.type(k), t.client.pttl(k)) for k in t.client.scan_iter()}
        elapsed_ms = (time.monotonic() - read_before) * 1000  # TTLs may have run down this much, and no more
        assert set(after) == set(before) - {"migration_lock"}
        for key, (kind, pttl) in before.items():
            assert after[key][0] == kind
            if pttl < 0:
                assert after[key][1] == -1, key
            else:  # the remaining TTL, less the time that passed between the two readings (+1 s of rounding)
                assert 0 < after[key][1] <= pttl and pttl - after[key][1] <= elapsed_ms + 1000, key
        raw = t.open_client(decode=False)
        assert {k: raw.dump(k) for k in dumps} == dumps  # same values, same encoding
        raw.close()
        assert t.client.lrange("queue", 0, -1) == [str(i) for i in range(500)]
    finally:
        t.close()
    assert current_version(target, MIGRATIONS) == current_version(source, MIGRATIONS) == 1


def _clickhouse_roundtrip(source: Settings, target: Settings, migrations: Path, tmp_path: Path) -> dict:
    runner.migrate("clickhouse", migrations_dir=migrations, settings=source, create_db=True)
    b = backends.load("clickhouse")(source)
    b.connect()
    db = b.database
    b.query(
        f"INSERT INTO `{db}`.ticks SELECT concat('S', toString(number % 7)), toDateTime(1700000000 + number), "
        "number / 3, number % 100 FROM numbers(20000)"
    )
    b.query(f"INSERT INTO `{db}`.orders (id, symbol, side) SELECT number, 'S1', 1 FROM numbers(100)")
    b.close()
    folder = backup.backup("clickhouse", tmp_path, settings=source, migrations_dir=migrations)
    manifest = backup.read_manifest(folder, "clickhouse")
    backup.restore("clickhouse", folder, settings=target, migrations_dir=migrations)
    assert snapshot(target) == snapshot(source)
    source_tables = ch_tables(source)
    assert ch_tables(target) == source_tables
    assert source_tables["ticks"][0] == 20000 and source_tables["volume_by_symbol"][0] > 0
    assert current_version(target, migrations) == 3
    return manifest


def test_clickhouse_chdb_uses_the_engines_backup(chdb_dir: Settings, tmp_path: Path):
    migrations = write_migrations(tmp_path / "m", "clickhouse", CH_MIGRATIONS)
    manifest = _clickhouse_roundtrip(
        chdb_dir.with_database("src"), chdb_dir.with_database("dst"), migrations, tmp_path / "b"
    )
    assert manifest["method"] == "BACKUP DATABASE" and manifest["details"]["engine"] == "chdb"


def test_clickhouse_18_16_uses_ddl_and_native_data(servers: Servers, tmp_path: Path):
    source = fresh_settings(servers, "clickhouse")
    if source.path:
        pytest.skip("the clickhouse-server binary (18.16) is not installed; chdb is covered above")
    migrations = write_migrations(tmp_path / "m", "clickhouse", CH_MIGRATIONS)
    manifest = _clickhouse_roundtrip(source, fresh_settings(servers, "clickhouse"), migrations, tmp_path / "b")
    assert manifest["method"] == "SHOW CREATE + SELECT * FORMAT Native"
    assert manifest["details"]["why_not_backup"].startswith("the server has no BACKUP")
