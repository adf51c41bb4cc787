"""What every source tool shares: the values, the layout check, the adoption plan and its refusals.

Pure: no store is touched here. A tool module turns the other tool's table into an `OldHistory`;
`plan()` compares it with the files and with dbtools' own history and either returns the rows to
record or raises `Refusals` naming every problem at once (adoption never guesses).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dbtools.errors import DbtoolsError, Refusals
from dbtools.migrations import Migration
from dbtools.plan import AppliedMigration

if TYPE_CHECKING:
    from dbtools.backends.base import ForeignTable

MAPPING_FILE = "ADOPTED.md"


def problem(message: str, hint: str) -> DbtoolsError:
    """One reason to refuse: an `error:` line and its `hint:` line."""
    return DbtoolsError(message, hint=hint)


# -- the other tool's table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where and how a tool keeps its history in one store: the table and the columns it creates,
    each with a pattern of the type names the store reports for it (taken from the tool's source)."""

    table: str
    columns: Mapping[str, str]  # column -> regular expression over the store's type name


def check_layout(tool: str, store: str, layout: Layout, table: ForeignTable) -> list[DbtoolsError]:
    """Refuse a table that is not the tool's: a column missing or of another type (extra columns pass)."""
    if not table.columns and not table.rows:
        return []  # an empty collection of a schemaless store: nothing to disagree with
    wrong = [
        name
        for name, pattern in layout.columns.items()
        if name not in table.columns or not re.fullmatch(pattern, table.columns[name], re.IGNORECASE)
    ]
    if not wrong:
        return []
    has = ", ".join(f"{n} {t}" for n, t in table.columns.items()) or "no common fields"
    wants = ", ".join(layout.columns)
    return [
        problem(
            f"{store}: {table.name} is not {tool}'s history table: it has ({has}); {tool}'s has ({wants})",
            hint=f"check --from (which tool made {table.name}?), or pass --table NAME where {tool} keeps its history",
        )
    ]


# -- what the old tool says was applied -----------------------------------------------------------


@dataclass(frozen=True)
class OldMigration:
    """One migration the old tool recorded as applied, under dbtools' version number."""

    version: int
    label: str  # how the old tool names it: "20200101120000", "V1.1", "20210902-initial.js"
    applied_at: datetime | None = None
    execution_ms: int = 0


@dataclass
class OldHistory:
    """The old tool's record: what it applied, and (golang-migrate, a Flyway baseline) a version up to
    which every file counts as applied without a row of its own."""

    applied: dict[int, OldMigration] = field(default_factory=dict)
    through: int | None = None
    problems: list[DbtoolsError] = field(default_factory=list)


# -- the files: where each of the old tool's files goes -----------------------------------------


@dataclass(frozen=True)
class Placement:
    """One file of the other tool and the name it gets in migrations/<store>/ (bytes unchanged)."""

    source: Path
    target: str
    old_version: str  # the version as the old tool wrote it ("1.1", "20200101120000")
    version: int  # dbtools' version
    note: str = ""  # why it was renamed ("" when the name is kept)


@dataclass
class Placements:
    """What the files step would do: the files to lay, the files left aside (and why), the problems."""

    files: list[Placement] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    problems: list[DbtoolsError] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    """Choices the user made on the command line that tools honour."""

    skip_repeatable: bool = False


class Tool(Protocol):
    """A source tool: how its files map to ours and how to read its history table."""

    name: str
    layouts: Mapping[str, Layout]  # store -> its history there (stores the tool does not serve are absent)

    def place(self, source: Path, store: str, extensions: tuple[str, ...], options: Options) -> Placements:
        """Map the tool's files in `source` to dbtools names (nothing is written)."""

    def read(
        self, store: str, table: ForeignTable, files: Sequence[Migration], mapping: Mapping[str, int], options: Options
    ) -> OldHistory:
        """Interpret the tool's history rows. `mapping` is ADOPTED.md's original version -> dbtools version."""


def leading_version(name: str) -> int | None:
    """The leading digits of a file name as a number (dbmate, golang-migrate, goose, migrate-mongo)."""
    match = re.match(r"\d+", name)
    return int(match[0]) if match else None


