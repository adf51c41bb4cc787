"""MongoDB from the command line, as users run it, on the sandbox's server: migrate (Python and mongosh
JavaScript files), status, seed, rollback; and the one line a user gets where mongosh is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbtools.backends.mongodb import MongoBackend
from dbtools.settings import Settings
from tests.mongodb.conftest import need_mongosh

ROOT = Path(__file__).resolve().parents[2]
JS = """// a JavaScript migration, run by mongosh
function up(db) {
  db.createCollection("js_made", { validator: { $jsonSchema: { required: ["name"] } } });
  db.js_made.createIndex({ name: 1 }, { unique: true, name: "name_unique" });
}

function down(db) {
  db.js_made.drop();
}
"""


def run(mongo: Settings, mdir: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DBTOOLS_"))}
    env.update(DBTOOLS_AUDIT="off", MONGO_URL=f"mongodb://{mongo.host}:{mongo.port}/{mongo.database}")
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "dbtools", "--no-env-file", "--migrations-dir", str(mdir), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def state(mongo: Settings, mdir: Path) -> dict:
    done = run(mongo, mdir, "status", "--json", "--db", "mongodb")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["mongodb"]


def collections(mongo: Settings) -> set[str]:
    backend = MongoBackend(mongo)
    backend.connect(create_database=True)
    try:
        return set(backend.db.list_collection_names())
    finally:
        backend.close()


@pytest.fixture
def mdir(tmp_path: Path) -> Path:
    (tmp_path / "mongodb").mkdir()
    shutil.copy(ROOT / "migrations" / "mongodb" / "001_collections_schema.py", tmp_path / "mongodb")
    (tmp_path / "mongodb" / "002_js_made.js").write_text(JS)
    return tmp_path


def test_migrate_status_seed_and_rollback(mongo: Settings, mdir: Path) -> None:
    mongosh_dir = str(Path(need_mongosh()).parent)  # the project's node_modules/.bin: mdir is in /tmp
    path = f"{mongosh_dir}{os.pathsep}{os.environ['PATH']}"
    done = run(mongo, mdir, "migrate", "--db", "mongodb", "--create-db", path=path)
    assert done.returncode == 0, done.stderr
    assert "001_collections_schema" in done.stdout and "002_js_made" in done.stdout
    now = state(mongo, mdir)
    assert (now["current"], now["applied"], now["pending"], now["failed"]) == (2, [1, 2], [], [])
    assert {"strategy_configs", "system_logs", "js_made"} <= collections(mongo)

    seeded = run(mongo, mdir, "seed", "--db", "mongodb")
    assert seeded.returncode == 0, seeded.stderr
    assert "mongodb: loaded" in seeded.stdout

    back = run(mongo, mdir, "rollback", "--steps", "1", "--db", "mongodb", path=path)
    assert back.returncode == 0, back.stderr
    assert "js_made" not in collections(mongo) and state(mongo, mdir)["pending"] == [2]
    back = run(mongo, mdir, "rollback", "--to", "0", "--db", "mongodb", path=path)
    assert back.returncode == 0, back.stderr
    assert not collections(mongo) - {"migrations", "migration_lock"}
    assert state(mongo, mdir)["pending"] == [1, 2]


def test_missing_mongosh_is_one_line_and_nothing_runs(mongo: Settings, mdir: Path) -> None:
    (mdir / "mongodb" / "001_collections_schema.py").unlink()
    python_only = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "mongosh").exists())
    done = run(mongo, mdir, "migrate", "--db", "mongodb", "--create-db", path=python_only)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0] == (
        "error: mongodb: 002_js_made.js is a JavaScript migration and mongosh is not installed; nothing ran"
    )
    assert lines[1].startswith("hint: run `npm install` in the project") and len(lines) == 2
    assert state(mongo, mdir)["applied"] == []
