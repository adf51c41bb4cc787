"""Seeding: columnar inserts through Arrow, count, empty."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbtools.backends.clickhouse.client import ClickHouseConnection
from dbtools.backends.clickhouse.sql import ServerError, identifier, quote
from dbtools.errors import DbtoolsError

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.seed.table import Table


class ClickHouseLoad(ClickHouseConnection):
    """count, wipe, load."""

    def count(self, target: str) -> int:
        """Rows in a table (0 when it does not exist)."""
        exists = self._query(
            f"SELECT count() FROM system.tables WHERE database = {quote(self.database)} AND name = {quote(target)}"
        )
        return int(self._query(f"SELECT count() FROM {self._table(target)}")[0][0]) if exists[0][0] else 0

    def wipe(self, targets: Sequence[str]) -> None:
        """Empty the tables and the tables their materialized views write to (else aggregates double)."""
        fed = set()
        for target in targets:
            rows = self._query(
                "SELECT dependencies_table FROM system.tables "
                f"WHERE database = {quote(self.database)} AND name = {quote(target)}"
            )
            for view in rows[0][0] if rows else []:
                create = self._query(
                    "SELECT create_table_query FROM system.tables "
                    f"WHERE database = {quote(self.database)} AND name = {quote(view)}"
                )
                found = re.search(r"\bTO\s+(?:[`\w]+\.)?`?(\w+)`?", create[0][0]) if create else None
                if found:
                    fed.add(found[1])
        for target in [*targets, *sorted(fed - set(targets))]:
            self._ddl(f"TRUNCATE TABLE IF EXISTS {self._table(target)}")

    def load(self, table: Table) -> int:
        """Insert a seeding table column by column (Arrow into chdb, columnar native blocks into a server)."""
        types = dict(
            self._query(
                "SELECT name, type FROM system.columns "
                f"WHERE database = {quote(self.database)} AND table = {quote(table.target)}"
            )
        )
        missing = [name for name in table.columns if name not in types]
        if missing:
            raise DbtoolsError(
                f"clickhouse: {table.target} has no column(s) {', '.join(missing)}",
                hint="is the schema current? run `migrate --db clickhouse`",
            )
        assert self._client is not None, "connect() first"
        try:
            self._client.insert(self._table(table.target), dict(table.columns), types)
        except ServerError as exc:
            raise DbtoolsError(
                f"clickhouse: loading {table.target} failed: {exc}", hint="see the server message"
            ) from exc
        return len(table)

    def _table(self, name: str) -> str:
        return f"{identifier(self.database)}.{identifier(name)}"
