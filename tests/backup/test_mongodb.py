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
from pymongo import monitoring

from dbtools import backends, backup, runner
from dbtools.audit import audit_suspended
from dbtools.backends.mongodb import driver_backup as mongodb_backup
from dbtools.errors import DbtoolsError
from dbtools.settings import Settings
from tests.backup.conftest import MIGRATIONS, cli, current_version, env_for, snapshot, write_migrations
from tests.conftest import Servers, fresh_settings

NEXT = {  # a migration after the project's 001, for rehearse and migrate --backup
    "002_strategy_tags.py": """
        def up(db):
            db.create_collection("strategy_tags", validator={"$jsonSchema": {"required": ["tag"]}})
            db.strategy_tags.create_index("tag", unique=True, name="tag_unique")


        def down(db):
            db.drop_collection("strategy_tags")
    """,
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
        yield backend.db
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


class FaultAtViewCreation(monitoring.CommandListener):
    """A real server fault at one precise point: when the restore is about to create a view (the switch's
    last step, after every old collection moved aside and every restored one moved in), the server is told
    to refuse that `create` (failCommand) - once, or every `create` from then on."""

    def __init__(self, settings: Settings, *, always: bool) -> None:
        self.admin = connected(settings).db.client.admin
        self.always = always
        self.armed = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.armed or event.command_name != "create" or "viewOn" not in event.command:
            return
        self.armed = True
        mode = "alwaysOn" if self.always else {"times": 1}
        data = {"failCommands": ["create"], "errorCode": 2, "errmsg": "injected fault"}
        self.admin.command("configureFailPoint", "failCommand", mode=mode, data=data)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def off(self) -> None:
        self.admin.command("configureFailPoint", "failCommand", mode="off")
        self.armed = True  # a listener cannot be unregistered: it stays quiet from now on


def _state(settings: Settings) -> tuple[dict, dict]:
    return snapshot(settings), documents(settings)


def _target_with_data(servers: Servers) -> Settings:
    target = fresh_settings(servers, "mongodb", create=True)
    with database(target) as db:
        db.create_collection("strategy_configs", validator={"$jsonSchema": {"required": ["mine"]}})
        db.strategy_configs.insert_one({"mine": 1})
        db.create_collection("keep_me")
        db.keep_me.insert_one({"k": 1})
    return target


def _restore_with_fault(folder: Path, target: Settings, *, always: bool) -> DbtoolsError:
    fault = FaultAtViewCreation(target, always=always)
    monitoring.register(fault)  # seen by the clients made from now on: the restore's own
    try:
        with pytest.raises(DbtoolsError) as failed:
            backup.restore("mongodb", folder, force=True, settings=target, migrations_dir=MIGRATIONS)
    finally:
        fault.off()
    assert fault.armed
    return failed.value


def test_failed_switch_puts_the_old_data_back(source: Settings, servers: Servers, tmp_path: Path):
    folder = take_backup(source, tmp_path)
    target = _target_with_data(servers)
    before = _state(target)
    error = _restore_with_fault(folder, target, always=False)
    assert error.message.startswith("mongodb: restore failed while switching the restored collections in")
    assert "failCommand" in error.message and "left as it was" in (error.hint or "")
    assert _state(target) == before  # old collections back, with their validator; nothing of the backup
    with database(target) as db:
        assert not [n for n in db.list_collection_names() if n.startswith(mongodb_backup.TRANSIENT)]


def test_switch_that_cannot_undo_keeps_the_old_data_and_says_where(source: Settings, servers: Servers, tmp_path: Path):
    folder = take_backup(source, tmp_path)
    target = _target_with_data(servers)
    before = documents(target)
    with database(target) as db:
        renames = mongodb_backup.rename_keeps_options(db, "dbtools_restore.probe.")
    error = _restore_with_fault(folder, target, always=True)  # the server keeps refusing `create`
    if renames:  # moving back is a rename, which still works: the target is as it was
        assert documents(target) == before
        return
    # where moving back is a copy (SecantusDB) it needs `create`: the old data stays set aside, whole
    assert "putting the old collections back failed too" in error.message
    with database(target) as db:
        aside = {n for n in db.list_collection_names() if n.startswith(mongodb_backup.ASIDE)}
        assert aside and all(name in error.message for name in aside)
        kept = {name.rsplit(".", 1)[1]: db[name].count_documents({}) for name in aside}
    assert kept == {name: count for name, (count, _) in before.items()}


def test_backup_that_cannot_load_leaves_the_target_untouched(source: Settings, servers: Servers, tmp_path: Path):
    folder = take_backup(source, tmp_path)
    # a backup whose documents break their own unique index (as a copy taken without the _id walk could)
    catalog = mongodb_backup.read_catalog(folder)
    entry = next(e for e in catalog if e["name"] == "event_store")
    data = folder / entry["file"]
    first = next(iter(mongodb_backup._documents(data))).raw
    data.write_bytes(data.read_bytes() + first)
    manifest = json.loads((folder / "manifest.json").read_text())
    for item in manifest["files"]:
        item["size"], item["sha256"] = (folder / item["path"]).stat().st_size, backup.sha256(folder / item["path"])
    (folder / "manifest.json").write_text(json.dumps(manifest))

    target = fresh_settings(servers, "mongodb", create=True)
    with database(target) as db:
        db.create_collection("event_store")
        db.event_store.insert_one({"mine": True})
    before = _state(target)
    done = cli("restore", "--db", "mongodb", "--from", str(folder), "--force", env=env_for(target))
    assert done.returncode == 1 and "loading it into scratch collections" in done.stderr
    assert "E11000" in done.stderr or "duplicate key" in done.stderr
    assert _state(target) == before


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
