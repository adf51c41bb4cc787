"""Per-store sample migrations for the conformance suite: one entry per store, nothing else store-specific.

A store's entry says how to write a migration that creates object `t{i}`, one whose second statement
fails (after a first that creates `part_{i}`), one that is slow, and how to list objects in a snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Samples:
    ext: str
    create: Callable[[int], str]  # migration creating object t{i}, with a down section
    failing: Callable[[int, bool], str]  # statement 1 creates part_{i}; statement 2 fails unless fixed
    slow: Callable[[float], str]  # a migration that runs for about `seconds`
    objects: Callable[[dict[str, Any]], set[str]]  # object names in a snapshot
    multiprocess: bool = True  # several processes may open the store at once


def _pg_objects(snapshot: dict[str, Any]) -> set[str]:
    return {row[0].split(".", 1)[1] for row in snapshot["relations"]}


def _script(up: str, down: str) -> str:
    """A Python migration (MongoDB, Redis): `up` and `down` bodies, one statement per line."""
    return f"import time\n\n\ndef up(c):\n    {up}\n\n\ndef down(c):\n    {down}\n"


def _failing_script(create: str, drop: str, fixed: bool, fail: str) -> str:
    """Two steps: the first creates, the second fails unless fixed (see dbtools.scripts on steps)."""
    second = "pass" if fixed else fail
    return (
        f"def create(c):\n    {create}\n\n\ndef second(c):\n    {second}\n\n\n"
        f"up = [create, second]\n\n\ndef down(c):\n    {drop}\n"
    )


def _redis_objects(snapshot: dict[str, Any]) -> set[str]:
    return set(snapshot["keys"])


def _mongo_objects(snapshot: dict[str, Any]) -> set[str]:
    return set(snapshot["collections"])


def _clickhouse_objects(snapshot: dict[str, Any]) -> set[str]:
    return {row[0] for row in snapshot["tables"]}


SAMPLES: dict[str, Samples] = {
    "clickhouse": Samples(
        ext="sql",
        create=lambda i: (
            f"-- migrate:up\nCREATE TABLE t{i} (id UInt32) ENGINE = MergeTree ORDER BY id;\n"
            f"-- migrate:down\nDROP TABLE t{i};\n"
        ),
        failing=lambda i, fixed: (
            f"-- migrate:up\nCREATE TABLE part_{i} (id UInt32) ENGINE = MergeTree ORDER BY id;\n"
            + ("SELECT 1;\n" if fixed else "SELECT * FROM no_such_table;\n")
            + f"-- migrate:down\nDROP TABLE part_{i};\n"
        ),
        slow=lambda seconds: f"SELECT sleepEachRow({seconds / 10}) FROM numbers(10) FORMAT Null;\n",
        objects=_clickhouse_objects,
    ),
    "postgres": Samples(
        ext="sql",
        create=lambda i: f"-- migrate:up\nCREATE TABLE t{i} (id int);\n-- migrate:down\nDROP TABLE t{i};\n",
        failing=lambda i, fixed: (
            f"-- migrate:up\nCREATE TABLE part_{i} (id int);\n"
            + ("SELECT 1;\n" if fixed else "SELECT * FROM no_such_table;\n")
            + f"-- migrate:down\nDROP TABLE part_{i};\n"
        ),
        slow=lambda seconds: f"SELECT pg_sleep({seconds});\n",
        objects=_pg_objects,
    ),
    "mongodb": Samples(
        ext="py",
        create=lambda i: _script(f"c.create_collection('t{i}')", f"c.drop_collection('t{i}')"),
        failing=lambda i, fixed: _failing_script(
            f"c.create_collection('part_{i}')", f"c.drop_collection('part_{i}')", fixed, "c.command('no_such_command')"
        ),
        slow=lambda seconds: _script(f"time.sleep({seconds})", "pass"),
        objects=_mongo_objects,
    ),
    "redis": Samples(
        ext="py",
        create=lambda i: _script(f"c.hset('t{i}', 'v', '1')", f"c.delete('t{i}')"),
        failing=lambda i, fixed: _failing_script(
            f"c.hset('part_{i}', 'v', '1')", f"c.delete('part_{i}')", fixed, "c.execute_command('NO_SUCH_COMMAND')"
        ),
        slow=lambda seconds: _script(f"time.sleep({seconds})", "pass"),
        objects=_redis_objects,
    ),
}
