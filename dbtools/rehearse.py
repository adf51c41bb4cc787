"""`rehearse`: restore a backup into a throwaway sandbox and apply the pending migrations there, timed.

The source store is never contacted. Built from `backup` (the folder checks and the restore) and the
runner's plan check; a backend may offer `rehearsal_cost()` (what one migration cost: locks, mutations)
and `restore_provider(manifest)` (which sandbox kind can load this backup).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from dbtools.backends.base import RehearsalCost, RestoreProvider
from dbtools.backup import check_version, read_manifest, restore_into
from dbtools.errors import MigrationFailed
from dbtools.runner import check, open_store


def rehearse(
    store: str,
    from_dir: str | os.PathLike[str],
    *,
    migrations_dir: str | os.PathLike[str] | None = None,
    provider: str | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Restore a backup into a throwaway sandbox, apply the pending migrations there, measure each.

    Returns {"store", "backup", "sandbox", "restore_ms", "from_version", "to_version", "migrations": [...]};
    a migration that fails ends the rehearsal with its row marked failed. The source is never contacted."""
    from dbtools import backends, sandbox

    folder = Path(from_dir)
    manifest = read_manifest(folder, store)
    check_version(manifest, store, migrations_dir)
    cls = backends.load(store)
    kind = provider or (cls.restore_provider(manifest) if isinstance(cls, RestoreProvider) else None)
    box = sandbox.start(store, kind)
    result: dict[str, Any] = {"store": store, "backup": str(folder), "from_version": manifest.get("version")}
    with box as target:
        result["sandbox"] = box.kind or kind
        result["sandbox_server"] = box.label  # e.g. SecantusDB, which is not mongod
        with open_store(store, migrations_dir=migrations_dir, settings=target, create_db=True) as ctx:
            started = time.monotonic()
            restore_into(ctx.backend, store, folder, manifest, force=True)
            result["restore_ms"] = int((time.monotonic() - started) * 1000)
            plan = ctx.plan()
            check(plan)
            steps: list[dict[str, Any]] = []
            result["migrations"] = steps
            cost = ctx.backend.rehearsal_cost if isinstance(ctx.backend, RehearsalCost) else None
            for m in plan.pending:
                statements = ctx.backend.split(m)
                step: dict[str, Any] = {"version": m.version, "name": m.name, "statements": len(statements)}
                began = time.monotonic()
                with _measured(cost) as costs:
                    try:
                        ctx.backend.apply(m, statements)
                        step["status"] = "applied"
                    except MigrationFailed as exc:
                        step["status"] = "failed"
                        step["error"] = exc.message
                step["duration_ms"] = int((time.monotonic() - began) * 1000)
                step["cost"] = costs
                steps.append(step)
                if on_step is not None:
                    on_step(step)
                if step["status"] == "failed":
                    break
            result["to_version"] = ctx.plan().current
    return result


@contextmanager
def _measured(cost: Callable[[], AbstractContextManager[dict[str, Any]]] | None) -> Iterator[dict[str, Any]]:
    if cost is None:
        yield {}
        return
    with cost() as costs:
        yield costs
