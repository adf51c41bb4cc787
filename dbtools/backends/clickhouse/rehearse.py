"""What a rehearsal measures: mutations still running after a migration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dbtools.backends.clickhouse.client import ClickHouseConnection
from dbtools.backends.clickhouse.sql import ServerError, quote


class ClickHouseRehearsal(ClickHouseConnection):
    """rehearsal_cost."""

    @contextmanager
    def rehearsal_cost(self) -> Iterator[dict[str, Any]]:
        """Mutations (ALTER ... UPDATE/DELETE, MODIFY COLUMN rewrites) still running when the migration returned."""
        costs: dict[str, Any] = {}
        try:
            yield costs
        finally:
            try:
                rows = self._query(
                    "SELECT table, command, parts_to_do FROM system.mutations "
                    f"WHERE database = {quote(self.database)} AND is_done = 0"
                )
                costs["mutations_running"] = len(rows)
                costs["mutations"] = [{"table": t, "command": c[:120], "parts_to_do": p} for t, c, p in rows]
            except ServerError as exc:
                costs["mutations_running"] = f"unknown ({exc.message[:120]})"
