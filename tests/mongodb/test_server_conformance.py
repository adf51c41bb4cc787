"""What dbtools relies on from a MongoDB server, checked on whichever server the sandbox gave (mongod
from Docker or PATH, SecantusDB, or MONGO_URL), and where SecantusDB is known to differ from mongod.

The first group must hold everywhere. The second pins each known difference to the server that shows
it: on mongod it asserts mongod's behaviour, on SecantusDB the documented difference - so a SecantusDB
release that fixes one fails here, and the README's list (testing section) gets updated with it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
import pymongo.errors
import pytest

from dbtools import runner
from dbtools.backends.mongodb import MongoBackend
from dbtools.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SCHEMA = {"$jsonSchema": {"bsonType": "object", "required": ["n"], "properties": {"n": {"bsonType": "int"}}}}


@pytest.fixture
def client(mongo: Settings) -> Iterator[pymongo.MongoClient]:
    connection = MongoBackend(mongo)._make_client()  # the client dbtools itself makes (auth, timeouts)
    yield connection
    connection.close()


@pytest.fixture
def db(client: pymongo.MongoClient, mongo: Settings) -> Any:
    return client[mongo.database]


def flavour(client: pymongo.MongoClient) -> str:
    """`secantusdb` when buildInfo carries SecantusDB's version, else `mongod`."""
    return "secantusdb" if "secantusVersion" in client.admin.command("buildInfo") else "mongod"


# -- what dbtools relies on ------------------------------------------------------------------------


def test_validator_is_enforced_on_insert_and_on_update(db: Any) -> None:
    db.create_collection("checked", validator=SCHEMA, validationLevel="strict", validationAction="error")
    with pytest.raises(pymongo.errors.WriteError) as insert:
        db.checked.insert_one({"n": "text"})
    assert insert.value.code == 121  # DocumentValidationFailure
    db.checked.insert_one({"_id": 1, "n": 1})
    with pytest.raises(pymongo.errors.WriteError) as update:
        db.checked.update_one({"_id": 1}, {"$unset": {"n": ""}})
    assert update.value.code == 121
    assert db.checked.find_one({"_id": 1}) == {"_id": 1, "n": 1}


def test_unique_index_refuses_a_duplicate_with_11000(db: Any) -> None:
    db.items.create_index([("k", 1)], unique=True, name="k_unique")
    db.items.insert_one({"k": 1})
    with pytest.raises(pymongo.errors.DuplicateKeyError) as duplicate:
        db.items.insert_one({"k": 1})
    assert duplicate.value.code == 11000
    with pytest.raises(pymongo.errors.BulkWriteError) as bulk:  # seeding inserts unordered batches
        db.items.insert_many([{"k": 2}, {"k": 2}, {"k": 3}], ordered=False)
    assert [e["code"] for e in bulk.value.details["writeErrors"]] == [11000]
    assert db.items.count_documents({}) == 3


def test_ttl_index_of_the_schema_is_present_with_its_seconds(mongo: Settings, db: Any) -> None:
    runner.migrate("mongodb", migrations_dir=MIGRATIONS, settings=mongo, create_db=True)
    ttl = {name: spec for name, spec in db.system_logs.index_information().items() if "expireAfterSeconds" in spec}
    assert [(spec["key"], spec["expireAfterSeconds"]) for spec in ttl.values()] == [([("ts", 1)], 30 * 24 * 3600)]


