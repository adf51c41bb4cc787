"""Running a migration: its Python steps, "step k started" recorded before each and progress after it."""

from __future__ import annotations

from collections.abc import Sequence

from dbtools import scripts
from dbtools.backends.redis.history import RedisHistory
from dbtools.backends.redis.lock import RedisLock
from dbtools.migrations import Migration
from dbtools.plan import AppliedMigration
from dbtools.sqltext import Statement


class RedisApply(RedisHistory, RedisLock):
    """apply and revert."""

    def apply(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> AppliedMigration:
        fns = scripts.callables(migration, scripts.load(migration), statements)
        client = self._script_client()
        return scripts.run_steps(
            self, migration, statements, lambda i: fns[i](client), start_at=start_at, guard=self._check_lease
        )

    def revert(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> None:
        fns = scripts.callables(migration, scripts.load(migration, down=True), statements)
        client = self._script_client()
        scripts.revert_steps(
            self, migration, statements, lambda i: fns[i](client), start_at=start_at, guard=self._check_lease
        )
