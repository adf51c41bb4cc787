"""The verbs that tend history and files without running a migration: baseline, repair, unlock,
check (a store's declared layout) and new (the next migration file). Split from `runner.py`, which
still offers every one of them by name; none of them is on `migrate`'s path.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Unpack

from dbtools import backends
from dbtools.audit import Event
from dbtools.errors import HistoryMismatch, UsageError
from dbtools.migrations import new_file
from dbtools.plan import AppliedMigration
from dbtools.runner import _locked
from dbtools.session import DEFAULT_LOCK_TIMEOUT, migrations_root, open_store

TYPE_CHECKING = False  # typing's own constant (see dbtools.records)
if TYPE_CHECKING:
    from dbtools.session import StoreReported


def baseline(
    store: str, version: int, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, **located: Unpack[StoreReported]
) -> list[int]:
    """Adopt an existing database: record every migration up to `version` as applied without running it."""
    with open_store(store, **located) as ctx:
        with _locked(ctx, lock_timeout):
            history = ctx.backend.history()
            if history:
                raise HistoryMismatch(
                    f"{store}: history already has {len(history)} row(s); baseline is for a database without history",
                    hint=f"see `status --db {store}`; use `repair` to fix individual rows",
                )
            chosen = [m for m in ctx.files if m.version <= version]
            if not chosen:
                raise UsageError(
                    f"{store}: no migration file with a version <= {version}",
                    hint="pick the version the existing database corresponds to",
                )
            from dbtools.backends.base import history_row

            for m in chosen:
                row = history_row(
                    m, status="baseline", started=time.monotonic(), statements_done=0, statements=[]
                )._replace(statements_total=None)
                ctx.backend.record(row)
                ctx.report(Event(store, "baseline", "recorded", m.version, m.name))
            return [m.version for m in chosen]


def repair(store: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, **located: Unpack[StoreReported]) -> list[str]:
    """Accept changed checksums, forget failed/interrupted and missing rows. Returns what it did."""
    with open_store(store, **located) as ctx:
        with _locked(ctx, lock_timeout):
            plan = ctx.plan()
            files = {m.version: m for m in plan.files}
            rows = {row.version: row for row in (*plan.applied, *plan.failed)}
            actions: list[str] = []
            for version in plan.changed:
                ctx.backend.record(rows[version]._replace(checksum=files[version].checksum))
                actions.append(f"accepted the edited file of {plan.label(version)}")
                ctx.report(
                    Event(
                        store,
                        "repair",
                        "accepted",
                        version,
                        rows[version].name,
                        detail="the file as it is now counts as applied; the database keeps what the earlier "
                        "text applied (write a new migration for any difference)",
                    )
                )
            for row in plan.failed:
                if row.version in plan.missing:
                    continue
                ctx.backend.forget(row.version)
                actions.append(f"cleared the {row.status} row of {plan.label(row.version)}")
                kept = _left_behind(row)
                ctx.report(Event(store, "repair", "cleared", row.version, row.name, detail=f"pending again; {kept}"))
            for version in plan.missing:
                ctx.backend.forget(version)
                actions.append(f"forgot {plan.label(version)} (no file)")
                ctx.report(
                    Event(
                        store,
                        "repair",
                        "forgotten",
                        version,
                        rows[version].name,
                        detail="file gone, dropped from history; the database keeps what it applied",
                    )
                )
            if not actions:
                ctx.report(Event(store, "repair", "nothing", detail="history and files agree"))
            return actions


def _left_behind(row: AppliedMigration) -> str:
    """What `repair` leaves in the database when it clears an unfinished row."""
    if not row.left_changes:
        return "nothing of it was kept"
    parts = [f"the {row.statements_done} statement(s) that ran"] if row.statements_done else []
    if row.stopped_in_step:
        parts.append(f"whatever statement {row.stopped_in_step} did before it stopped")
    return " and ".join(parts) + " stay in the database"


def unlock(store: str, **located: Unpack[StoreReported]) -> str | None:
    """Break the migration lock held by a dead or stuck run; return what was freed (None: it was free)."""
    with open_store(store, **located) as ctx:
        freed = ctx.backend.break_lock()
        ctx.report(Event(store, "unlock", "freed" if freed else "nothing", detail=freed or "the lock was free"))
        return freed


def check_layout(store: str, **located: Unpack[StoreReported]) -> int:
    """Check live data against the store's declared layout; return the number of violations."""
    from dbtools.backends.base import LayoutChecked, lacks

    if not isinstance(backends.load(store), LayoutChecked):  # asked before connecting
        raise lacks(store, "check", LayoutChecked, hint="stores with a declared layout: redis")
    with open_store(store, **located) as ctx:
        assert isinstance(ctx.backend, LayoutChecked)
        return ctx.backend.check(ctx.report)


def new(
    store: str,
    description: str,
    *,
    migrations_dir: str | os.PathLike[str] | None = None,
    extension: str | None = None,
) -> Path:
    """Create the next-numbered migration file for `store` from its template."""
    from dbtools.backends.base import Templated

    cls = backends.load(store)
    ext = extension or cls.extensions[0]
    if ext not in cls.extensions:
        raise UsageError(f"{store} does not run .{ext} files", hint=f"use one of: {', '.join(cls.extensions)}")
    extra: dict[str, str] = cls.templates if isinstance(cls, Templated) else {}
    template = cls.new_template if ext == cls.extensions[0] else extra.get(ext, "")
    return new_file(migrations_root(migrations_dir) / store, store, description, ext, template)
