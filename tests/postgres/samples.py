"""PostgreSQL's samples for the conformance suite (tests/conformance/samples.py)."""

from __future__ import annotations

from typing import Any

from tests.conformance.samples import Samples


def _objects(snapshot: dict[str, Any]) -> set[str]:
    return {row[0].split(".", 1)[1] for row in snapshot["relations"]}


SAMPLES = Samples(
    ext="sql",
    create=lambda i: f"-- migrate:up\nCREATE TABLE t{i} (id int);\n-- migrate:down\nDROP TABLE t{i};\n",
    failing=lambda i, fixed: (
        f"-- migrate:up\nCREATE TABLE part_{i} (id int);\n"
        + ("SELECT 1;\n" if fixed else "SELECT * FROM no_such_table;\n")
        + f"-- migrate:down\nDROP TABLE part_{i};\n"
    ),
    slow=lambda seconds: f"SELECT pg_sleep({seconds});\n",
    objects=_objects,
)
