"""MongoDB specifics: history, resume, the lease lock, mongosh scripts, settings and connection errors.

Every test runs on a real server process (see conftest.py: MONGO_URL, Docker, mongod or SecantusDB), except
the settings and connection-error tests, which need none.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbtools import runner
from dbtools.backends.mongodb import MongoBackend
from dbtools.backends.mongodb.history import HISTORY
from dbtools.errors import (
    ConnectionFailed,
    DatabaseMissing,
    HistoryMismatch,
    LeaseLost,
    LockTimeout,
    MigrationFailed,
)
from dbtools.sandbox import free_port
from dbtools.settings import Settings, from_env
from tests.conftest import Servers
from tests.mongodb.conftest import need_mongosh

REPO = Path(__file__).resolve().parents[2]

CREATE = """def up(db):
    db.create_collection("t{i}")
    db["t{i}"].create_index("symbol", name="by_symbol")


def down(db):
    db.drop_collection("t{i}")
"""

STEPS = """def create(db):
    db.create_collection("part")


def fill(db):
    {fill}


up = [create, fill]


def down(db):
    db.drop_collection("part")
"""


def write(mdir: Path, version: int, text: str, ext: str = "py") -> Path:
    path = mdir / "mongodb" / f"{version:03d}_m{version}.{ext}"
    path.write_text(text)
    return path


def connected(settings: Settings, *, create: bool = False) -> MongoBackend:
    backend = MongoBackend(settings)
    backend.connect(create_database=create)
    return backend


# -- settings and connection errors (no server needed) -------------------------------------------


def test_seed_defaults_authenticate_against_admin() -> None:
    settings = from_env("mongodb", MongoBackend.defaults, {})
    assert (settings.host, settings.port, settings.user, settings.database) == (
        "localhost",
        27017,
        "admin",
        "trading_meta",
    )
    backend = MongoBackend(settings)
    assert backend.uri() == "mongodb://localhost:27017/trading_meta?authSource=admin"
    assert "password" not in backend.uri() and ":password@" in backend.uri(credentials=True)


def test_url_auth_source_and_srv_are_respected() -> None:
    env = {"MONGO_URL": "mongodb+srv://app:s3cret@cluster0.example.net/meta?authSource=meta&retryWrites=true"}
    backend = MongoBackend(from_env("mongodb", MongoBackend.defaults, env))
    assert backend.uri() == "mongodb+srv://cluster0.example.net/meta?retryWrites=true&authSource=meta"
    no_auth = MongoBackend(from_env("mongodb", MongoBackend.defaults, {"MONGO_URL": "mongodb://h:27018/x"}))
    assert no_auth.uri() == "mongodb://h:27018/x"  # no password: nothing authenticates


def test_server_down_is_one_clear_line() -> None:
    port = free_port()
    settings = Settings("mongodb", "mongodb", "127.0.0.1", port, "x", "admin", "hunter2", source="MONGO_URL")
    started = time.monotonic()
    with pytest.raises(ConnectionFailed) as failure:
        connected(settings)
    assert time.monotonic() - started < 8  # short server selection, not pymongo's 30 s
    message = failure.value.message
    assert message == f"mongodb at 127.0.0.1:{port}: connection refused; is MongoDB running there?"
    assert "hunter2" not in message + (failure.value.hint or "")


def test_wrong_port_names_the_port(servers: Servers) -> None:
    redis = servers.get("redis")  # a real server that is not MongoDB and never answers its handshake
    settings = Settings(
        "mongodb", "mongodb", redis.host, redis.port, "x", "", "", query={"serverSelectionTimeoutMS": "800"}
    )
    with pytest.raises(ConnectionFailed) as failure:
        connected(settings)
    assert failure.value.message == f"mongodb at {redis.address}: no MongoDB server answered within 0.8 s"
    assert f"is {redis.port} the MongoDB port" in failure.value.hint


def test_authentication_failure_maps_to_one_line() -> None:
    from pymongo.errors import OperationFailure

    settings = Settings("mongodb", "mongodb", "db.example", 27017, "trading_meta", "admin", "hunter2")
    error = MongoBackend(settings)._connection_error(OperationFailure("Authentication failed.", code=18))
    assert error.message == "mongodb at db.example:27017: authentication failed for user 'admin' (authSource=admin)"
    assert "MONGO_PASSWORD" in error.hint and "authSource" in error.hint


# -- backend logic on the real server ---------------------------------------------------------------


def test_missing_database_needs_create_db(mongo: Settings) -> None:
    with pytest.raises(DatabaseMissing, match="does not exist") as missing:
        connected(mongo)
    assert "--create-db" in missing.value.hint
    backend = connected(mongo, create=True)
    assert HISTORY in backend.db.list_collection_names()
    assert backend.db[HISTORY].index_information()["version_unique"]["unique"]


def test_history_apply_and_rollback(mongo: Settings, mdir: Path) -> None:
    for i in (1, 2, 3):
        write(mdir, i, CREATE.format(i=i))
    done = runner.migrate("mongodb", migrations_dir=mdir, settings=mongo, create_db=True)
    assert [row.version for row in done] == [1, 2, 3]
    backend = connected(mongo)
    rows = backend.history()
    assert [(r.version, r.status, r.statements_done) for r in rows] == [(1, "applied", 1)] + [
        (v, "applied", 1) for v in (2, 3)
    ]
    assert rows[0].applied_at is not None and rows[0].applied_at.tzinfo is not None
    assert {"t1", "t2", "t3"} <= set(backend.db.list_collection_names())
    assert runner.migrate("mongodb", migrations_dir=mdir, settings=mongo) == []
    assert runner.rollback("mongodb", steps=2, migrations_dir=mdir, settings=mongo) == [3, 2]
    assert [r.version for r in backend.history()] == [1]
    assert not {"t2", "t3"} & set(backend.db.list_collection_names())


def test_failed_step_is_recorded_and_resumed(mongo: Settings, mdir: Path) -> None:
    path = write(mdir, 1, STEPS.format(fill='raise RuntimeError("bad data in part")'))
    with pytest.raises(MigrationFailed) as failure:
        runner.migrate("mongodb", migrations_dir=mdir, settings=mongo, create_db=True)
    assert "001_m1.py line 5, statement 2 of 2: RuntimeError: bad data in part" in failure.value.message
    (row,) = connected(mongo).history()
    assert (row.status, row.statements_done, row.statements_total) == ("failed", 1, 2)
    path.write_text(STEPS.format(fill='db["part"].insert_one({"ok": True})'))
    with pytest.raises(HistoryMismatch, match="failed in statement 2 of 2"):  # step 2 may have done part
        runner.migrate("mongodb", migrations_dir=mdir, settings=mongo)
    runner.migrate("mongodb", migrations_dir=mdir, settings=mongo, step_choice="rerun")
    backend = connected(mongo)
    assert [(r.status, r.statements_done) for r in backend.history()] == [("applied", 2)]
    assert backend.db["part"].count_documents({}) == 1  # step 1 did not run twice (it would have failed)


def test_editing_a_done_step_blocks_resume(mongo: Settings, mdir: Path) -> None:
    path = write(mdir, 1, STEPS.format(fill="raise RuntimeError('no')"))
    with pytest.raises(MigrationFailed):
        runner.migrate("mongodb", migrations_dir=mdir, settings=mongo, create_db=True)
    path.write_text(STEPS.format(fill="pass").replace('create_collection("part")', 'create_collection("other")'))
    with pytest.raises(HistoryMismatch, match="were edited since"):
        runner.migrate("mongodb", migrations_dir=mdir, settings=mongo, resume=True)


def test_foreign_history_document_is_refused(mongo: Settings) -> None:
    backend = connected(mongo, create=True)
    backend.db[HISTORY].insert_one({"name": "001_collections_schema.js", "applied": True})
    with pytest.raises(HistoryMismatch, match="did not write") as refused:
        backend.history()
    assert "baseline" in refused.value.hint


def test_lock_excludes_renews_and_is_taken_over_after_expiry(mongo: Settings) -> None:
    ttl = mongo._replace(options={"lock_ttl": "2"})
    holder, other = connected(ttl, create=True), connected(ttl)
    with holder.lock(1):
        time.sleep(2.5)  # longer than the TTL: only renewal (every third of it) keeps it ours
        assert holder.lock_lost() is None
        with pytest.raises(LockTimeout, match="held by dbtools") as waited:
            with other.lock(0.2):
                pass
        assert "unlock --force --db mongodb" in waited.value.hint
    assert other.lock_holder() is None
    # a dead run: its lease is never renewed, and is taken over only once it has expired
    from datetime import timedelta

    assert holder._take("dead-run", timedelta(seconds=2))
    started = time.monotonic()
    with other.lock(10):
        assert time.monotonic() - started >= 1.5
        assert other.lock_holder() is not None


def test_broken_lock_stops_the_run_before_its_next_step(mongo: Settings, mdir: Path) -> None:
    ttl = mongo._replace(options={"lock_ttl": "0.6"})
    write(mdir, 1, STEPS.format(fill="pass"))
    runner_backend = connected(ttl, create=True)
    breaker = connected(ttl)
    with runner_backend.lock(1):
        assert breaker.break_lock().startswith("deleted the lock of dbtools")
        deadline = time.monotonic() + 20  # a heartbeat (every 0.2 s) finds the lock gone
        while runner_backend.lock_lost() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "lock was lost" in (runner_backend.lock_lost() or "")
        from dbtools.migrations import discover

        (m,) = discover(mdir / "mongodb", "mongodb", MongoBackend.extensions)
        with pytest.raises(LeaseLost, match="lost the migration lock"):
            runner_backend.apply(m, runner_backend.split(m))
    assert runner_backend.history() == []  # a run that lost its lock writes no history (another may hold it)


def test_cli_connection_error_is_one_line_without_secret(tmp_path: Path) -> None:
    (tmp_path / "mongodb").mkdir()
    url = f"mongodb://admin:hunter2@127.0.0.1:{free_port()}/x?serverSelectionTimeoutMS=500"
    done = subprocess.run(
        [sys.executable, "-m", "dbtools", "--migrations-dir", str(tmp_path), "status", "--db", "mongodb"],
        env={**os.environ, "MONGO_URL": url},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[0].endswith("connection refused; is MongoDB running there?")
    assert done.stderr.splitlines()[1].startswith("hint: start it, or check MONGO_URL")
    assert "hunter2" not in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_seed_schema_round_trip(mongo: Settings) -> None:
    mdir = REPO / "migrations"
    runner.migrate("mongodb", migrations_dir=mdir, settings=mongo, create_db=True)
    backend = connected(mongo)
    applied = backend.snapshot()
    assert {"strategy_configs", "system_logs", "event_store"} <= set(applied["collections"])
    assert applied["collections"]["strategy_configs"]["options"]["validator"]
    runner.rollback("mongodb", to=0, migrations_dir=mdir, settings=mongo)
    assert backend.snapshot() == {"collections": {}}
    runner.migrate("mongodb", migrations_dir=mdir, settings=mongo)
    assert backend.snapshot() == applied
    backend.close()


def test_lock_excludes_another_process(mongo: Settings) -> None:
    backend = connected(mongo, create=True)
    env = {**os.environ, "MONGO_URL": backend.uri(credentials=True), "MONGO_LOCK_TTL": "2"}
    code = (
        "import time\nfrom dbtools import backends, runner\n"
        "b = backends.load('mongodb')(runner.settings_for('mongodb'))\nb.connect()\n"
        "with b.lock(5):\n    print('locked', flush=True)\n    time.sleep(30)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        time.sleep(2.5)  # past the 2 s TTL: the holder's heartbeat keeps it
        with pytest.raises(LockTimeout, match="held by dbtools"):
            with backend.lock(0.5):
                pass
        holder.kill()
        holder.wait()
        with backend.lock(5):  # the dead holder's lease expires, then it is taken over
            pass
    finally:
        holder.kill()
        backend.close()


def test_js_migration_runs_in_mongosh(mongo: Settings, mdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(need_mongosh()).parent}{os.pathsep}{os.environ['PATH']}")  # mdir is in /tmp
    write(
        mdir,
        1,
        "function up(db) { db.createCollection('js_made'); }\nfunction down(db) { db.js_made.drop(); }\n",
        ext="js",
    )
    write(mdir, 2, "db.createCollection('seed_style');\n", ext="js")
    write(mdir, 3, "function up(db) { db.nope.insertOne({_id: 1}); db.nope.insertOne({_id: 1}); }\n", ext="js")
    with pytest.raises(MigrationFailed, match="E11000"):
        runner.migrate("mongodb", migrations_dir=mdir, settings=mongo, create_db=True)
    backend = connected(mongo)
    assert {"js_made", "seed_style"} <= set(backend.db.list_collection_names())
    assert [(r.version, r.status) for r in backend.history()] == [(1, "applied"), (2, "applied"), (3, "failed")]
    backend.close()