def test_expired_lease_is_taken_over_by_exactly_one_of_eight(mongo: Settings, db: Any) -> None:
    """The lock's take-over: an upsert whose filter matches only an expired document. Of eight clients
    racing for one expired lease, one wins; the others collide on _id (11000) and see it held."""
    now = datetime.now(UTC)
    db.lease.insert_one({"_id": "migrate", "token": "dead", "expires_at": now - timedelta(seconds=5)})
    settings = mongo
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def race(token: str) -> None:
        own = MongoBackend(settings)._make_client()
        try:
            start.wait()
            moment = datetime.now(UTC)
            own[db.name].lease.update_one(
                {"_id": "migrate", "expires_at": {"$lt": moment}},
                {"$set": {"token": token, "expires_at": moment + timedelta(seconds=30)}},
                upsert=True,
            )
            outcomes.append(token)
        except pymongo.errors.DuplicateKeyError:
            outcomes.append("refused")
        finally:
            own.close()

    threads = [threading.Thread(target=race, args=(f"run{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [o for o in outcomes if o != "refused"]
    assert len(outcomes) == 8 and len(winners) == 1
    assert db.lease.find_one({"_id": "migrate"})["token"] == winners[0]


def test_collmod_replaces_a_validator(db: Any) -> None:
    db.create_collection("evolving", validator=SCHEMA)
    wider = {"$jsonSchema": {"bsonType": "object", "required": ["n"], "properties": {"n": {"bsonType": "string"}}}}
    db.command("collMod", "evolving", validator=wider, validationLevel="moderate")
    options = db["evolving"].options()
    assert options["validator"] == wider and options["validationLevel"] == "moderate"
    db.evolving.insert_one({"n": "now text"})
    with pytest.raises(pymongo.errors.WriteError) as refused:
        db.evolving.insert_one({"n": 1})
    assert refused.value.code == 121


# -- known differences (listed in the README's "MongoDB in the tests") -----------------------------


def test_rename_keeps_collection_options_on_mongod_only(client: pymongo.MongoClient, db: Any) -> None:
    """dbtools' restore probes this (mongodb/driver_backup.py: rename_keeps_options) and copies where it fails."""
    db.create_collection("before", validator=SCHEMA, capped=True, size=4096)
    client.admin.command("renameCollection", f"{db.name}.before", to=f"{db.name}.after")
    options = db["after"].options()
    kept = options.get("validator") == SCHEMA and options.get("capped") is True
    assert kept == (flavour(client) == "mongod"), f"{flavour(client)}: options after rename: {options}"


@pytest.mark.parametrize(
    "options",
    [{"validator": {"$jsonSchema": {"required": "n"}}}, {"validationLevel": "loose"}],
    ids=["required-not-a-list", "unknown-validation-level"],
)
def test_malformed_validator_is_refused_by_mongod_only(client: pymongo.MongoClient, db: Any, options: dict) -> None:
    try:
        db.create_collection("malformed", **options)
        refused = False
    except pymongo.errors.OperationFailure:
        refused = True
    assert refused == (flavour(client) == "mongod")


def test_index_option_conflict_code(client: pymongo.MongoClient, db: Any) -> None:
    db.idx.create_index([("a", 1)], name="by_a", unique=True)
    with pytest.raises(pymongo.errors.OperationFailure) as conflict:
        db.idx.create_index([("a", 1)], name="by_a", sparse=True)  # same name and key, other options
    assert conflict.value.code == {"mongod": 85, "secantusdb": 86}[flavour(client)]


def test_capped_max_is_enforced_by_mongod_only(client: pymongo.MongoClient, db: Any) -> None:
    db.create_collection("ring", capped=True, size=65536, max=10)
    db.ring.insert_many([{"n": i} for i in range(30)])
    assert db.ring.count_documents({}) == {"mongod": 10, "secantusdb": 30}[flavour(client)]


def test_standalone_transactions_are_refused_by_mongod_only(client: pymongo.MongoClient, db: Any) -> None:
    if client.admin.command("hello").get("setName"):
        pytest.skip("this server is a replica set member: transactions are allowed there")
    try:
        with client.start_session() as session, session.start_transaction():
            db.tx.insert_one({"a": 1}, session=session)
        allowed = True
    except pymongo.errors.OperationFailure:
        allowed = False
    assert allowed == (flavour(client) == "secantusdb")
