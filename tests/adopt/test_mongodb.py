"""migrate-mongo on MongoDB, with migrate-mongo itself (npm) against the MongoDB sandbox: its history adopted;
Global.health's real files laid (its history cannot run on SecantusDB, which has no text indexes)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dbtools.settings import Settings
from tests.adopt.conftest import CORPUS, MIGRATE_MONGO, ROOT, assert_refused, cli
from tests.conftest import Servers, fresh_settings

GLOBALHEALTH = CORPUS / "globalhealth" / "mongodb"


@pytest.fixture
def mongo(servers: Servers) -> Settings:
    """A fresh database on the session's MongoDB sandbox (SecantusDB where no mongod is installed)."""
    return fresh_settings(servers, "mongodb")


def migrate_mongo_up(settings: Settings, workdir: Path, migrations: Path) -> None:
    """`migrate-mongo up` with a config like Global.health's (changelog, .js, no file hash; a numeric lockTtl,
    since migrate-mongo 14 makes a TTL index for its lock), run from `workdir`."""
    if not MIGRATE_MONGO.exists():
        pytest.skip(f"migrate-mongo is not installed: run `npm install` in {ROOT}")
    config = workdir / "migrate-mongo-config.js"
    config.write_text(
        "module.exports = { mongodb: { url: process.env.ADOPT_TEST_MONGO_URL, databaseName: "
        f"{json.dumps(settings.database)}, options: {{}} }}, migrationsDir: {json.dumps(str(migrations))}, "
        "changelogCollectionName: 'changelog', lockCollectionName: 'changelog_lock', lockTtl: 300, "
        "migrationFileExtension: '.js', "
        "useFileHash: false, moduleSystem: 'commonjs' };\n"
    )
    done = subprocess.run(
        [MIGRATE_MONGO, "up", "-f", config],
        cwd=workdir,
        env={**os.environ, "ADOPT_TEST_MONGO_URL": url(settings)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def url(settings: Settings) -> str:
    """The server's URL, as both drivers take it."""
    return settings.url


def env(settings: Settings) -> dict[str, str]:
    return {"MONGO_URL": url(settings)}


def test_globalhealth_files_are_laid_renamed_byte_for_byte(tmp_path: Path) -> None:
    """Global.health's 23 real migrate-mongo files (no server needed for the files step)."""
    migrations = tmp_path / "migrations"
    src = GLOBALHEALTH / "migrations"
    laid = cli("--migrations-dir", migrations, "adopt", "--from", "migrate-mongo", "--files", src, "--db", "mongodb")
    assert laid.returncode == 0, laid.stderr
    assert "20210902121948-initial.js -> 20210902121948_initial.js" in laid.stdout
    originals = sorted(src.glob("*.js"))
    assert len(originals) == 23
    for original in originals:
        assert (migrations / "mongodb" / original.name.replace("-", "_", 1)).read_bytes() == original.read_bytes()


# migrate-mongo's own file form (lib/samples/commonjs/sample-migration.js): module.exports = { up, down }
MIGRATE_MONGO_FILES = {
    "20240101000001-accounts.js": (
        "module.exports = {\n"
        "  async up(db, client) {\n"
        "    await db.createCollection('accounts', { validator: { $jsonSchema: { bsonType: 'object', "
        "required: ['name'] } } });\n"
        "  },\n"
        "  async down(db, client) { await db.collection('accounts').drop(); }\n"
        "};\n"
    ),
    "20240101000002-accounts-name-index.js": (
        "module.exports = {\n"
        "  async up(db, client) { await db.collection('accounts').createIndex({ name: 1 }, { unique: true }); },\n"
        "  async down(db, client) { await db.collection('accounts').dropIndex('name_1'); }\n"
        "};\n"
    ),
    "20240101000003-seed-admin.js": (
        "module.exports = {\n"
        "  async up(db, client) { await db.collection('accounts').insertOne({ name: 'admin' }); },\n"
        "  async down(db, client) { await db.collection('accounts').deleteOne({ name: 'admin' }); }\n"
        "};\n"
    ),
}


def test_migrate_mongo_history_is_adopted_and_dbtools_carries_on(mongo: Settings, tmp_path: Path) -> None:
    src = tmp_path / "migrations-mongo"
    src.mkdir()
    for name, text in MIGRATE_MONGO_FILES.items():
        (src / name).write_text(text)
    migrate_mongo_up(mongo, tmp_path, src)
    migrations = tmp_path / "migrations"
    laid = cli("--migrations-dir", migrations, "adopt", "--from", "migrate-mongo", "--files", src, "--db", "mongodb")
    assert laid.returncode == 0, laid.stderr

    done = cli("--migrations-dir", migrations, "adopt", "--from", "migrate-mongo", "--db", "mongodb", env=env(mongo))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("adopted from migrate-mongo") == 3
    status = json.loads(
        cli("--migrations-dir", migrations, "status", "--json", "--db", "mongodb", env=env(mongo)).stdout
    )
    assert status["mongodb"]["applied"] == [20240101000001, 20240101000002, 20240101000003]
    assert status["mongodb"]["pending"] == [] and set(status["mongodb"]["adopted"].values()) == {"migrate-mongo"}
    assert (
        "adopted from migrate-mongo"
        in cli("--migrations-dir", migrations, "status", "--db", "mongodb", env=env(mongo)).stdout
    )
    assert cli("--migrations-dir", migrations, "validate", "--db", "mongodb", env=env(mongo)).returncode == 0

    (migrations / "mongodb" / "20240101000004_audit_collection.py").write_text(
        "def up(db):\n    db.create_collection('adopt_audit')\n\n\n"
        "def down(db):\n    db.drop_collection('adopt_audit')\n"
    )
    after = cli("--migrations-dir", migrations, "migrate", "--db", "mongodb", env=env(mongo))
    assert after.returncode == 0 and after.stdout.count("applied") == 1, after.stdout + after.stderr

    import pymongo

    client = pymongo.MongoClient(url(mongo))
    try:
        db = client[mongo.database]
        assert db["changelog"].count_documents({}) == 3  # migrate-mongo's, untouched
        assert "adopt_audit" in db.list_collection_names() and db["accounts"].count_documents({}) == 1
    finally:
        client.close()


def test_a_changelog_entry_without_its_file_is_refused(mongo: Settings, tmp_path: Path) -> None:
    import pymongo

    migrations = tmp_path / "migrations"
    (migrations / "mongodb").mkdir(parents=True)
    client = pymongo.MongoClient(url(mongo))
    try:
        from datetime import UTC, datetime

        client[mongo.database]["changelog"].insert_one(
            {"fileName": "20240101000000-init.js", "appliedAt": datetime.now(UTC)}
        )
    finally:
        client.close()
    (migrations / "mongodb" / "20240102000000_next.py").write_text("def up(db):\n    pass\n")
    done = cli("--migrations-dir", migrations, "adopt", "--from", "migrate-mongo", "--db", "mongodb", env=env(mongo))
    assert_refused(done, "20240101000000-init.js as applied", "no file")
    assert (
        json.loads(cli("--migrations-dir", migrations, "status", "--json", "--db", "mongodb", env=env(mongo)).stdout)[
            "mongodb"
        ]["applied"]
        == []
    )


def test_a_server_error_while_reading_the_changelog_is_one_line(mongo: Settings, tmp_path: Path) -> None:
    """`changelog` exists but the server cannot read it (a view whose pipeline fails): one error line naming
    it and the server's words, one hint, no traceback, nothing written."""
    import pymongo

    client = pymongo.MongoClient(url(mongo))
    try:
        db = client[mongo.database]
        db["source"].insert_one({"fileName": "20240101000000-init.js"})
        db.command("create", "changelog", viewOn="source", pipeline=[{"$project": {"n": {"$divide": [1, 0]}}}])
    finally:
        client.close()
    migrations = tmp_path / "migrations"
    (migrations / "mongodb").mkdir(parents=True)
    (migrations / "mongodb" / "20240101000000_init.py").write_text("def up(db):\n    pass\n")
    done = cli("--migrations-dir", migrations, "adopt", "--from", "migrate-mongo", "--db", "mongodb", env=env(mongo))
    assert_refused(done, "could not read changelog")
    assert "migrations" not in pymongo.MongoClient(url(mongo))[mongo.database].list_collection_names()
