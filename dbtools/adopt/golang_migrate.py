"""golang-migrate: one current version and a dirty flag; every migration up to that version counts as
applied. Files `<version>_<name>.up.<ext>` and `.down.<ext>`, which dbtools reads as they are.

Layouts as golang-migrate creates them (github.com/golang-migrate/migrate, commit
18966c755f83de2b250dd8e766bad8b769cd0e25): database/postgres/postgres.go `schema_migrations (version
bigint not null primary key, dirty boolean not null)`, rewritten (TRUNCATE + INSERT) on every change;
database/clickhouse/clickhouse.go `schema_migrations (version Int64, dirty UInt8, sequence UInt64)`
(TinyLog by default), a row appended per change and the largest `sequence` deciding;
database/mongodb/mongodb.go one document `{version, dirty}` in `schema_migrations`.
File names: source/parse.go `^([0-9]+)_(.*)\\.(down|up)\\.(.*)$`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dbtools.adopt.scan import matching
from dbtools.adopt.shared import Layout, OldHistory, OldMigration, Options, Placement, Placements, problem
from dbtools.migrations import Migration

if TYPE_CHECKING:
    from dbtools.backends.base import ForeignTable

FILE = re.compile(r"^([0-9]+)_(.*)\.(down|up)\.(.*)$")
NIL_VERSION = -1


class GolangMigrate:
    name = "golang-migrate"
    layouts: Mapping[str, Layout] = {
        "postgres": Layout("schema_migrations", {"version": "bigint", "dirty": "boolean"}),
        "clickhouse": Layout("schema_migrations", {"version": "Int64", "dirty": "UInt8", "sequence": "UInt64"}),
        "mongodb": Layout("schema_migrations", {"version": "int", "dirty": "bool"}),
    }

    def place(self, source: Path, store: str, extensions: tuple[str, ...], options: Options) -> Placements:
        found = Placements()
        for path, match in matching(source, FILE, found, "golang-migrate migration (<version>_<name>.up|down.<ext>)"):
            if match[4] not in extensions:
                found.problems.append(
                    problem(
                        f"{store}: {path.name} is a .{match[4]} migration, which dbtools does not run for {store}",
                        hint=f"{store} runs {', '.join('.' + e for e in extensions)} files; rewrite it as one",
                    )
                )
                continue
            found.files.append(Placement(path, path.name, match[1], int(match[1])))
        return found

    def read(
        self, store: str, table: ForeignTable, files: Sequence[Migration], mapping: Mapping[str, int], options: Options
    ) -> OldHistory:
        rows = sorted(table.rows, key=lambda r: int(r.get("sequence") or 0), reverse=True)
        if not rows:
            return OldHistory()
        current = rows[0]  # PostgreSQL and MongoDB keep one row; ClickHouse appends, the newest sequence decides
        version, dirty = int(current["version"]), bool(current["dirty"])
        label = next((m.path.name for m in files if m.version == version), f"version {version}")
        if dirty:
            return OldHistory(
                problems=[
                    problem(
                        f"{store}: golang-migrate left {label} dirty: it failed or was interrupted part-way, and "
                        "golang-migrate does not know how far it got",
                        hint=f"check what {label} changed, finish or undo it by hand, mark it with golang-migrate's "
                        f"`force {version}` (finished) or `force {max(version - 1, NIL_VERSION)}` (undone), "
                        "then adopt again",
                    )
                ]
            )
        if version == NIL_VERSION:
            return OldHistory()
        sequence = current.get("sequence")
        when = datetime.fromtimestamp(int(sequence) / 1e9, UTC) if sequence else None  # SetVersion's time.Now()
        return OldHistory(applied={version: OldMigration(version, label, applied_at=when)}, through=version)


TOOL = GolangMigrate()
