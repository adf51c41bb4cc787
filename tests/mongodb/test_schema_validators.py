"""The platform's MongoDB schema on a real server (skipped with the reason where none is reachable):
validators reject bad documents, identity indexes are unique, logs expire."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pymongo.errors
import pytest

from dbtools import runner
from dbtools.backends.mongodb import MongoBackend
from dbtools.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.fixture
def db(mongo: Settings):
    runner.migrate("mongodb", migrations_dir=MIGRATIONS, settings=mongo, create_db=True)
    backend = MongoBackend(mongo)
    backend.connect()
    yield backend.db
    backend.close()


@pytest.mark.parametrize(
    ("collection", "document"),
    [
        ("strategy_configs", {"strategy_id": 1, "version": 1, "name": "x", "created_at": datetime.now(UTC)}),
        (
            "strategy_configs",
            {
                "strategy_id": 1,
                "version": 1,
                "name": "x",
                "parameters": {},
                "timeframe": "7m",
                "created_at": datetime.now(UTC),
            },
        ),
        ("system_logs", {"ts": datetime.now(UTC), "level": "LOUD", "source": "x", "message": "m"}),
        (
            "genetic_algorithm_config",
            {
                "strategy_id": 1,
                "name": "g",
                "population_size": 1,
                "generations": 1,
                "mutation_rate": 0.1,
                "crossover_rate": 0.5,
            },
        ),
    ],
)
def test_validator_rejects_a_bad_document(db, collection: str, document: dict) -> None:
    with pytest.raises(pymongo.errors.WriteError):
        db[collection].insert_one(document)


def test_event_store_is_append_only_per_aggregate_version(db) -> None:
    event = {
        "aggregate_type": "strategy",
        "aggregate_id": "s-1",
        "version": 1,
        "event_type": "Created",
        "payload": {},
        "occurred_at": datetime.now(UTC),
    }
    db.event_store.insert_one(dict(event))
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        db.event_store.insert_one(dict(event))


def test_system_logs_expire(db) -> None:
    ttl = [spec for spec in db.system_logs.index_information().values() if "expireAfterSeconds" in spec]
    assert ttl and ttl[0]["key"] == [("ts", 1)]
