"""The migration_history table: create, read, upsert and delete rows, read another tool's table."""

from __future__ import annotations

from collections.abc import Sequence

from dbtools.backends.base import HISTORY_NAME, ForeignTable, migration_failed
from dbtools.backends.postgres.client import PostgresClient, _server_message
from dbtools.errors import DbtoolsError, MigrationFailed
from dbtools.migrations import Migration
from dbtools.plan import AppliedMigration

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any

_COLUMNS = (
    "version, name, checksum, status, statements_done, statements_total, progress_checksum, "
    "error, applied_at, execution_ms, applied_by, tool_version, adopted_from, in_step"
)
# tables written before `adopt` existed lack the last column until the next locked run adds it
_OLD_COLUMNS = (_COLUMNS.removesuffix(", in_step"), _COLUMNS.removesuffix(", adopted_from, in_step"))
# History statements name the table with its schema ({table}: "schema"."migration_history", fixed when
# the run connects), so a migration that runs SET search_path cannot send them elsewhere.
_CREATE_HISTORY = """
CREATE TABLE IF NOT EXISTS {table} (
    version            bigint PRIMARY KEY,
    name               text        NOT NULL,
    checksum           text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('applied', 'baseline', 'failed', 'running')),
    statements_done    integer     NOT NULL DEFAULT 0,
    statements_total   integer,
    progress_checksum  text        NOT NULL DEFAULT '',
    error              text,
    applied_at         timestamptz NOT NULL DEFAULT now(),
    execution_ms       integer     NOT NULL DEFAULT 0,
    applied_by         text        NOT NULL,
    tool_version       text        NOT NULL,
    adopted_from       text        NOT NULL DEFAULT '',
    in_step            integer     NOT NULL DEFAULT 0
)"""
_ADD_ADOPTED_FROM = (
    "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS adopted_from text NOT NULL DEFAULT '', "
    "ADD COLUMN IF NOT EXISTS in_step integer NOT NULL DEFAULT 0"
)
_UPSERT = (
    "INSERT INTO {table} (" + _COLUMNS + ") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, "
    "status = EXCLUDED.status, statements_done = EXCLUDED.statements_done, "
    "statements_total = EXCLUDED.statements_total, progress_checksum = EXCLUDED.progress_checksum, "
    "error = EXCLUDED.error, applied_at = EXCLUDED.applied_at, execution_ms = EXCLUDED.execution_ms, "
    "applied_by = EXCLUDED.applied_by, tool_version = EXCLUDED.tool_version, adopted_from = EXCLUDED.adopted_from, "
    "in_step = EXCLUDED.in_step"
)
# The same, applied_at and execution_ms from the server's clock: from the transaction's start to the history write
# (a section sent in one query with its history row cannot be timed by the client before it is sent).
_UPSERT_TIMED = _UPSERT.replace(  # applied_at and execution_ms from the server's clock
    "%s, %s, %s, %s, %s, %s)",
    "clock_timestamp(), (extract(epoch FROM clock_timestamp() - now()) * 1000)::integer, %s, %s, %s, %s)",
)
assert _UPSERT_TIMED.count("%s") == _UPSERT.count("%s") - 2


_as_row = tuple.__new__  # what a NamedTuple's own `_make` calls, without its Python frame


def _qualified(schema: str, name: str) -> str:
    """ "schema"."name", each part quoted as an identifier."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema, name))


def _history_write_failed(m: Migration, exc: Exception | str, *, down: bool = False) -> MigrationFailed:
    what = "its history row could not be removed" if down else "its history row could not be written"
    reason = exc if isinstance(exc, str) else _server_message(exc)
    return migration_failed(
        "postgres",
        m,
        reason,
        stage=f"ran but {what}",
        hint=f"nothing of it was kept; check that {HISTORY_NAME} is intact, then run "
        f"`{'rollback' if down else 'migrate'}` again",
    )


class PostgresHistory(PostgresClient):
    """History rows in `migration_history`, named with its schema (fixed at connect)."""

    _history: str
    _upsert: str
    _upsert_timed: str

    def history(self) -> list[AppliedMigration]:
        import psycopg2.errors

        rows: list[tuple[Any, ...]] = []
        for columns in (_COLUMNS, *_OLD_COLUMNS):  # a table an older dbtools wrote: read what it has
            try:
                rows = self._query(f"SELECT {columns} FROM {self._history} ORDER BY version")
                break
            except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName):
                return []
            except psycopg2.errors.UndefinedColumn:
                if columns == _OLD_COLUMNS[-1]:
                    raise
        if columns is _COLUMNS:  # every field, in order: the tuples become rows without a call each (long histories)
            return [_as_row(AppliedMigration, row) for row in rows]
        return [AppliedMigration(*row) for row in rows]

    def ensure_history(self) -> None:
        self._query(_CREATE_HISTORY.format(table=self._history) + "; " + _ADD_ADOPTED_FROM.format(table=self._history))

    def record(self, row: AppliedMigration) -> None:
        self._query(self._upsert, row.values())

    def record_many(self, rows: Sequence[AppliedMigration]) -> None:
        """Insert or replace several history rows in one transaction: all of them or none."""
        with self._conn.cursor() as cur:
            cur.execute("BEGIN")
            try:
                cur.executemany(self._upsert, [row.values() for row in rows])
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def read_table(self, name: str) -> ForeignTable | None:
        """Another tool's history table (`schema.table` or a table on the search path); None if absent.
        A table the server cannot read (a failing view, no privilege) is one error naming it."""
        import psycopg2

        try:
            found = self._query("SELECT to_regclass(%s)::oid, to_regclass(%s)::text", (name, name))
            if not found or found[0][0] is None:
                return None
            oid, qualified = found[0]
            columns = self._query(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                (oid,),
            )
            with self._conn.cursor() as cur:
                cur.execute(f"SELECT * FROM {qualified}")  # the catalog's own quoting of the name
                names = [d[0] for d in cur.description]
                rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except psycopg2.Error as exc:
            raise DbtoolsError(
                f"postgres: could not read {name}: {_server_message(exc)}",
                hint=f"check that {name} is the other tool's history table and that this user may read it "
                "(--table NAME reads another)",
            ) from exc
        return ForeignTable(qualified, dict(columns), rows)

    def forget(self, version: int) -> None:
        self._query(f"DELETE FROM {self._history} WHERE version = %s", (version,))
