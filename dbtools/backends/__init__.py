"""The store registry: store name -> backend class, imported only when that store is used."""

from __future__ import annotations

import importlib
import os

from dbtools.errors import UsageError

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from dbtools.backends.base import Backend

# Order is the order `--db` defaults run in (the seed's order). A fifth store is one line here.
REGISTRY: dict[str, str] = {
    "clickhouse": "dbtools.backends.clickhouse:ClickHouseBackend",
    "postgres": "dbtools.backends.postgres:PostgresBackend",
    "mongodb": "dbtools.backends.mongodb:MongoBackend",
    "redis": "dbtools.backends.redis:RedisBackend",
}


# Stores kept outside this package (the tests' SQLite store): `name=module:Class`, comma-separated. An
# environment variable rather than a call, so the processes a run starts know the same stores.
EXTRA_ENV = "DBTOOLS_BACKENDS"


def registry() -> dict[str, str]:
    """REGISTRY followed by the stores named in DBTOOLS_BACKENDS."""
    extra = os.environ.get(EXTRA_ENV, "")
    if not extra.strip():
        return REGISTRY
    found = dict(REGISTRY)
    for entry in extra.split(","):
        name, _, target = (part.strip() for part in entry.partition("="))
        if not name or ":" not in target:
            raise UsageError(
                f"{EXTRA_ENV}: {entry.strip()!r} is not name=module:Class",
                hint=f"e.g. {EXTRA_ENV}=sqlite=tests.sqlite.backend:SQLiteBackend, or unset it",
            )
        found[name] = target
    return found


def load(name: str) -> type[Backend]:
    """The backend class for `name`; a UsageError listing the known stores otherwise."""
    known = registry()
    try:
        target = known[name]
    except KeyError:
        raise UsageError(f"unknown store {name!r}", hint=f"use one of: {', '.join(known)}") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("dbtools"):
            raise UsageError(f"store {name!r} is not implemented yet", hint="use one of the others") from None
        raise
    found: type[Backend] = getattr(module, class_name)
    return found


def names_text() -> str:
    """The registered stores for help texts: "clickhouse, postgres, mongodb or redis"."""
    names = list(registry())
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)
