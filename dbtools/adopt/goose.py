"""goose: `goose_db_version` keeps a row per up (and, in older releases, per down with is_applied false);
the latest row of a version decides, and version 0 is goose's own first row. Files
`<version>_<name>.sql` with `-- +goose Up/Down`, read by dbtools as they are; Go migrations are refused.

Layouts as goose creates them (github.com/pressly/goose, commit 520411a16119bd3b332613d1ff8312c4cc249673):
internal/dialects/postgres.go `goose_db_version (id integer ... IDENTITY, version_id bigint, is_applied
boolean, tstamp timestamp default now())`; internal/dialects/clickhouse.go `version_id Int64, is_applied
UInt8, date Date, tstamp DateTime` in a MergeTree; migrate.go createVersionTable inserts version 0;
migration.go NumericComponent: the digits before the first `_`, at least 1, `.sql` or `.go`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dbtools.adopt.scan import CH_DATETIME, PG_TIMESTAMP, candidates, seconds
from dbtools.adopt.shared import Layout, OldHistory, OldMigration, Options, Placement, Placements, as_utc, problem
from dbtools.migrations import Migration

if TYPE_CHECKING:
    from dbtools.backends.base import ForeignTable


class Goose:
    name = "goose"
    layouts: Mapping[str, Layout] = {
        "postgres": Layout(
            "goose_db_version",
            {
                "id": "integer|bigint",
                "version_id": "bigint",
                "is_applied": "boolean",
                "tstamp": PG_TIMESTAMP,
            },
        ),
        "clickhouse": Layout("goose_db_version", {"version_id": "Int64", "is_applied": "UInt8", "tstamp": CH_DATETIME}),
    }

    def place(self, source: Path, store: str, extensions: tuple[str, ...], options: Options) -> Placements:
        found = Placements()
        for path in candidates(source):
            if path.suffix not in (".sql", ".go"):
                continue
            digits, _, rest = path.name.partition("_")
            if not digits.isdigit() or not rest or int(digits) < 1:
                found.skipped.append((path.name, "not a goose migration (<version>_<name>.sql, version 1 or more)"))
            elif path.suffix == ".go":
                found.problems.append(
                    problem(
                        f"{store}: {path.name} is a goose Go migration; dbtools runs SQL files, not Go code",
                        hint=f"rewrite it as {path.stem}.sql (its effect as SQL statements), then adopt again",
                    )
                )
            else:
                found.files.append(Placement(path, path.name, digits, int(digits)))
        return found

    def read(
        self, store: str, table: ForeignTable, files: Sequence[Migration], mapping: Mapping[str, int], options: Options
    ) -> OldHistory:
        # PostgreSQL: rows in id order; ClickHouse has no id, so its rows go by time (ties keep table order)
        ordered = sorted(
            enumerate(table.rows), key=lambda item: (int(item[1].get("id") or 0), seconds(item[1], "tstamp"), item[0])
        )
        latest: dict[int, dict[str, object]] = {}
        for _, row in ordered:
            latest[int(row["version_id"])] = row
        old = OldHistory()
        for version, row in latest.items():
            if version == 0 or not row["is_applied"]:
                continue
            old.applied[version] = OldMigration(version, f"version {version}", applied_at=as_utc(row.get("tstamp")))
        return old


TOOL = Goose()
