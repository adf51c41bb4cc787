"""Seeding: COPY a table in, count, empty, and one transaction around a run.

Functions of a connected backend, imported by its methods on first use: a migrate run needs none of them."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dbtools.backends.postgres.client import PostgresClient, _server_message
from dbtools.errors import DbtoolsError

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.seed.table import Table


def _copy_chunks(table: Table, size: int) -> Iterator[io.StringIO]:
    """COPY text-format buffers of `size` rows each."""
    lists = [_as_list(values) for values in table.columns.values()]
    for start in range(0, len(table), size):
        rows = zip(*(col[start : start + size] for col in lists), strict=True)
        lines = ["\t".join(_copy_value(v) for v in row) for row in rows]
        yield io.StringIO("\n".join(lines) + "\n")


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    if isinstance(value, (list, tuple)):
        inner = ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value)
        return ("{" + inner + "}").translate(_COPY_ESCAPES)
    if isinstance(value, dict):
        import json

        return json.dumps(value).translate(_COPY_ESCAPES)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value).translate(_COPY_ESCAPES)


@contextmanager
def batch(backend: PostgresClient) -> Iterator[None]:
    """One transaction around a seeding run: a failure leaves the tables as they were."""
    with backend._conn.cursor() as cur:
        cur.execute("BEGIN")
        try:
            yield
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")


def count(backend: PostgresClient, target: str) -> int:
    """Rows in a table (0 when it does not exist)."""
    rows = backend._query("SELECT to_regclass(%s) IS NOT NULL", (target,))
    return backend._query(f'SELECT count(*) FROM "{target}"')[0][0] if rows[0][0] else 0


def wipe(backend: PostgresClient, targets: Sequence[str]) -> None:
    """Empty the tables (and what references them) and restart their identity sequences."""
    if targets:
        backend._query("TRUNCATE " + ", ".join(f'"{t}"' for t in targets) + " RESTART IDENTITY CASCADE")


def load(backend: PostgresClient, table: Table) -> int:
    """COPY the rows in (one round trip per 50,000 rows); identity columns given explicitly are
    honoured (COPY overrides GENERATED ALWAYS) and their sequences moved past the loaded ids."""
    import psycopg2

    columns = list(table.columns)
    quoted = ", ".join(f'"{c}"' for c in columns)
    try:
        with backend._conn.cursor() as cur:
            for chunk in _copy_chunks(table, 50_000):
                cur.copy_expert(f'COPY "{table.target}" ({quoted}) FROM STDIN', chunk)
            sequence = None
            if "id" in columns:
                cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", (f'"{table.target}"',))
                sequence = cur.fetchone()[0]
            if sequence:
                cur.execute(f'SELECT setval(%s, (SELECT max(id) FROM "{table.target}"))', (sequence,))
    except psycopg2.Error as exc:
        raise DbtoolsError(
            f"postgres: loading {table.target} failed: {_server_message(exc)}",
            hint="is the schema current (`migrate`)? with --reset the seeded tables are emptied first",
        ) from exc
    return len(table)
