"""The SQLite store's samples for the conformance suite (tests/conformance picks up tests/<store>/samples.py)."""

from __future__ import annotations

from tests.conformance.samples import Samples

SAMPLES = Samples(
    ext="sql",
    create=lambda i: f"-- migrate:up\nCREATE TABLE t{i} (id int);\n-- migrate:down\nDROP TABLE t{i};\n",
    failing=lambda i, fixed: (
        f"-- migrate:up\nCREATE TABLE part_{i} (id int);\n"
        + ("SELECT 1;\n" if fixed else "SELECT * FROM no_such_table;\n")
        + f"-- migrate:down\nDROP TABLE part_{i};\n"
    ),
    slow=lambda seconds: (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT "
        f"{int(seconds * 3_000_000)}) SELECT count(*) FROM n;\n"
    ),
    objects=lambda snapshot: {name for name, _ in snapshot["objects"]},
)
