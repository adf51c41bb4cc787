"""Running a migration: one statement at a time, "statement k started" recorded before each, progress after."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dbtools import scripts
from dbtools.backends.clickhouse.history import ClickHouseHistory
from dbtools.backends.clickhouse.sql import ServerError, on_cluster
from dbtools.migrations import Migration
from dbtools.plan import AppliedMigration
from dbtools.scripts import StepOptions
from dbtools.sqltext import Statement


class ClickHouseApply(ClickHouseHistory):
    """apply and revert: one statement at a time, "statement k started" recorded before each (no
    transactions in ClickHouse: a statement that fails may have done part of its work)."""

    def _steps(self, statements: Sequence[Statement], start_at: int) -> tuple[Callable[[int], None], StepOptions]:
        """The step and the options `scripts.run_steps` / `revert_steps` run `statements` here with."""
        options: StepOptions = {
            "start_at": start_at,
            "guard": self._check_lease,
            "message": lambda exc: exc.message if isinstance(exc, ServerError) else scripts.describe(exc),
            "cancel": getattr(self._client, "cancel", None),  # Ctrl-C: KILL QUERY (chdb: the statement ends)
        }
        return lambda i: self._ddl(on_cluster(statements[i].sql, self.cluster)), options

    def apply(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> AppliedMigration:
        call, options = self._steps(statements, start_at)
        return scripts.run_steps(self, migration, statements, call, **options)

    def revert(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> None:
        """The down statements as `apply` runs the up ones, then the version forgotten."""
        call, options = self._steps(statements, start_at)
        scripts.revert_steps(self, migration, statements, call, **options)
