"""The platform's MongoDB collections: $jsonSchema validators, identity indexes, a TTL on logs and an
append-only event store (one document per aggregate id and version).

`up(db)` / `down(db)` receive a pymongo Database. Re-running `up` is safe: existing collections get
their validator replaced (collMod) and indexes are created only if missing.
"""

from __future__ import annotations

from typing import Any

LOG_RETENTION_SECONDS = 30 * 24 * 3600

TIMEFRAMES = ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]


def _schema(description: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "$jsonSchema": {
            "bsonType": "object",
            "description": description,
            "required": required,
            "properties": properties,
        }
    }


COLLECTIONS: dict[str, dict[str, Any]] = {
    # Full JSON configuration of a strategy version; strategy_id is PostgreSQL's strategies.id.
    "strategy_configs": _schema(
        "Full JSON configuration of each strategy version",
        ["strategy_id", "version", "name", "parameters", "created_at"],
        {
            "strategy_id": {"bsonType": ["int", "long"], "minimum": 1},
            "version": {"bsonType": "int", "minimum": 1},
            "name": {"bsonType": "string", "minLength": 1},
            "symbols": {"bsonType": "array", "items": {"bsonType": "string"}},
            "timeframe": {"enum": TIMEFRAMES},
            "parameters": {"bsonType": "object"},
            "risk": {
                "bsonType": "object",
                "properties": {
                    "max_position_pct": {"bsonType": "double", "minimum": 0, "maximum": 1},
                    "stop_loss_pct": {"bsonType": "double", "minimum": 0, "maximum": 1},
                    "take_profit_pct": {"bsonType": "double", "minimum": 0},
                },
            },
            "created_at": {"bsonType": "date"},
            "updated_at": {"bsonType": "date"},
        },
    ),
    "indicator_metadata": _schema(
        "What each indicator is: parameters, outputs, category",
        ["name", "category", "parameters", "outputs"],
        {
            "name": {"bsonType": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "display_name": {"bsonType": "string"},
            "category": {"enum": ["trend", "momentum", "volatility", "volume", "other"]},
            "parameters": {
                "bsonType": "array",
                "items": {
                    "bsonType": "object",
                    "required": ["name", "type"],
                    "properties": {"name": {"bsonType": "string"}, "type": {"enum": ["int", "float", "str", "bool"]}},
                },
            },
            "outputs": {"bsonType": "array", "minItems": 1, "items": {"bsonType": "string"}},
            "description": {"bsonType": "string"},
        },
    ),
    "system_logs": _schema(
        "System and dbtools logs, kept 30 days",
        ["ts", "level", "source", "message"],
        {
            "ts": {"bsonType": "date"},
            "level": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]},
            "source": {"bsonType": "string"},
            "message": {"bsonType": "string"},
            "context": {"bsonType": "object"},
        },
    ),
    # Event sourcing: events are only ever inserted; (aggregate_id, version) is unique, so two
    # writers appending the same version to one aggregate cannot both succeed.
    "event_store": _schema(
        "Event sourcing: append-only events per aggregate and version",
        ["aggregate_type", "aggregate_id", "version", "event_type", "payload", "occurred_at"],
        {
            "aggregate_type": {"bsonType": "string"},
            "aggregate_id": {"bsonType": "string"},
            "version": {"bsonType": ["int", "long"], "minimum": 1},
            "event_type": {"bsonType": "string"},
            "payload": {"bsonType": "object"},
            "metadata": {"bsonType": "object"},
            "occurred_at": {"bsonType": "date"},
        },
    ),
    "ml_models": _schema(
        "Metadata of machine-learning models and their versions",
        ["name", "version", "framework", "status", "created_at"],
        {
            "name": {"bsonType": "string"},
            "version": {"bsonType": "int", "minimum": 1},
            "framework": {"bsonType": "string"},
            "task": {"enum": ["classification", "regression", "forecasting", "reinforcement"]},
            "status": {"enum": ["training", "ready", "deployed", "archived", "failed"]},
            "features": {"bsonType": "array", "items": {"bsonType": "string"}},
            "metrics": {"bsonType": "object"},
            "artifact_uri": {"bsonType": "string"},
            "created_at": {"bsonType": "date"},
        },
    ),
    "genetic_algorithm_config": _schema(
        "Genetic-algorithm settings per strategy",
        ["strategy_id", "name", "population_size", "generations", "mutation_rate", "crossover_rate"],
        {
            "strategy_id": {"bsonType": ["int", "long"], "minimum": 1},
            "name": {"bsonType": "string"},
            "population_size": {"bsonType": "int", "minimum": 2},
            "generations": {"bsonType": "int", "minimum": 1},
            "mutation_rate": {"bsonType": "double", "minimum": 0, "maximum": 1},
            "crossover_rate": {"bsonType": "double", "minimum": 0, "maximum": 1},
            "elitism": {"bsonType": "int", "minimum": 0},
            "selection": {"enum": ["tournament", "roulette", "rank"]},
            "gene_space": {"bsonType": "object"},
        },
    ),
}

# (collection, keys, options)
INDEXES: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
    ("strategy_configs", [("strategy_id", 1), ("version", -1)], {"unique": True, "name": "strategy_version"}),
    ("indicator_metadata", [("name", 1)], {"unique": True, "name": "name"}),
    ("system_logs", [("ts", 1)], {"expireAfterSeconds": LOG_RETENTION_SECONDS, "name": "ts_ttl"}),
    ("system_logs", [("source", 1), ("ts", -1)], {"name": "source_ts"}),
    ("system_logs", [("level", 1), ("ts", -1)], {"name": "level_ts"}),
    ("event_store", [("aggregate_id", 1), ("version", 1)], {"unique": True, "name": "aggregate_version"}),
    ("event_store", [("event_type", 1), ("occurred_at", 1)], {"name": "type_time"}),
    ("ml_models", [("name", 1), ("version", -1)], {"unique": True, "name": "name_version"}),
    ("ml_models", [("status", 1)], {"name": "status"}),
    ("genetic_algorithm_config", [("strategy_id", 1), ("name", 1)], {"unique": True, "name": "strategy_name"}),
]


def up(db: Any) -> None:
    """Create (or re-validate) every collection, then its indexes."""
    existing = set(db.list_collection_names())
    for name, validator in COLLECTIONS.items():
        if name in existing:
            db.command("collMod", name, validator=validator, validationLevel="strict", validationAction="error")
        else:
            db.create_collection(name, validator=validator, validationLevel="strict", validationAction="error")
    for collection, keys, options in INDEXES:
        db[collection].create_index(keys, **options)


def down(db: Any) -> None:
    """Drop the collections this migration created (and their data)."""
    for name in COLLECTIONS:
        db.drop_collection(name)
