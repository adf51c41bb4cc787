"""MongoDB seeding and the system_logs audit sink, run against mongomock (a fake: no MongoDB server can run
here). The same code runs against a real server in test_real_seed_and_sink when one is reachable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dbtools import runner
from dbtools.audit import Event
from dbtools.backends.mongodb import MongoBackend
from dbtools.seed import dataset, load
from dbtools.settings import Settings

COLLECTIONS = [
    "strategy_configs",
    "indicator_metadata",
    "event_store",
    "genetic_algorithm_config",
    "ml_models",
    "system_logs",
]
# mongomock has no $jsonSchema validators: this stand-in for 001_collections_schema creates the collections bare
PLAIN_SCHEMA = (
    "def up(db):\n"
    + "".join(f"    db.create_collection({c!r})\n" for c in COLLECTIONS)
    + ("\n\ndef down(db):\n" + "".join(f"    db.drop_collection({c!r})\n" for c in COLLECTIONS))
)


@pytest.fixture
def schema_dir(tmp_path: Path) -> Path:
    (tmp_path / "mongodb").mkdir()
    (tmp_path / "mongodb" / "001_collections.py").write_text(PLAIN_SCHEMA)
    return tmp_path


def test_seed_documents_mongomock(mock_settings: Settings, schema_dir: Path) -> None:
    runner.migrate("mongodb", migrations_dir=schema_dir, settings=mock_settings, create_db=True)
    data = dataset.build(9, "small", datetime(2026, 11, 1, tzinfo=UTC))
    loaded = load("mongodb", data, settings=mock_settings, migrations_dir=schema_dir)
    backend = MongoBackend(mock_settings)
    backend.connect()
    try:
        configs = list(backend._db.strategy_configs.find({}, {"_id": 0}).sort("strategy_id"))
        pg_ids = list(next(t for t in data.stores["postgres"] if t.target == "strategies").columns["id"])
        assert [c["strategy_id"] for c in configs] == pg_ids  # the stores agree on strategies
        events = list(backend._db.event_store.find({"aggregate_id": "strategy-1"}).sort("version"))
        assert [e["version"] for e in events] == [1, 2, 3]
        assert loaded["event_store"] == backend.count("event_store")
    finally:
        backend.close()
    assert load("mongodb", data, settings=mock_settings, migrations_dir=schema_dir) == {}  # nothing twice


def test_system_logs_sink_mongomock(mock_settings: Settings, schema_dir: Path) -> None:
    runner.migrate("mongodb", migrations_dir=schema_dir, settings=mock_settings, create_db=True)
    backend = MongoBackend(mock_settings)
    backend.connect()
    try:
        backend.write_log(
            [
                Event("postgres", "migrate", "applied", 3, "users", duration_ms=12),
                Event("postgres", "migrate", "failed", 4, "orders", error="boom"),
            ]
        )
        logs = list(backend._db.system_logs.find({}, {"_id": 0}).sort("context.version"))
    finally:
        backend.close()
    assert [(log["level"], log["context"]["version"], log["context"].get("error")) for log in logs] == [
        ("INFO", 3, None),
        ("ERROR", 4, "boom"),
    ]
    assert all(log["source"] == "dbtools" for log in logs)


def test_real_seed_and_sink(mongo: Settings, schema_dir: Path) -> None:
    """The same against a real server (skipped with the reason where none is reachable)."""
    migrations = Path(__file__).resolve().parents[2] / "migrations"
    runner.migrate("mongodb", migrations_dir=migrations, settings=mongo, create_db=True)
    data = dataset.build(9, "small", datetime(2026, 11, 1, tzinfo=UTC))
    assert load("mongodb", data, settings=mongo, migrations_dir=migrations)["strategy_configs"] > 0
