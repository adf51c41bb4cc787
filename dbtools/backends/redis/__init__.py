"""Redis: Python migrations with per-step progress, a hash for history, a renewed SET NX PX lock, layout check.

A "database" is a DB index (REDIS_DB, or the URL path `/3`): history, lock and data of one index are
independent of the others. Tests get a fresh index per test from `RedisBackend.isolated` (sandbox only:
it flushes the index it hands out).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dbtools import scripts
from dbtools.backends.redis.apply import RedisApply
from dbtools.backends.redis.client import _mapped
from dbtools.backends.redis.describe import RedisDescribe
from dbtools.backends.redis.layout import Layout
from dbtools.backends.redis.layout import project as project_layout
from dbtools.backends.redis.layout import use as use_layout
from dbtools.backends.redis.load import RedisLoad
from dbtools.backends.redis.lock import LockKey
from dbtools.backends.redis.sandbox import SANDBOX_DATABASES, docker_recipe, local_recipe
from dbtools.errors import UsageError
from dbtools.leases import Lease
from dbtools.migrations import INT64_MAX, Migration
from dbtools.settings import Settings, StoreDefaults
from dbtools.sqltext import Statement
from dbtools.values import LEASE, Number

_next_index = itertools.count()


class RedisBackend(RedisApply, RedisDescribe, RedisLoad):
    """Redis through redis-py. Migrations are Python scripts; no transactions, so progress is per step."""

    name: ClassVar[str] = "redis"
    defaults: ClassVar[StoreDefaults] = StoreDefaults(
        url_env="REDIS_URL",
        schemes=("redis", "rediss"),
        host=("REDIS_HOST", "localhost"),
        port=("REDIS_PORT", 6379),
        database=("REDIS_DB", "0"),
        user=("REDIS_USER", ""),  # an ACL user (Redis 6+); empty means the default user
        password=("REDIS_PASSWORD", ""),
        options={"lock_ttl": "REDIS_LOCK_TTL"},
        kinds={"lock_ttl": LEASE, "database": Number(0, 2**31 - 1, whole=True)},  # database: the DB index
    )
    extensions: ClassVar[tuple[str, ...]] = ("py",)
    packages: ClassVar[tuple[str, ...]] = ("redis",)
    max_version: ClassVar[int] = INT64_MAX  # the same bound as the other stores, so a version means the same everywhere
    transactional_ddl: ClassVar[bool] = False
    new_template: ClassVar[str] = (
        "# Migration: {description}\n"
        '"""r is a redis.Redis client returning str. Walk keys with SCAN in batches, never KEYS, so the\n'
        "server keeps serving; declare new key patterns in migrations/redis/layout.toml. A run may be\n"
        'resumed, so each step must be safe to run again (dbtools.redis_tools has SCAN-based helpers)."""\n'
        "\n\n"
        "def up(r):\n"
        "    # Example: give every session that has no TTL one of a day.\n"
        '    #   for key in r.scan_iter(match="sessions:*", count=1000):\n'
        "    #       if r.ttl(key) == -1:\n"
        "    #           r.expire(key, 86400)\n"
        "    pass\n"
        "\n\n"
        "def down(r):\n"
        "    pass\n"
    )
    scan_count: ClassVar[int] = 1000
    sandbox_recipes: ClassVar[RecipeTable] = {"docker": docker_recipe, "local": local_recipe}
    sandbox_install_hint: ClassVar[str] = "apt-get install redis-server, or run Docker"

    @property
    def layout(self) -> Layout:  # type: ignore[override]
        """The project's declared key layout (migrations/redis/layout.toml of the folder in use)."""
        return project_layout()

    @staticmethod
    def use_migrations_folder(folder: Path) -> None:
        """Read the key layout from `folder` (the runner passes the Redis migrations folder it reads)."""
        use_layout(folder)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._r: Any = None
        self._lease: Lease | None = None
        self._lock_key = LockKey(self)
        self._script_r: Any = None

    @classmethod
    def isolated(cls, base: Settings, token: str) -> Settings:
        """Settings for a DB index no other test of this process uses, flushed (sandbox servers only)."""
        if base.source != "sandbox":
            raise UsageError(
                f"redis: refusing to flush a DB index on {base.address}, which is not a sandbox",
                hint="run the tests against a sandbox server (dbtools.sandbox.start('redis'))",
            )
        index = 1 + next(_next_index) % (SANDBOX_DATABASES - 1)  # index 0 stays the sandbox's own
        settings = base.with_database(str(index))
        backend = cls(settings)
        backend.connect()
        try:
            backend._r.flushdb()
        finally:
            backend.close()
        return settings

    def split(self, migration: Migration, *, down: bool = False) -> list[Statement]:
        """The steps of `up` (or `down`): see dbtools.scripts."""
        return scripts.steps(migration, down=down)

    @_mapped
    def backup_to(self, folder: Path) -> dict[str, Any]:
        """Every key as DUMP + PTTL into folder/redis.dump (the lock left out)."""
        from dbtools.backends.redis import backup as redis_backup

        return redis_backup.dump(self, folder)

    @_mapped
    def restore_from(self, folder: Path, manifest: dict[str, Any], *, replace: bool = False) -> None:
        """RESTORE every key into a spare DB index, then SWAPDB it with this one: all or nothing."""
        from dbtools.backends.redis import backup as redis_backup

        redis_backup.restore(self, folder, replace=replace)

    @_mapped
    def is_empty(self) -> bool:
        """No key in this DB index but the migration lock."""
        from dbtools.backends.redis import backup as redis_backup

        return redis_backup.is_empty(self)


if TYPE_CHECKING:  # the contract and the capabilities this store offers, held to their signatures by mypy
    from dbtools.backends.base import (
        Backend,
        Backupable,
        Describable,
        FolderDeclared,
        Isolating,
        LayoutChecked,
        RecipeTable,
        SandboxRecipes,
        Seedable,
    )

    _backend: type[Backend] = RedisBackend
    _seedable: type[Seedable] = RedisBackend
    _backupable: type[Backupable] = RedisBackend
    _describable: type[Describable] = RedisBackend
    _folderdeclared: type[FolderDeclared] = RedisBackend
    _layoutchecked: type[LayoutChecked] = RedisBackend
    _isolating: type[Isolating] = RedisBackend
    _sandboxrecipes: type[SandboxRecipes] = RedisBackend
