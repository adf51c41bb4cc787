"""Where a verb's store lives and how a verb holds it: the migrations folder, settings from the
environment, the connected backend with its files and reporter, and the migration lock.

Below both `runner` (the migration verbs) and `backup` (backup and restore), so neither imports the other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from dbtools import backends
from dbtools.audit import AuditTrail, Event, Reporter, discard
from dbtools.migrations import Migration, discover
from dbtools.plan import Plan, build
from dbtools.settings import Settings, from_env

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:  # the keywords' types are for the type checker only (runner, upkeep and adopt import them so)
    from typing import TypedDict, Unpack

    from dbtools.backends.base import Backend

    class StoreAt(TypedDict, total=False):
        """The keywords every verb takes to find its store: the migrations folder (default: `migrations_root()`)
        and the settings (default: from the environment). A verb declares them as `**located: Unpack[StoreAt]`."""

        migrations_dir: str | os.PathLike[str] | None
        settings: Settings | None

    class StoreReported(StoreAt, total=False):
        """`StoreAt` and where the verb's events go (default: nowhere), for the verbs that report."""

        report: Reporter | None


DEFAULT_LOCK_TIMEOUT = 60.0


def migrations_root(migrations_dir: str | os.PathLike[str] | None = None) -> Path:
    """The migrations folder: the argument, else DBTOOLS_MIGRATIONS_DIR, else ./migrations."""
    return Path(migrations_dir or os.environ.get("DBTOOLS_MIGRATIONS_DIR") or "migrations")


def configured_stores(migrations_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Stores that have a folder under the migrations folder, in registry order."""
    root = migrations_root(migrations_dir)
    return [name for name in backends.registry() if (root / name).is_dir()]


def settings_for(store: str, env: Mapping[str, str] | None = None) -> Settings:
    """Settings for `store` from the environment (its backend declares the variables)."""
    return from_env(store, backends.load(store).defaults, env)


class Context:
    """What one verb works with: the backend (connected), the files and a reporter."""

    def __init__(self, store: str, backend: Backend, files: list[Migration], report: AuditTrail) -> None:
        self.store = store
        self.backend = backend
        self.files = files
        self.report = report

    def plan(self, *, target: int | None = None) -> Plan:
        return build(self.files, self.backend.history(), store=self.store, target=target)


@contextmanager
def open_store(store: str, *, create_db: bool = False, **located: Unpack[StoreReported]) -> Iterator[Context]:
    """Load the backend, read the files, connect; close on exit."""
    cls = backends.load(store)
    folder = migrations_root(located.get("migrations_dir")) / store
    files = discover(folder, store, cls.extensions, max_version=cls.max_version)
    backend = cls(located.get("settings") or from_env(store, cls.defaults))
    if hasattr(backend, "use_migrations_folder"):  # what isinstance would check first (typing stays unloaded)
        from dbtools.backends.base import FolderDeclared

        if isinstance(backend, FolderDeclared):  # a store that reads declarations of the project's (Redis' layout)
            backend.use_migrations_folder(folder)
    backend.connect(create_database=create_db)
    trail = AuditTrail(located.get("report") or discard)
    try:
        yield Context(store, backend, files, trail)
    finally:
        backend.close()
        trail.flush()


@contextmanager
def migration_lock(ctx: Context, timeout: float | None = None) -> Iterator[None]:
    """Hold the store's migration lock (waiting up to `timeout` s, reporting whom we wait for); writes nothing else."""

    def waiting(detail: str) -> None:
        ctx.report(Event(ctx.store, "lock", "waiting", name="migration lock", detail=detail))

    with ctx.backend.lock(DEFAULT_LOCK_TIMEOUT if timeout is None else timeout, waiting):
        yield
