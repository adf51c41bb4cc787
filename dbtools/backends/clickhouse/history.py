"""The append-only migration_history table (ReplacingMergeTree, tombstones, revisions), its progress log, and
foreign tables.

"Statement k started" rows (`running`) go to `dbtools_migration_progress`, a StripeLog table of the same
columns beside the history: appending to it is one file append, where every history row is a new
MergeTree part of 16 columns (several times slower on a server under load). Every other row (applied,
failed, tombstones) goes to the history. Reads take the newest revision of each version from both, so
a run killed inside statement k still reads as interrupted there. In cluster mode every row goes to the
replicated history (a Log table lives on one server only)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from dbtools.backends.base import HISTORY_NAME, ForeignTable
from dbtools.backends.clickhouse.lock import ClickHouseLock
from dbtools.backends.clickhouse.sql import (
    THROW_IF,
    UNKNOWN_IDENTIFIER,
    UNKNOWN_TABLE,
    ServerError,
    identifier,
    on_cluster,
    quote,
)
from dbtools.errors import DbtoolsError
from dbtools.plan import AppliedMigration

PROGRESS_NAME = "dbtools_migration_progress"
_APPLIED_AT = AppliedMigration._fields.index("applied_at")  # in AppliedMigration.values()
_COLUMNS = (
    "version, name, checksum, status, statements_done, statements_total, progress_checksum, "
    "error, applied_at, execution_ms, applied_by, tool_version, adopted_from, in_step"
)
# tables written before `adopt` existed lack the last column until the next locked run adds it
_OLD_COLUMNS = (_COLUMNS.removesuffix(", in_step"), _COLUMNS.removesuffix(", adopted_from, in_step"))
# columns added since the first release, each after the one before it (18.16 has no ADD COLUMN IF NOT EXISTS)
_ADDED_COLUMNS = (
    ("adopted_from", "String DEFAULT ''", "tool_version"),
    ("in_step", "UInt32 DEFAULT 0", "adopted_from"),
)
_HISTORY_COLUMNS = """(
    version            Int64,
    name               String,
    checksum           String,
    status             String,
    statements_done    UInt32,
    statements_total   Nullable(UInt32),
    progress_checksum  String,
    error              Nullable(String),
    applied_at         DateTime,
    execution_ms       UInt64,
    applied_by         String,
    tool_version       String,
    adopted_from       String DEFAULT '',
    in_step            UInt32 DEFAULT 0,
    revision           UInt64,
    deleted            UInt8
)"""


class ClickHouseHistory(ClickHouseLock):
    """History rows: every write a new row with a larger revision."""

    _revision: int
    _has_progress: bool | None  # the progress log: None not known yet, False absent (an older install)

    @property
    def _history(self) -> str:
        return f"{identifier(self.database)}.{HISTORY_NAME}"

    def history(self) -> list[AppliedMigration]:
        """The newest row per version (FINAL, then the progress log), tombstones dropped; [] before the
        table exists."""
        if self.cluster:
            with suppress(ServerError):  # rows written through other replicas must be here first
                self._ddl(f"SYSTEM SYNC REPLICA {self._history}")
        rows: list[tuple[Any, ...]] = []
        for columns in (_COLUMNS, *_OLD_COLUMNS):  # a table an older dbtools wrote: read what it has
            try:
                rows = self._history_rows(columns)
                break
            except ServerError as exc:
                if exc.code == UNKNOWN_TABLE:
                    return []
                if exc.code != UNKNOWN_IDENTIFIER or columns == _OLD_COLUMNS[-1]:
                    raise
        newest: dict[int, tuple[Any, ...]] = {}
        for row in rows:  # history rows, then progress rows: the larger revision of a version wins
            *_, revision, _ = row
            self._revision = max(self._revision, int(revision))
            kept = newest.get(int(row[0]))
            if kept is None or int(kept[-2]) < int(revision):
                newest[int(row[0])] = row
        result = []
        for version in sorted(newest):
            *fields, _, deleted = newest[version]
            if int(deleted):
                continue
            fields[8] = datetime.fromtimestamp(int(fields[8]), UTC)
            result.append(AppliedMigration(*fields))
        return result

    def _history_rows(self, columns: str) -> list[tuple[Any, ...]]:
        """History rows (FINAL) and the newest progress row of each version, in one query when the
        progress log exists (an install older than it has none until its next locked run)."""
        selected = f"SELECT {columns.replace('applied_at', 'toUnixTimestamp(applied_at)')}, revision, deleted FROM "
        history = f"{selected}{self._history} FINAL"
        if self.cluster or self._has_progress is False:
            return self._query(history)
        progress = f"{identifier(self.database)}.{PROGRESS_NAME}"
        newest = f"revision IN (SELECT max(revision) FROM {progress} GROUP BY version)"
        try:
            return self._query(f"{history} UNION ALL {selected}{progress} WHERE {newest}")
        except ServerError as exc:
            if exc.code != UNKNOWN_TABLE or PROGRESS_NAME not in exc.message:
                raise
            self._has_progress = False
            return self._query(history)

    def ensure_history(self) -> None:
        if self.cluster:
            path = f"/clickhouse/tables/{{shard}}/{self.database}/{HISTORY_NAME}"
            engine = f"ReplicatedReplacingMergeTree({quote(path)}, '{{replica}}', revision)"
        else:
            engine = "ReplacingMergeTree(revision)"
        sql = f"CREATE TABLE IF NOT EXISTS {self._history} {_HISTORY_COLUMNS} ENGINE = {engine} ORDER BY version"
        self._ddl(on_cluster(sql, self.cluster))
        if not self.cluster:
            progress = f"{identifier(self.database)}.{PROGRESS_NAME}"
            self._ddl(f"CREATE TABLE IF NOT EXISTS {progress} {_HISTORY_COLUMNS} ENGINE = StripeLog")
            self._has_progress = True
        present = {
            str(name)
            for (name,) in self._query(
                f"SELECT name FROM system.columns WHERE database = {quote(self.database)} "
                f"AND table = {quote(HISTORY_NAME)}"
            )
        }
        for name, kind, after in _ADDED_COLUMNS:  # a table an older dbtools made
            if name not in present:
                alter = f"ALTER TABLE {self._history} ADD COLUMN {name} {kind} AFTER {after}"
                self._ddl(on_cluster(alter, self.cluster))

    def record(self, row: AppliedMigration) -> None:
        """One row: a `running` one ("statement k started") to the progress log, any other to the history."""
        table = self._history
        if row.status == "running" and self._has_progress and not self.cluster:  # made by ensure_history
            table = f"{identifier(self.database)}.{PROGRESS_NAME}"
        self._insert(row, deleted=False, table=table)

    def record_many(self, rows: Sequence[AppliedMigration]) -> None:
        """All rows in one INSERT: one block, which ClickHouse writes whole or not at all."""
        if rows:
            self._write(self._history, [self._literals(row, deleted=False) for row in rows])

    def forget(self, version: int) -> None:
        self._insert(AppliedMigration(version=version, name="", checksum="", status="forgotten"), deleted=True)

    def _insert(self, row: AppliedMigration, *, deleted: bool, table: str | None = None) -> None:
        self._write(table or self._history, [self._literals(row, deleted=deleted)])

    def _write(self, table: str, rows: list[str]) -> None:
        """INSERT ... SELECT of `rows` (literal lists): one block everywhere, and the form 18.16 takes over
        the native protocol as it is. While this run holds the lock, each SELECT reads the lock table in
        the server and throws unless it still carries our token (`_ours`): the check and the write are one
        statement, and a lock broken by `unlock --force` (and taken by another run) stops this run here."""
        if self._lease is None:
            self._query(self._insert_sql(table, rows, ""))
            return
        self._lease.write(lambda token: self._guarded(self._insert_sql(table, rows, self._ours(token))))
        self._renew()

    @staticmethod
    def _insert_sql(table: str, rows: list[str], where: str) -> str:
        selects = " UNION ALL ".join(f"SELECT {row}{where}" for row in rows)
        return f"INSERT INTO {table} ({_COLUMNS}, revision, deleted) {selects}"

    def _guarded(self, sql: str) -> bool:
        """Run a guarded INSERT; False (nothing written) when its lock check threw."""
        try:
            self._query(sql)
        except ServerError as exc:
            if exc.code == THROW_IF:
                return False
            raise
        return True

    def _literals(self, row: AppliedMigration, *, deleted: bool) -> str:
        applied_at = int((row.applied_at or datetime.now(UTC)).timestamp())
        values: list[Any] = [*row.values(), self._next_revision(), int(deleted)]
        values[_APPLIED_AT] = f"toDateTime({applied_at})"
        return ", ".join(v if isinstance(v, str) and v.startswith("toDateTime(") else quote(v) for v in values)

    def read_table(self, name: str) -> ForeignTable | None:
        """Another tool's history table in this database, None if absent. Replacing engines are read
        with FINAL (as dbmate reads its own); DateTime values come back as UTC datetimes."""
        try:
            found = self._query(
                f"SELECT engine FROM system.tables WHERE database = {quote(self.database)} AND name = {quote(name)}"
            )
            if not found:
                return None
            engine = str(found[0][0])
            columns = self._query(
                f"SELECT name, type FROM system.columns WHERE database = {quote(self.database)} "
                f"AND table = {quote(name)}"  # in definition order (18.16's system.columns has no `position`)
            )
            types = {str(n): str(t) for n, t in columns}
            selected = ", ".join(
                f"toUnixTimestamp({identifier(n)})" if "DateTime" in t else identifier(n) for n, t in types.items()
            )
            final = " FINAL" if re.search(r"(Replacing|Collapsing)MergeTree", engine) else ""
            found = self._query(f"SELECT {selected} FROM {identifier(self.database)}.{identifier(name)}{final}")
        except ServerError as exc:  # a table the server cannot read (a view over a dropped table, no grant)
            raise DbtoolsError(
                f"{self._where}: could not read {name}: {exc.message}",
                hint=f"check that {name} is the other tool's history table and that this user may read it "
                "(--table NAME reads another)",
            ) from exc
        rows = []
        for values in found:
            row = {}
            for (column, kind), value in zip(types.items(), values, strict=True):
                if "DateTime" in kind and value is not None:
                    value = datetime.fromtimestamp(int(value), UTC)
                row[column] = value
            rows.append(row)
        return ForeignTable(name, types, rows, engine)

    def _next_revision(self) -> int:
        """Larger than every revision seen: the newest row of a version wins even if clocks step back."""
        self._revision = max(time.time_ns(), self._revision + 1)
        return self._revision
