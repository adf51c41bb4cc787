"""Flyway: `flyway_schema_history` (one row per run, only successful rows count) and files
`V<version>__<description>.sql` (versioned), `U<version>__...` (undo), `R__...` (repeatable).

Facts from Flyway's source (github.com/flyway/flyway, commit c5e20fc77341d4117e7a291214e23f89c1371516):
- the PostgreSQL table: flyway-database/flyway-database-postgresql/.../PostgreSQLDatabase.java
  getRawCreateScript (installed_rank INT, version VARCHAR(50), description VARCHAR(200), type VARCHAR(20),
  script VARCHAR(1000), checksum INTEGER, installed_by VARCHAR(100), installed_on TIMESTAMP, execution_time
  INTEGER, success BOOLEAN);
- row types: flyway-core/.../api/CoreMigrationType.java (SCHEMA, BASELINE and DELETE are synthetic rows);
- versions: flyway-core/.../api/MigrationVersion.java (`_` means `.`, parts compared as numbers,
  trailing zero parts ignored: 1.0 = 1);
- names: flyway-core/.../internal/resource/ResourceNameParser.java (prefix, version, `__`, description
  with `_` for spaces, suffix);
- the checksum: flyway-core/.../internal/resolver/ChecksumCalculator.java, see `checksum()` below.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dbtools.adopt.scan import PG_TIMESTAMP, PG_VARCHAR, matching
from dbtools.adopt.shared import Layout, OldHistory, OldMigration, Options, Placement, Placements, as_utc, problem
from dbtools.errors import DbtoolsError
from dbtools.migrations import Migration

if TYPE_CHECKING:
    from dbtools.backends.base import ForeignTable

FILE = re.compile(r"^(?P<prefix>[VUR])(?P<version>[0-9][0-9._]*)?__(?P<description>.*)\.sql$", re.IGNORECASE)
SYNTHETIC = ("SCHEMA", "DELETE", "BASELINE")


def checksum(data: bytes) -> int:
    """Flyway's checksum of a migration file, as ChecksumCalculator.calculateChecksumForResource computes it.

    Flyway reads the file line by line with java.io.BufferedReader.readLine() (a line ends at `\\n`, `\\r` or
    `\\r\\n`; no empty line follows a final terminator), drops a byte-order mark from the first line
    (BomFilter.FilterBomFromString), feeds each line's UTF-8 bytes without its terminator to one
    java.util.zip.CRC32, and stores the value cast to a signed 32-bit int. So line endings and a BOM do
    not change it; any other byte does. Files are read as UTF-8 (Flyway's default encoding); bytes that
    are not UTF-8 become U+FFFD, as Java's decoder makes them."""
    lines = re.split(r"\r\n|\r|\n", data.decode("utf-8", errors="replace"))
    if lines[-1] == "":
        lines.pop()
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    crc = 0
    for line in lines:
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def version_key(version: str) -> tuple[int, ...]:
    """Flyway's ordering of a version: parts as numbers, `_` as `.`, trailing zero parts dropped."""
    parts = [int(p) for p in re.split(r"\.(?=\d)", version.replace("_", "."))]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def display(version: str) -> str:
    """The version as Flyway writes it in its table (`1_1` -> `1.1`)."""
    return version.replace("_", ".")


class Flyway:
    name = "flyway"
    layouts: Mapping[str, Layout] = {
        "postgres": Layout(
            "flyway_schema_history",
            {
                "installed_rank": "integer",
                "version": PG_VARCHAR,
                "description": PG_VARCHAR,
                "type": PG_VARCHAR,
                "script": PG_VARCHAR,
                "checksum": "integer",
                "installed_on": PG_TIMESTAMP,
                "execution_time": "integer",
                "success": "boolean",
            },
        ),
    }

    def place(self, source: Path, store: str, extensions: tuple[str, ...], options: Options) -> Placements:
        found = Placements()
        versioned: list[tuple[tuple[int, ...], Path, str, str]] = []
        undos: dict[tuple[int, ...], Path] = {}
        for path, match in matching(source, FILE, found, "Flyway SQL migration (V<version>__<description>.sql)"):
            prefix = match["prefix"].upper()
            if prefix == "R":
                if options.skip_repeatable:
                    found.skipped.append((path.name, "repeatable migration, left out by --skip-repeatable"))
                else:
                    found.problems.append(_repeatable(store, path.name))
                continue
            if not match["version"]:
                found.skipped.append((path.name, "no version before `__`"))
                continue
            key = version_key(match["version"])
            if prefix == "U":
                undos[key] = path
            else:
                versioned.append((key, path, display(match["version"]), match["description"]))
        versioned.sort(key=lambda item: item[0])
        keep_numbers = all(len(key) == 1 for key, *_ in versioned)
        width = max(3, len(str(versioned[-1][0][0] if keep_numbers else len(versioned)))) if versioned else 3
        for index, (key, path, version, description) in enumerate(versioned, start=1):
            number = key[0] if keep_numbers else index
            stem = f"{number:0{width}d}_{description or 'migration'}"
            note = "renamed: dbtools names files NNN_description.sql"
            if not keep_numbers:
                note += f"; versions numbered 1..{len(versioned)} in Flyway's order (dotted versions)"
            found.files.append(Placement(path, f"{stem}.sql", version, number, note))
            undo = undos.pop(key, None)
            if undo is not None:
                found.files.append(
                    Placement(undo, f"{stem}.down.sql", version, number, "Flyway undo: the down migration of it")
                )
        for path in undos.values():
            found.skipped.append((path.name, "undo migration without its versioned migration"))
        return found

    def read(
        self, store: str, table: ForeignTable, files: Sequence[Migration], mapping: Mapping[str, int], options: Options
    ) -> OldHistory:
        by_key = {version_key(k): v for k, v in mapping.items() if re.fullmatch(r"[0-9][0-9._]*", k)}
        on_disk = {m.version: m for m in files}
        old = OldHistory()
        for row in sorted(table.rows, key=lambda r: int(r["installed_rank"])):
            kind, version, script = str(row["type"]), row["version"], str(row["script"])
            if kind == "SCHEMA":
                continue
            if not row["success"]:
                what = f"version {version}" if version else f"repeatable {script}"
                old.problems.append(
                    problem(
                        f"{store}: flyway_schema_history has a failed row for {what} ({script}, installed_rank "
                        f"{row['installed_rank']}): Flyway stopped there",
                        hint="fix the database by hand and remove the failed row with `flyway repair`, "
                        "then adopt again",
                    )
                )
                continue
            if version is None:
                if not options.skip_repeatable:
                    old.problems.append(_repeatable(store, script))
                continue
            number = self._number(str(version), by_key)
            if number is None:
                old.problems.append(
                    problem(
                        f"{store}: Flyway version {version} ({script}) has no dbtools number: migrations/{store}/"
                        "ADOPTED.md does not list it and it is not a whole number",
                        hint=f"lay Flyway's files with `adopt --from flyway --files DIR --db {store}` first "
                        "(it writes ADOPTED.md), then adopt again",
                    )
                )
                continue
            if kind == "DELETE" or kind.startswith("UNDO"):
                old.applied.pop(number, None)  # marked deleted by `flyway repair`, or undone
            elif kind == "BASELINE":
                old.through = number  # Flyway treats everything up to the baseline as applied
            else:
                old.applied[number] = OldMigration(
                    number,
                    f"V{version} ({script})",
                    applied_at=as_utc(row.get("installed_on")),
                    execution_ms=int(row.get("execution_time") or 0),
                )
                m = on_disk.get(number)
                stored = row.get("checksum")
                if m is not None and stored is not None and checksum(m.path.read_bytes()) != int(stored):
                    old.problems.append(
                        problem(
                            f"{store}: {m.path.name} does not match Flyway's checksum for {script}: Flyway stored "
                            f"{stored}, the file gives {checksum(m.path.read_bytes())} (edited since Flyway ran it?)",
                            hint="restore the file as Flyway applied it (see its git history), or accept the edit "
                            "with `flyway repair`, then adopt again",
                        )
                    )
        return old

    @staticmethod
    def _number(version: str, by_key: Mapping[tuple[int, ...], int]) -> int | None:
        key = version_key(version)
        if key in by_key:
            return by_key[key]
        return key[0] if not by_key and len(key) == 1 else None


def _repeatable(store: str, name: str) -> DbtoolsError:
    return problem(
        f"{store}: {name} is a Flyway repeatable migration; dbtools has no repeatable migrations",
        hint="pass --skip-repeatable to leave repeatables out (when one changes, add its new text as a "
        "numbered migration)",
    )


TOOL = Flyway()
