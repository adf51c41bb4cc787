"""dbmate: `schema_migrations` in PostgreSQL (one row per applied version) and ClickHouse (rows with an
`applied` flag, the newest row per version deciding); files `<digits>...sql` with `-- migrate:up/down`.

Layouts as dbmate creates them (github.com/amacneil/dbmate, commit f3e08f15e39d5b3f10ba014b470467fb484dfc54):
pkg/driver/postgres/postgres.go CreateMigrationsTable: `version varchar primary key`;
pkg/driver/clickhouse/clickhouse.go CreateMigrationsTable: `version String, ts DateTime default now(),
applied UInt8 default 1` in a ReplacingMergeTree(ts), read `final where applied`; a rollback inserts
`applied = 0`. File names: pkg/dbmate/db.go `^(\\d+).*\\.sql$`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbtools.adopt.scan import CH_DATETIME, PG_VARCHAR, matching, seconds
from dbtools.adopt.shared import Layout, OldHistory, OldMigration, Options, Placement, Placements, as_utc, problem
from dbtools.migrations import Migration

if TYPE_CHECKING:
    from dbtools.backends.base import ForeignTable

FILE = re.compile(r"^(\d+).*\.sql$")


class Dbmate:
    name = "dbmate"
    layouts: Mapping[str, Layout] = {
        "postgres": Layout("schema_migrations", {"version": f"{PG_VARCHAR}|text"}),
        "clickhouse": Layout("schema_migrations", {"version": "String", "ts": CH_DATETIME, "applied": "UInt8"}),
    }

    def place(self, source: Path, store: str, extensions: tuple[str, ...], options: Options) -> Placements:
        found = Placements()
        for path, match in matching(source, FILE, found, "dbmate migration (dbmate reads <digits>...sql)"):
            digits, rest = match[1], path.name[len(match[1]) : -len(".sql")]
            if rest.startswith("_") and len(rest) > 1:
                found.files.append(Placement(path, path.name, digits, int(digits)))
                continue
            description = rest.lstrip("-_. ") or "migration"
            found.files.append(
                Placement(
                    path,
                    f"{digits}_{description}.sql",
                    digits,
                    int(digits),
                    note="renamed: dbtools wants `_` between the version and the description",
                )
            )
        return found

    def read(
        self, store: str, table: ForeignTable, files: Sequence[Migration], mapping: Mapping[str, int], options: Options
    ) -> OldHistory:
        newest: dict[str, dict[str, Any]] = {}
        for row in table.rows:  # ClickHouse: the row with the latest ts wins, as ReplacingMergeTree(ts) keeps it
            key = str(row["version"])
            if key not in newest or seconds(row, "ts") >= seconds(newest[key], "ts"):
                newest[key] = row
        old = OldHistory()
        for key, row in newest.items():
            if int(row.get("applied", 1) or 0) != 1:
                continue  # rolled back
            if not key.isdigit():
                old.problems.append(
                    problem(
                        f"{store}: dbmate's {table.name} holds version {key!r}, which is not a number",
                        hint="dbmate versions are the digits a file name starts with; remove the stray row",
                    )
                )
                continue
            version = int(key)
            old.applied[version] = OldMigration(version, f"version {key}", applied_at=as_utc(row.get("ts")))
        return old


TOOL = Dbmate()
