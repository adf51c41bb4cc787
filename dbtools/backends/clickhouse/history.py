"""The append-only migration_history table (ReplacingMergeTree, tombstones, revisions), its progress log, and
foreign tables.

A locked run writes every row (`running` "statement k started", applied, failed, tombstones) to
`dbtools_migration_progress`, a StripeLog table of the same columns beside the history: appending to it
is one file append, where a history row is a new MergeTree part of 16 columns (3-4 times the cost: 10-16
ms against 3-4 ms on 18.16 with a hundred tables in the database). Reads take the newest revision of each
version from both tables, so a run killed inside statement k reads as interrupted there and a migration
applied by a run killed before its end reads as applied. When the run lets go of the lock, the rows it
finished (anything but `running`) are copied into the history in one INSERT ... SELECT: one part per run,
not one per migration (`_flush_history`); rows a killed run left only in the log are copied by the next
run that reads history under the lock. A copy keeps the row's revision, so it changes no read and needs
no lock check. In cluster mode every row goes to the replicated history (a Log table lives on one server
only)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from dbtools.backends.base import HISTORY_NAME, ForeignTable
from dbtools.backends.clickhouse.lock import LOCK_NAME, ClickHouseLock
from dbtools.backends.clickhouse.sql import (
    THROW_IF,
    UNKNOWN_IDENTIFIER,
    UNKNOWN_TABLE,
    ServerError,
    identifier,
    on_cluster,
    quote,
)
from dbtools.errors import DbtoolsError, HistoryMismatch
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
    _unflushed: set[int]  # revisions of finished rows in the progress log that the history lacks

    @property
    def _progress(self) -> str:
        return f"{identifier(self.database)}.{PROGRESS_NAME}"

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
                    self._refuse_lost_history()
                    return []
                if exc.code != UNKNOWN_IDENTIFIER or columns == _OLD_COLUMNS[-1]:
                    raise
        newest: dict[int, tuple[Any, ...]] = {}
        for row in rows:  # history rows, then progress rows: the larger revision of a version wins
            *_, revision, _, _ = row
            self._revision = max(self._revision, int(revision))
            kept = newest.get(int(row[0]))
            if kept is None or int(kept[-3]) < int(revision):
                newest[int(row[0])] = row
        result = []
        for version in sorted(newest):
            *fields, revision, deleted, logged = newest[version]
            if int(logged) and fields[3] != "running":  # finished by a run that stopped before copying it
                self._unflushed.add(int(revision))
            if int(deleted):
                continue
            fields[8] = datetime.fromtimestamp(int(fields[8]), UTC)
            result.append(AppliedMigration(*fields))
        return result

    def _refuse_lost_history(self) -> None:
        """Raise when the history table is gone but the progress log holds rows: the history was detached
        or dropped, and reading it as empty would run every migration again."""
        if self.cluster or self._has_progress is False:
            return
        try:
            ((count,),) = self._query(f"SELECT count() FROM {self._progress}")
        except ServerError as exc:
            if exc.code == UNKNOWN_TABLE:  # neither table: a database no run has written to
                return
            raise
        if count:
            raise HistoryMismatch(
                f"{self._where}: the history table {HISTORY_NAME} is missing, but {PROGRESS_NAME} holds "
                f"{count} row(s) of the runs that wrote it: read as empty, every migration would run again",
                hint=f"bring {HISTORY_NAME} back (ATTACH TABLE {identifier(self.database)}.{HISTORY_NAME}, or "
                "restore it from a backup), then run again",
            )

    def _history_rows(self, columns: str) -> list[tuple[Any, ...]]:
        """History rows (FINAL) and the newest progress row of each version, in one query when the
        progress log exists (an install older than it has none until its next locked run). The last
        column says which table a row came from (1: the progress log)."""
        selected = f"SELECT {columns.replace('applied_at', 'toUnixTimestamp(applied_at)')}, revision, deleted"
        history = f"{selected}, 0 FROM {self._history} FINAL"
        if self.cluster or self._has_progress is False:
            return self._query(history)
        progress = self._progress
        newest = f"revision IN (SELECT max(revision) FROM {progress} GROUP BY version)"
        try:
            return self._query(f"{history} UNION ALL {selected}, 1 FROM {progress} WHERE {newest}")
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
            self._ddl(f"CREATE TABLE IF NOT EXISTS {self._progress} {_HISTORY_COLUMNS} ENGINE = StripeLog")
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
        """One row, to the progress log when there is one (copied into the history when the run ends)."""
        self._log(row, deleted=False)

    def record_many(self, rows: Sequence[AppliedMigration]) -> None:
        """All rows in one INSERT: one block, which ClickHouse writes whole or not at all."""
        if rows:
            self._write(self._history, [self._literals(row, deleted=False) for row in rows])

    def forget(self, version: int) -> None:
        self._log(AppliedMigration(version=version, name="", checksum="", status="forgotten"), deleted=True)

    def _log(self, row: AppliedMigration, *, deleted: bool) -> None:
        """Write `row`: to the progress log (made by ensure_history; a finished row is remembered for
        `_flush_history`), else (cluster mode, or before ensure_history) to the history."""
        if not self._has_progress or self.cluster:
            self._write(self._history, [self._literals(row, deleted=deleted)])
            return
        self._write(self._progress, [self._literals(row, deleted=deleted)])
        if row.status != "running":
            self._unflushed.add(self._revision)

    def _flush_history(self) -> None:
        """Copy the finished rows the history lacks from the progress log, in one INSERT ... SELECT (one
        part). A copy carries its row's revision, so it changes no read: no lock check needed."""
        if not self._unflushed:
            return
        columns = f"{_COLUMNS}, revision, deleted"
        revisions = ", ".join(str(r) for r in sorted(self._unflushed))
        try:
            self._query(
                f"INSERT INTO {self._history} ({columns}) SELECT {columns} FROM {self._progress} "
                f"WHERE revision IN ({revisions})"
            )
        except ServerError as exc:
            raise DbtoolsError(
                f"{self._where}: could not copy this run's rows into {HISTORY_NAME}: {exc.message}",
                hint=f"they are kept in {PROGRESS_NAME}, which history reads include; make {HISTORY_NAME} "
                "writable again (ATTACH it, free the disk) and the next run that writes history copies them",
            ) from exc
        self._unflushed.clear()

    def _write(self, table: str, rows: list[list[str]]) -> None:
        """INSERT ... SELECT of `rows` (lists of literals): one block everywhere, and the form 18.16 takes
        over the native protocol as it is. While this run holds the lock, each SELECT reads the lock table
        in the server and throws unless it still carries our token (`_ours`): the check and the write are
        one statement, and a lock broken by `unlock --force` (and taken by another run) stops this run here.

        Not on chdb while this session is the only one open on its directory (`_Client.alone`): the engine
        holds an exclusive flock on the directory for as long as this process has it open, so no other
        process can open it to break or take the lock (`unlock --force` elsewhere fails with "in use by
        pid N"), and no other session of this process has it open; nothing but this run can change the
        lock table, so the check inside the server (1-3 ms of a 5-7 ms write there) cannot fail. The
        write is then a plain INSERT ... VALUES, which chdb parses without building a SELECT (3 ms, not 5)."""
        if self._lease is None:
            self._query(self._insert_sql(table, rows, ""))
            return
        assert self._client is not None, "connect() first"
        if self._client.alone():
            self._lease.check()
            self._query(self._values_sql(table, rows))
        else:
            self._lease.write(lambda token: self._guarded(self._insert_sql(table, rows, self._ours(token))))
        self._renew()

    @staticmethod
    def _insert_sql(table: str, rows: list[list[str]], where: str) -> str:
        def select(row: list[str]) -> str:
            row = row.copy()
            row[_APPLIED_AT] = f"toDateTime({row[_APPLIED_AT]})"
            return f"SELECT {', '.join(row)}{where}"

        return f"INSERT INTO {table} ({_COLUMNS}, revision, deleted) {' UNION ALL '.join(map(select, rows))}"

    @staticmethod
    def _values_sql(table: str, rows: list[list[str]]) -> str:
        values = ", ".join(f"({', '.join(row)})" for row in rows)
        return f"INSERT INTO {table} ({_COLUMNS}, revision, deleted) VALUES {values}"

    def _guarded(self, sql: str) -> bool:
        """Run a guarded INSERT; False (nothing written) when its lock check threw: the lock table is
        another run's, or there is none (broken and not taken again)."""
        try:
            self._query(sql)
        except ServerError as exc:
            if exc.code == THROW_IF or (exc.code == UNKNOWN_TABLE and LOCK_NAME in exc.message):
                return False
            raise
        return True

    def _literals(self, row: AppliedMigration, *, deleted: bool) -> list[str]:
        """The row's values as literals in `_COLUMNS` order, then revision and deleted (applied_at: Unix seconds)."""
        values: list[Any] = [*row.values(), self._next_revision(), int(deleted)]
        values[_APPLIED_AT] = int((row.applied_at or datetime.now(UTC)).timestamp())
        return [quote(v) for v in values]

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
