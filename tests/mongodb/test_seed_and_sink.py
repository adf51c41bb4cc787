"""MongoDB seeding and the system_logs audit sink on a real server (the project's schema, validators on)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dbtools import runner
from dbtools.audit import Event
from dbtools.backends.mongodb import MongoBackend
from dbtools.seed import dataset, load
from dbtools.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def connected(settings: Settings) -> MongoBackend:
    backend = MongoBackend(settings)
    backend.connect()
    return backend


def test_seed_documents_agree_with_the_other_stores_and_load_once(mongo: Settings) -> None:
    runner.migrate("mongodb", migrations_dir=MIGRATIONS, settings=mongo, create_db=True)
    data = dataset.build(9, "small", datetime(2026, 11, 1, tzinfo=UTC))
    loaded = load("mongodb", data, settings=mongo, migrations_dir=MIGRATIONS)
    backend = connected(mongo)
    try:
        configs = list(backend.db.strategy_configs.find({}, {"_id": 0}).sort("strategy_id"))
        pg_ids = list(next(t for t in data.stores["postgres"] if t.target == "strategies").columns["id"])
        assert [c["strategy_id"] for c in configs] == pg_ids  # the stores agree on strategies
        events = list(backend.db.event_store.find({"aggregate_id": "strategy-1"}).sort("version"))
        assert [e["version"] for e in events] == [1, 2, 3]
        assert loaded["event_store"] == backend.count("event_store") > 0
        assert loaded["strategy_configs"] == len(configs)
    finally:
        backend.close()
    assert load("mongodb", data, settings=mongo, migrations_dir=MIGRATIONS) == {}  # nothing twice


def test_system_logs_sink_writes_documents_the_validator_accepts(mongo: Settings) -> None:
    runner.migrate("mongodb", migrations_dir=MIGRATIONS, settings=mongo, create_db=True)
    backend = connected(mongo)
    try:
        backend.write_log(
            [
                Event("postgres", "migrate", "applied", 3, "users", duration_ms=12),
                Event("postgres", "migrate", "failed", 4, "orders", error="boom"),
            ]
        )
        logs = list(backend.db.system_logs.find({}, {"_id": 0}).sort("context.version"))
    finally:
        backend.close()
    assert [(log["level"], log["context"]["version"], log["context"].get("error")) for log in logs] == [
        ("INFO", 3, None),
        ("ERROR", 4, "boom"),
    ]
    assert all(log["source"] == "dbtools" for log in logs)
