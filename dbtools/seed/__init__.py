"""`dbtools seed`: deterministic development data, loaded into each store by its fastest path.

`dataset.build(seed, scale)` generates everything (pure); `load(store, dataset)` writes a store's
tables through its backend's `count` / `wipe` / `load` capabilities.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from typing import Any

from dbtools.audit import Event, Reporter, discard
from dbtools.errors import HistoryMismatch, UsageError
from dbtools.settings import Settings


def load(
    store: str,
    data: Any,
    *,
    reset: bool = False,
    settings: Settings | None = None,
    migrations_dir: str | os.PathLike[str] | None = None,
    report: Reporter | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Load `data`'s tables for `store`; skip a store already seeded unless `reset` (which wipes first).

    Returns rows loaded per target (empty when skipped)."""
    from dbtools.runner import open_store

    report = report or discard
    tables = data.stores.get(store, [])
    with open_store(store, migrations_dir=migrations_dir, settings=settings, report=report) as ctx:
        if not hasattr(ctx.backend, "load"):
            raise UsageError(f"seeding is not available for {store} yet", hint="seed the other stores")
        plan = ctx.plan()
        if plan.pending or plan.failed:
            raise HistoryMismatch(
                f"{store}: {len(plan.pending)} migration(s) pending; seed data needs the current schema",
                hint=f"run `migrate --db {store}` first",
            )
        targets = [t.target for t in tables]
        existing = ctx.backend.count(targets[0]) if targets else 0
        if existing and not reset:
            report(
                Event(
                    store,
                    "seed",
                    "skipped",
                    detail=f"already seeded ({existing} rows in {targets[0]}); --reset reloads",
                )
            )
            return {}
        # where the store has transactions, wipe and load commit together (or not at all)
        with getattr(ctx.backend, "batch", nullcontext)():
            if reset:
                ctx.backend.wipe(targets)
            loaded: dict[str, int] = {}
            for table in _progress(tables, store, progress):
                started = time.monotonic()
                loaded[table.target] = ctx.backend.load(table)
                elapsed = time.monotonic() - started
                rate = f", {len(table) / elapsed:,.0f} rows/s" if elapsed > 0.05 else ""
                report(
                    Event(
                        store,
                        "seed",
                        "loaded",
                        name=table.target,
                        duration_ms=int(elapsed * 1000),
                        detail=f"{len(table):,} rows{rate}",
                    )
                )
        return loaded


def _progress(tables: list[Any], store: str, enabled: bool) -> Any:
    if not enabled:
        return tables
    from tqdm import tqdm

    return tqdm(tables, desc=f"seeding {store}", unit="table", leave=False)
