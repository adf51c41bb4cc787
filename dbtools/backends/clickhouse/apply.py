"""Running a migration: one statement at a time, "statement k started" recorded before each, progress after."""

from __future__ import annotations

from collections.abc import Sequence

from dbtools import scripts
from dbtools.backends.base import migration_failed, statement_failed
from dbtools.backends.clickhouse.history import ClickHouseHistory
from dbtools.backends.clickhouse.sql import QUERY_WAS_CANCELLED, ServerError, on_cluster
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
        """One statement at a time, "statement k started" recorded before each and progress after it
        (no transactions in ClickHouse: a statement that fails may have done part of its work)."""
        return scripts.run_steps(
            self,
            migration,
            statements,
            lambda i: self._ddl(on_cluster(statements[i].sql, self.cluster)),
            start_at=start_at,
            guard=self._check_lease,
            message=lambda exc: exc.message if isinstance(exc, ServerError) else scripts.describe(exc),
            cancel=getattr(self._client, "cancel", None),  # Ctrl-C: KILL QUERY (chdb: the statement ends)
        )

    def revert(self, migration: Migration, statements: Sequence[Statement]) -> None:
        """Run the down statements one by one, then forget the version; history stays applied on failure."""
        for index, statement in enumerate(statements):
            try:
                self._run(on_cluster(statement.sql, self.cluster))
            except ServerError as exc:
                raise statement_failed(
                    self.name, migration, statements, index, exc.message, kept=True, down=True
                ) from exc
            self._renew()
        try:
            self.forget(migration.version)
        except ServerError as exc:
            raise migration_failed(
                "clickhouse",
                migration,
                exc.message,
                stage="was rolled back but its history row could not be removed",
                hint="check migration_history, then run `repair --db clickhouse`",
            ) from exc
