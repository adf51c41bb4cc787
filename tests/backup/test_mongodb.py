"""MongoDB backup, restore, `migrate --backup` and rehearse with no MongoDB tools installed: the driver
format (catalog + raw BSON), restores all or nothing, through the CLI as users run it."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dbtools import backends, runner
from dbtools.audit import audit_suspended
from dbtools.backends import mongodb_backup
from dbtools.settings import Settings
from tests.backup.conftest import MIGRATIONS, cli, current_version, env_for, snapshot, write_migrations
from tests.conftest import Servers, fresh_settings

NEXT = {  # a migration after the project's 001, for rehearse and migrate --backup
    "002_strategy_tags.py": '''
        def up(db):
            db.create_collection("strategy_tags", validator={"$jsonSchema": {"required": ["tag"]}})
            db.strategy_tags.create_index("tag", unique=True, name="tag_unique")


        def down(db):
            db.drop_collection("strategy_tags")
    ''',
}


@pytest.fixture(autouse=True)
def _no_mongodump() -> None:
    if shutil.which("mongodump"):
        pytest.skip("mongodump is installed here: these tests are about dbtools' own format")


def connected(settings: Settings) -> Any:
    backend = backends.load("mongodb")(settings)
    backend.connect()
    return backend


@contextmanager
def database(settings: Settings) -> Iterator[Any]:
    backend = connected(settings)
    try:
        yield backend._db
    finally:
        backend.close()


def documents(settings: Settings) -> dict[str, tuple[int, str]]:
    """Per collection (views and the lock aside): document count and SHA-256 of the raw BSON in _id order."""
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument

    result = {}
    with database(settings) as db:
        for name in sorted(db.list_collection_names(filter={"type": "collection"})):
            if name == "migration_lock":
                continue
            raw = db.get_collection(name, codec_options=CodecOptions(document_class=RawBSONDocument))
            digest = hashlib.sha256()
            count = 0
            for doc in raw.find().sort("_id", 1):
                digest.update(doc.raw)
                count += 1
            result[name] = (count, digest.hexdigest())
    return result


@pytest.fixture(scope="module")
def source(servers: Servers) -> Settings:
    """The project's migrations and `seed --scale small`, plus what the seed does not make: a view, a
    capped collection, a moderate validator, documents of every awkward BSON type, one that predates
    its collection's validator."""
    from bson import Binary, Decimal128, ObjectId, Regex

    from dbtools.seed import dataset, load

    settings = fresh_settings(servers, "mongodb")
    with audit_suspended():  # module scope: before the per-test switch that keeps audit sinks off
        runner.migrate("mongodb", migrations_dir=MIGRATIONS, settings=settings, create_db=True)
        load("mongodb", dataset.build(7, "small", datetime(2026, 11, 1, tzinfo=UTC)), settings=settings)
    with database(settings) as db:
        db.create_collection("ring", capped=True, size=65536, max=100)
        db.ring.insert_many([{"n": i} for i in range(80)])
        db.create_collection("odd")
        db.odd.insert_one(
            {
                "_id": ObjectId(),
                "price": Decimal128(Decimal("12345.678901234567890")),
                "blob": Binary(b"\x00\x01\xff", 0),
                "uuid": Binary(b"0123456789abcdef", 4),
                "when": datetime(2026, 11, 1, 12, 30, tzinfo=UTC),
                "pattern": Regex("^BTC", "i"),
                "nested": {"list": [1, 2.5, None, {"deep": True}]},
                "big": 2**62,
            }
        )
        db.odd.insert_one({"_id": "no-validator-yet", "x": "text"})
        db.command("collMod", "odd", validator={"x": {"$type": "int"}}, validationLevel="moderate")
        db.command("create", "active_configs", viewOn="strategy_configs", pipeline=[{"$match": {"version": 1}}])
    return settings


def take_backup(settings: Settings, to: Path) -> Path:
    done = cli("backup", "--db", "mongodb", "--to", str(to), env=env_for(settings))
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip().splitlines()[-1])


def test_backup_restores_options_indexes_documents_and_history(source: Settings, servers: Servers, tmp_path: Path):
    folder = take_backup(source, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["tool"] == "pymongo" and manifest["method"].startswith("driver: ")
    assert manifest["version"] == 1 and manifest["details"]["views"] == 1
    assert manifest["details"]["documents"] == sum(n for n, _ in documents(source).values())
    assert {e["path"] for e in manifest["files"]} >= {"mongodb/catalog.json", "mongodb/0001.bson"}

    target = fresh_settings(servers, "mongodb")
    done = cli("restore", "--db", "mongodb", "--from", str(folder), env=env_for(target))
    assert done.returncode == 0, done.stderr
    assert snapshot(target) == snapshot(source)  # options (validators, capped, view pipeline) and indexes
    assert documents(target) == documents(source)  # every document, byte for byte
    assert current_version(target, MIGRATIONS) == 1  # history travelled with the data
    with database(target) as db:
        with pytest.raises(Exception, match="validation"):
            db.strategy_configs.insert_one({"strategy_id": "not a number"})  # the validator is live
        assert db.ring.options()["capped"] and db.ring.options()["max"] == 100


def test_restore_over_data_replaces_it_whole(source: Settings, servers: Servers, tmp_path: Path):
    folder = take_backup(source, tmp_path)
    target = fresh_settings(servers, "mongodb", create=True)
    with database(target) as db:
        db.create_collection("strategy_configs")  # no validator, other documents
        db.strategy_configs.insert_one({"strategy_id": 999})
        db.create_collection("leftover")
        db.leftover.insert_one({"stale": True})

    refused = cli("restore", "--db", "mongodb", "--from", str(folder), env=env_for(target))
    assert refused.returncode != 0 and "not empty" in refused.stderr
    done = cli("restore", "--db", "mongodb", "--from", str(folder), "--force", env=env_for(target))
    assert done.returncode == 0, done.stderr
    assert snapshot(target) == snapshot(source)  # the validators came through the switch's renames
    assert documents(target) == documents(source)  # "leftover" is gone, strategy_configs replaced
    with database(target) as db:
        assert not [n for n in db.list_collection_names() if n.startswith(mongodb_backup.TRANSIENT)]


def test_migrate_backup_then_rehearse_on_a_sandbox(source: Settings, servers: Servers, tmp_path: Path):
    migrations = write_migrations(tmp_path / "m", "mongodb", NEXT)
    shutil.copy(MIGRATIONS / "mongodb" / "001_collections_schema.py", migrations / "mongodb")
    folder = take_backup(source, tmp_path / "b")  # at version 1; 002 is pending

    done = cli("rehearse", "--db", "mongodb", "--from", str(folder), "--json", "--migrations-dir", str(migrations))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["from_version"] == 1 and report["to_version"] == 2
    assert [(s["version"], s["status"]) for s in report["migrations"]] == [(2, "applied")]
    assert report["sandbox"] and report.get("sandbox_server") is not None
    assert current_version(source, migrations) == 1  # the source was not touched

    target = fresh_settings(servers, "mongodb")
    restored = cli("restore", "--db", "mongodb", "--from", str(folder), env=env_for(target))
    assert restored.returncode == 0, restored.stderr
    done = cli(
        "migrate", "--db", "mongodb", "--backup", str(tmp_path / "pre"), "--json", "--migrations-dir",
        str(migrations), env=env_for(target),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    saved = [e for e in events if e["action"] == "backup"]
    assert saved and Path(saved[0]["detail"]).name.endswith("-v1")
    assert json.loads((Path(saved[0]["detail"]) / "manifest.json").read_text())["tool"] == "pymongo"
    assert current_version(target, migrations) == 2