def as_utc(value: object) -> datetime | None:
    """A timestamp read from another tool's table as an aware UTC datetime (naive values are UTC)."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- the adoption plan --------------------------------------------------------------------------


def plan(
    store: str,
    tool: str,
    files: Sequence[Migration],
    old: OldHistory,
    existing: Iterable[AppliedMigration],
    *,
    applied_by: str,
    tool_version: str,
    now: datetime,
) -> list[AppliedMigration]:
    """The dbtools rows that record the old tool's state; raises Refusals naming every problem.

    Refused: a version in the old history with no file; a file below the newest adopted version that
    the old history does not list (an out-of-order hole); anything the tool module found (dirty or
    failed rows, checksum mismatches, a foreign layout); dbtools history that disagrees. Rows dbtools
    already holds in agreement are not written again, so a second run records nothing."""
    problems = list(old.problems)
    on_disk = {m.version: m for m in files}
    chosen = dict(old.applied)
    if old.through is not None:
        for m in files:
            if m.version <= old.through and m.version not in chosen:
                chosen[m.version] = OldMigration(m.version, f"up to {old.through}")
    for version, entry in sorted(chosen.items()):
        if version not in on_disk:
            problems.append(
                problem(
                    f"{store}: {tool}'s history lists {entry.label} as applied, but migrations/{store}/ has no "
                    f"file with version {version}",
                    hint=f"lay the old files first (`adopt --from {tool} --files DIR --db {store}`) or restore "
                    "that file; adoption records only migrations it can check",
                )
            )
    top = max(chosen, default=None)
    holes = [m for m in files if top is not None and m.version < top and m.version not in chosen]
    for m in holes:
        problems.append(
            problem(
                f"{store}: {m.path.name} is numbered below {tool}'s newest applied version {top}, but {tool}'s "
                "history does not list it (an out-of-order hole: was it ever applied?)",
                hint=f"apply it with {tool} first, or renumber it above {top} so that dbtools applies it next, "
                "then adopt again",
            )
        )
    rows = {row.version: row for row in existing}
    agreed: set[int] = set()
    for version, row in sorted(rows.items()):
        if version in chosen and (file := on_disk.get(version)) is not None:
            if not row.is_applied:
                problems.append(
                    problem(
                        f"{store}: dbtools history already holds {file.label} as {row.status}, but {tool} says it "
                        "was applied",
                        hint=f"see `status --db {store}`; clear the row with `repair --db {store}`, then adopt again",
                    )
                )
            elif row.checksum != file.checksum:
                problems.append(
                    problem(
                        f"{store}: dbtools history already holds {file.label} with another checksum than the file",
                        hint=f"restore the file as it was applied, or accept it with `repair --db {store}`, "
                        "then adopt again",
                    )
                )
            else:
                agreed.add(version)
        elif top is not None and version < top and version not in chosen:
            problems.append(
                problem(
                    f"{store}: dbtools history lists {version} as {row.status}, but {tool}'s history does not",
                    hint=f"this database was migrated by both tools; see `status --db {store}` and remove the "
                    f"stray row with `repair --db {store}` if the migration really did not run",
                )
            )
    if problems:
        raise Refusals(problems)
    return [
        AppliedMigration(
            version=version,
            name=on_disk[version].name,
            checksum=on_disk[version].checksum,
            status="applied",
            applied_at=entry.applied_at or now,
            execution_ms=entry.execution_ms,
            applied_by=applied_by,
            tool_version=tool_version,
            adopted_from=tool,
        )
        for version, entry in sorted(chosen.items())
        if version not in agreed
    ]


# -- ADOPTED.md: the mapping laid beside the files ------------------------------------------------


def mapping_text(tool: str, source: Path, placements: Sequence[Placement], skipped: Sequence[tuple[str, str]]) -> str:
    """ADOPTED.md: which file came from where. The table is read back by `adopt --from TOOL --db STORE`."""
    lines = [
        f"# Adopted from {tool}",
        "",
        f"`dbtools adopt --from {tool} --files {source}` laid these files here. Their contents are the old",
        f"tool's, byte for byte; a name changed only where dbtools needed it. `adopt --from {tool} --db STORE`",
        f"reads this table to match {tool}'s history to the files. Keep it while any database still has to be",
        "adopted.",
        "",
        "| file here | original | original version | note |",
        "|---|---|---|---|",
    ]
    for p in sorted(placements, key=lambda p: (p.version, p.target)):
        lines.append(f"| {p.target} | {p.source.name} | {p.old_version} | {p.note or 'unchanged'} |")
    if skipped:
        lines += ["", "Left out:", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in skipped]
    return "\n".join(lines) + "\n"


def read_mapping(folder: Path) -> dict[str, int]:
    """Original version (and original file name) -> dbtools version, from folder/ADOPTED.md ({} if none)."""
    path = folder / MAPPING_FILE
    if not path.is_file():
        return {}
    mapping: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0][:1].isdigit():
            continue
        version = leading_version(cells[0])
        if version is not None:
            mapping[cells[2]] = version
            mapping[cells[1]] = version
    return mapping
