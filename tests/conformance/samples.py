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


SAMPLES: dict[str, Samples] = {
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
}
