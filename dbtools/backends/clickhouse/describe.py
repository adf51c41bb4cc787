"""What the schema looks like: snapshot (for comparisons) and describe (for people)."""

from __future__ import annotations

import re
from typing import Any

from dbtools.backends.base import HISTORY_NAME
from dbtools.backends.clickhouse.client import ClickHouseConnection
from dbtools.backends.clickhouse.history import PROGRESS_NAME
from dbtools.backends.clickhouse.lock import LOCK_NAME
from dbtools.backends.clickhouse.sql import identifier, quote

_OURS = f"({quote(HISTORY_NAME)}, {quote(LOCK_NAME)}, {quote(PROGRESS_NAME)})"  # dbtools' own tables, not described


class ClickHouseDescribe(ClickHouseConnection):
    """snapshot and describe."""

    def snapshot(self) -> dict[str, Any]:
        """Tables and views of the database with their normalised CREATE statements and columns."""
        db = quote(self.database)
        tables = self._query(
            "SELECT name, engine, create_table_query FROM system.tables "
            f"WHERE database = {db} AND name NOT IN {_OURS} AND name NOT LIKE '.inner%' ORDER BY name"
        )
        columns = self._query(
            "SELECT table, name, type, default_kind, default_expression FROM system.columns "
            f"WHERE database = {db} AND table NOT IN {_OURS} "
            "AND table NOT LIKE '.inner%' ORDER BY table, name"
        )
        return {
            "tables": [[name, engine, self._normalise(query)] for name, engine, query in tables],
            "columns": [list(row) for row in columns],
        }

    def _normalise(self, create: str) -> str:
        """A CREATE statement without this database's name or UUIDs, so two databases compare equal."""
        for prefix in (f"{identifier(self.database)}.", f"{self.database}."):
            create = create.replace(prefix, "")
        return re.sub(r"\s+UUID '[0-9a-f-]{36}'", "", " ".join(create.split()))

    def describe(self) -> list[dict[str, Any]]:
        """Tables and views for docs/schema.md: purpose (table COMMENT), engine, keys, TTL and columns."""
        db = quote(self.database)
        described = []
        for name, engine, comment, sorting, partition, create in self._query(
            "SELECT name, engine, comment, sorting_key, partition_key, create_table_query FROM system.tables "
            f"WHERE database = {db} AND name NOT IN {_OURS} AND name NOT LIKE '.inner%' ORDER BY name"
        ):
            ttl = re.search(r"\bTTL\s+(.+?)(?:\s+SETTINGS\b|\s+COMMENT\b|$)", create)
            engine_full = re.search(r"\bENGINE = (\w+(?:\([^)]*\))?)", create)
            keys = [f"engine {engine_full[1] if engine_full else engine}"]
            keys += [f"ORDER BY ({sorting})"] if sorting else []
            keys += [f"PARTITION BY {partition}"] if partition else []
            keys += [f"TTL {ttl[1].strip()}"] if ttl and "View" not in engine else []
            target = re.search(r"\bTO\s+(?:`?\w+`?\.)?`?(\w+)`?", create) if engine == "MaterializedView" else None
            keys += [f"writes to {target[1]}"] if target else []
            fields = [
                [column, ctype, "sorting key" if in_key else ""]
                for column, ctype, in_key in self._query(
                    "SELECT name, type, is_in_sorting_key FROM system.columns "
                    f"WHERE database = {db} AND table = {quote(name)} ORDER BY position"
                )
            ]
            kind = {"View": "view", "MaterializedView": "materialized view"}.get(engine, "table")
            described.append(
                {
                    "name": name,
                    "kind": kind,
                    "purpose": comment,
                    "keys": "; ".join(keys),
                    "fields": fields if kind != "materialized view" else [],
                    "references": [],
                }
            )
        return described
