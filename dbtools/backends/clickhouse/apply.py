"""Running a migration: one statement at a time, progress recorded after each."""

from __future__ import annotations

import time
from collections.abc import Sequence

from dbtools.backends.base import history_row, statement_failed
from dbtools.backends.clickhouse.history import ClickHouseHistory
from dbtools.backends.clickhouse.sql import QUERY_WAS_CANCELLED, ServerError, on_cluster
from dbtools.errors import MigrationFailed
from dbtools.migrations import Migration
from dbtools.plan import AppliedMigration
from dbtools.sqltext import Statement


class ClickHouseApply(ClickHouseHistory):
    """apply and revert."""

    def _run(self, sql: str) -> None:
        """A migration's statement: Ctrl-C kills it on the server (chdb cannot: it ends, the run stops)."""
        from dbtools import interrupt

        try:
            with interrupt.cancellable(getattr(self._client, "cancel", None)):
                self._ddl(sql)
        except interrupt.Stopped as exc:
            raise ServerError(QUERY_WAS_CANCELLED, str(exc)) from None

    def apply(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> AppliedMigration:
        """One statement at a time, progress recorded after each (no transactions in ClickHouse)."""
        started = time.monotonic()
        self.record(
            history_row(migration, status="running", started=started, statements_done=start_at, statements=statements)
        )
        for index in range(start_at, len(statements)):
            try:
                self._run(on_cluster(statements[index].sql, self.cluster))
            except ServerError as exc:
                failure = statement_failed(self.name, migration, statements, index, exc.message, kept=True)
                self.record(
                    history_row(
                        migration,
                        status="failed",
                        started=started,
                        statements_done=index,
                        statements=statements,
                        error=failure.message,
                    )
                )
                raise failure from None
            if index + 1 < len(statements):
                self.record(
                    history_row(
                        migration, status="running", started=started, statements_done=index + 1, statements=statements
                    )
                )
        row = history_row(
            migration, status="applied", started=started, statements_done=len(statements), statements=statements
        )
        self.record(row)
        return row

    def revert(self, migration: Migration, statements: Sequence[Statement]) -> None:
        """Run the down statements one by one, then forget the version; history stays applied on failure."""
        for index, statement in enumerate(statements):
            try:
                self._run(on_cluster(statement.sql, self.cluster))
            except ServerError as exc:
                raise statement_failed(
                    self.name, migration, statements, index, exc.message, kept=True, down=True
                ) from None
            self._renew()
        try:
            self.forget(migration.version)
        except ServerError as exc:
            raise MigrationFailed(
                f"clickhouse: migration {migration.label} was rolled back but its history row could not be "
                f"removed: {exc.message}",
                hint="check migration_history, then run `repair --db clickhouse`",
            ) from None
