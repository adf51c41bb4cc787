"""Disk versus history: which migrations are applied, pending, changed, missing, out of order, failed.

Pure: `build(files, history)` takes plain lists and returns a Plan, so every state is unit-tested
without a store.
"""

# The NamedTuples a run makes (here, migrations, settings, values, audit, cli_commands) are dbtools.records'
# stand-in for typing's: no typing import, and annotations kept as written, not checked one by one (issue 18).
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from operator import attrgetter, itemgetter

from dbtools.migrations import Migration

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from dbtools.records import NamedTuple

APPLIED_STATES = ("applied", "baseline")  # rows that count as done
_version = attrgetter("version")
UNFINISHED_STATES = ("failed", "running")  # a run stopped inside the migration
DOWN_MARK = "down:"  # starts the progress_checksum of a row a rollback left unfinished (no history layout changes)


class AppliedMigration(NamedTuple):
    """One history row. `statements_done` tells where an unfinished migration stopped. A NamedTuple, not a
    dataclass: a run reads one per applied migration, and the no-op run imports no dataclasses (issue 18)."""

    version: int
    name: str
    checksum: str
    status: str  # applied | baseline | failed | running
    statements_done: int = 0
    statements_total: int | None = None
    progress_checksum: str = ""  # checksum of the statements done, for --resume
    error: str | None = None
    applied_at: datetime | None = None
    execution_ms: int = 0
    applied_by: str = ""
    tool_version: str = ""
    adopted_from: str = ""  # the tool whose history recorded it (`adopt --from`); "" when dbtools ran it
    in_step: int = 0  # the step (statement) this row's run had started and not finished, 1-based; 0: none

    @property
    def stopped_in_step(self) -> int:
        """The step (1-based) an unfinished migration stopped inside, which may have left part of its
        work behind; 0 when it stopped between steps (or nothing of it stayed: a rolled-back transaction).

        A `running` row is written just before each step that runs without a transaction, so one left
        behind means its run died inside step `statements_done + 1` (rows of older dbtools versions,
        which lack `in_step`, are read the same way)."""
        if self.status == "failed":
            return self.in_step
        if self.status != "running":
            return 0
        if self.in_step:
            return self.in_step
        total = self.statements_total
        return self.statements_done + 1 if total is None or self.statements_done < total else 0

    @property
    def reverting(self) -> bool:
        """True for an unfinished row a rollback left: its down section ran part-way outside a transaction
        (`statements_done` counts down steps; the version is neither applied nor cleanly reverted)."""
        return self.status in UNFINISHED_STATES and self.progress_checksum.startswith(DOWN_MARK)

    @property
    def is_applied(self) -> bool:
        return self.status in APPLIED_STATES

    @property
    def left_changes(self) -> bool:
        """True when an unfinished migration may have left changes: statements done, or one started and
        not finished, or a rollback's row (its up ran whole) - it needs `--resume` or `repair`, never a
        silent re-run."""
        return self.status in UNFINISHED_STATES and (
            self.statements_done > 0 or self.stopped_in_step > 0 or self.reverting
        )

    def values(self) -> tuple[Any, ...]:
        """The row's fields in the order declared above: the order of the history tables' columns."""
        return tuple(self)


class Plan:
    """Where a store stands against its migrations folder (built by `build`; not changed after)."""

    def __init__(
        self,
        store: str,
        applied: tuple[AppliedMigration, ...],
        pending: tuple[Migration, ...],
        changed: tuple[int, ...],
        missing: tuple[int, ...],
        out_of_order: tuple[int, ...],
        failed: tuple[AppliedMigration, ...],
        files: tuple[Migration, ...] = (),
    ) -> None:
        self.store = store
        self.applied = applied  # done and still on disk or not (see missing)
        self.pending = pending  # on disk, not done (unfinished ones included), within target
        self.changed = changed  # applied, but the file's checksum differs
        self.missing = missing  # in history, no file on disk
        self.out_of_order = out_of_order  # pending below the highest applied version
        self.failed = failed  # unfinished rows: failed, or interrupted while running
        self.files = files

    @property
    def current(self) -> int | None:
        """The highest applied version, None for an empty history."""
        return max((row.version for row in self.applied), default=None)

    def as_dict(self) -> dict[str, object]:
        """The `status --json` form: lists of versions."""
        return {
            "current": self.current,
            "applied": [row.version for row in self.applied],
            "pending": [m.version for m in self.pending],
            "failed": [row.version for row in self.failed],
            "changed": list(self.changed),
            "missing": list(self.missing),
            "out_of_order": list(self.out_of_order),
        }

    @cached_property
    def _files_by_version(self) -> dict[int, Migration]:
        return {m.version: m for m in self.files}

    @cached_property
    def _rows_by_version(self) -> dict[int, AppliedMigration]:
        return {row.version: row for row in (*self.applied, *self.failed)}

    def label(self, version: int) -> str:
        """`002_b` for a version: the file's name, else the name history recorded (a missing file). A
        summary names a few versions of a long history: only those are formatted."""
        found = self._files_by_version.get(version)
        if found is not None:
            return found.label
        row = self._rows_by_version.get(version)
        return f"{version:03d}_{row.name}" if row is not None else f"{version:03d}"

    def labels(self, versions: Iterable[int]) -> str:
        """`001_a, 002_b`: the versions named as in messages."""
        return ", ".join(self.label(v) for v in versions)

    def migrations(self) -> list[dict[str, object]]:
        """Every version on disk or in history with its name and state, for `status --json`.

        state: applied | baseline | pending | failed | running | changed (applied, file edited since) |
        missing (applied, file gone)."""
        rows = {row.version: row for row in (*self.applied, *self.failed)}
        changed, missing = set(self.changed), set(self.missing)
        result: list[dict[str, object]] = []
        for m in self.files:
            row = rows.get(m.version)
            state = "changed" if m.version in changed else row.status if row is not None else "pending"
            result.append({"version": m.version, "name": m.name, "label": m.label, "file": m.path.name, "state": state})
        for version in missing:  # rows without a file
            row = rows[version]
            label = f"{version:03d}_{row.name}"
            result.append({"version": version, "name": row.name, "label": label, "file": None, "state": "missing"})
        result.sort(key=itemgetter("version"))  # linear when already in order
        return result


def build(
    files: Iterable[Migration], history: Iterable[AppliedMigration], *, store: str = "", target: int | None = None
) -> Plan:
    """Compare files with history rows. `target` limits pending to versions <= target.

    Linear in files and rows (both usually arrive sorted, which sorting checks in one pass)."""
    files = sorted(files, key=_version)
    rows = sorted({row.version: row for row in history}.values(), key=_version)
    applied = tuple(row for row in rows if row.status in APPLIED_STATES)
    done = {row.version: row.checksum for row in applied}
    on_disk = {m.version: m.checksum for m in files}
    top = applied[-1].version if applied else None
    pending = tuple(m for m in files if m.version not in done and (target is None or m.version <= target))
    return Plan(
        store=store or (files[0].store if files else ""),
        applied=applied,
        pending=pending,
        changed=tuple(v for v, checksum in done.items() if v in on_disk and on_disk[v] != checksum),
        missing=tuple(row.version for row in rows if row.version not in on_disk),
        out_of_order=tuple(m.version for m in pending if top is not None and m.version < top),
        failed=tuple(row for row in rows if row.status not in APPLIED_STATES),
        files=tuple(files),
    )
