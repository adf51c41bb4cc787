"""`dbtools seed`: deterministic development data, loaded into each store by its fastest path.

`dataset.build(seed, scale, stores=...)` generates what the chosen stores receive (pure);
`load(store, dataset)` writes a store's tables through its backend's `count` / `wipe` / `load`
capabilities, in chunks of rows so progress shows as rows; `rows_progress` is that display.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from dbtools.audit import Event, Reporter, discard
from dbtools.errors import HistoryMismatch
from dbtools.seed.table import Table
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
    from dbtools.backends.base import Batching, Seedable, lacks
    from dbtools.session import open_store

    report = report or discard
    tables = data.stores.get(store, [])
    with open_store(store, migrations_dir=migrations_dir, settings=settings, report=report) as ctx:
        backend = ctx.backend
        if not isinstance(backend, Seedable):
            raise lacks(store, "seeding", Seedable, hint="seed the other stores")
        plan = ctx.plan()
        if plan.pending or plan.failed:
            raise HistoryMismatch(
                f"{store}: {len(plan.pending)} migration(s) pending; seed data needs the current schema",
                hint=f"run `migrate --db {store}` first",
            )
        targets = [t.target for t in tables]
        existing = backend.count(targets[0]) if targets else 0
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
        with backend.batch() if isinstance(backend, Batching) else nullcontext():
            if reset:
                backend.wipe(targets)
            loaded: dict[str, int] = {}
            with rows_progress(progress, f"loading {store}", total=sum(len(t) for t in tables)) as shown:
                for table in tables:
                    started = time.monotonic()
                    loaded[table.target] = 0
                    for chunk in _chunks(table):
                        loaded[table.target] += backend.load(chunk)
                        shown(len(chunk))
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


CHUNK_ROWS = 100_000  # rows per backend.load call: progress moves at least this often


def _chunks(table: Table) -> Iterator[Table]:
    """The table in slices of CHUNK_ROWS rows (the whole table when smaller)."""
    if len(table) <= CHUNK_ROWS:
        yield table
        return
    for start in range(0, len(table), CHUNK_ROWS):
        yield Table(table.target, {name: values[start : start + CHUNK_ROWS] for name, values in table.columns.items()})


@contextmanager
def rows_progress(enabled: bool, what: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A function counting rows on a progress line (stderr, tqdm) while inside; does nothing when disabled."""
    if not enabled:
        yield lambda rows: None
        return
    from tqdm import tqdm

    with tqdm(desc=what, total=total, unit=" rows", unit_scale=True, leave=False, mininterval=0.2) as bar:
        bar.refresh()  # shown at once, not at the first update
        yield bar.update
