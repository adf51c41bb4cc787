"""The store registry: store name -> backend class, imported only when that store is used."""

from __future__ import annotations

import importlib

from dbtools.errors import UsageError

# Order is the order `--db` defaults run in (the seed's order). A fifth store is one line here.
REGISTRY: dict[str, str] = {
    "clickhouse": "dbtools.backends.clickhouse:ClickHouseBackend",
    "postgres": "dbtools.backends.postgres:PostgresBackend",
    "mongodb": "dbtools.backends.mongodb:MongoBackend",
    "redis": "dbtools.backends.redis:RedisBackend",
}


def load(name: str) -> type:
    """The backend class for `name`; a UsageError listing the known stores otherwise."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown store {name!r}", hint=f"use one of: {', '.join(REGISTRY)}") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("dbtools"):
            raise UsageError(f"store {name!r} is not implemented yet", hint="use one of the others") from None
        raise
    return getattr(module, class_name)
