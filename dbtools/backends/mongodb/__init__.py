"""MongoDB: Python (and mongosh JavaScript) migrations with per-step progress, a `migrations` collection
for history, and a lease lock document renewed while a run holds it.

Credentials: with a password set, the user authenticates against `authSource=admin` unless the URL's
`?authSource=` or MONGO_AUTH_SOURCE says otherwise (the seed's admin/password is a root user, which
lives in `admin`). Without a password nothing authenticates (MongoDB has no empty passwords).
Lock expiry compares client clocks: hosts running migrations should keep NTP time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dbtools import scripts
from dbtools.backends.mongodb.apply import MongoApply
from dbtools.backends.mongodb.audit import MongoAudit
from dbtools.backends.mongodb.backup import MongoBackup
from dbtools.backends.mongodb.describe import MongoDescribe
from dbtools.backends.mongodb.load import MongoLoad
from dbtools.backends.mongodb.sandbox import docker_recipe, local_recipe, sandbox_probe, secantusdb_recipe
from dbtools.leases import Lease
from dbtools.migrations import INT64_MAX, Migration
from dbtools.settings import Settings, StoreDefaults
from dbtools.sqltext import Statement
from dbtools.values import LEASE


class MongoBackend(MongoApply, MongoDescribe, MongoAudit, MongoLoad, MongoBackup):
    """MongoDB through pymongo. No multi-document transactions assumed (standalone servers have none),
    so a migration records its progress after every step."""

    name: ClassVar[str] = "mongodb"
    defaults: ClassVar[StoreDefaults] = StoreDefaults(
        url_env="MONGO_URL",
        schemes=("mongodb", "mongodb+srv"),
        host=("MONGO_HOST", "localhost"),
        port=("MONGO_PORT", 27017),
        database=("MONGO_DATABASE", "trading_meta"),
        user=("MONGO_USER", "admin"),
        password=("MONGO_PASSWORD", "password"),
        options={"lock_ttl": "MONGO_LOCK_TTL", "auth_source": "MONGO_AUTH_SOURCE"},
        kinds={"lock_ttl": LEASE},
    )
    extensions: ClassVar[tuple[str, ...]] = ("py", "js")
    packages: ClassVar[tuple[str, ...]] = ("pymongo", "secantusdb")  # SecantusDB: the sandbox server, run apart
    max_version: ClassVar[int] = INT64_MAX  # BSON int64
    transactional_ddl: ClassVar[bool] = False
    new_template: ClassVar[str] = (
        "# Migration: {description}\n"
        '"""db is a pymongo Database. A run may be resumed, so each step must be safe to run again;\n'
        'list the steps (`up = [create_index, backfill]`) to have progress recorded after each."""\n'
        "\n\n"
        "def up(db):\n"
        "    # Example:\n"
        '    #   db.strategy_configs.create_index([("owner_id", 1)], name="owner_id_1")\n'
        "    pass\n"
        "\n\n"
        "def down(db):\n"
        "    # Example:\n"
        '    #   db.strategy_configs.drop_index("owner_id_1")\n'
        "    pass\n"
    )
    templates: ClassVar[dict[str, str]] = {
        "js": "// Migration: {description}\n// Runs in mongosh with `db` set to the migration database.\n\n"
        "function up(db) {{\n}}\n\nfunction down(db) {{\n}}\n"
    }

    # sandboxes: a real mongod first (Docker, then on PATH), then SecantusDB from the dev/test install
    sandbox_recipes: ClassVar[RecipeTable] = {
        "docker": docker_recipe,
        "local": local_recipe,
        "secantusdb": secantusdb_recipe,
    }
    sandbox_variants: ClassVar[dict[str, str]] = {"secantusdb": "local"}
    sandbox_probe = staticmethod(sandbox_probe)
    sandbox_install_hint: ClassVar[str] = (
        "no MongoDB server here: set MONGO_URL, put mongod on PATH, run Docker, or "
        "pip install -r requirements-dev.txt (SecantusDB)"
    )

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._db: Any = None
        self._lease: Lease | None = None
        self._transactions: bool | None = None  # None: not tried yet; False: a standalone server has none

    def split(self, migration: Migration, *, down: bool = False) -> list[Statement]:
        """Python: the steps of up/down (dbtools.scripts). JavaScript: the whole file, one statement."""
        if migration.kind == "js":
            text = migration.down if down else migration.up
            return [Statement(text or "", 1, "MONGOSH")] if text is not None else []
        return scripts.steps(migration, down=down)


if TYPE_CHECKING:  # the contract and the capabilities this store offers, held to their signatures by mypy
    from dbtools.backends.base import (
        Adoptable,
        AuditSink,
        Backend,
        Backupable,
        Describable,
        Inventoried,
        RecipeTable,
        SandboxProbed,
        SandboxRecipes,
        SandboxVariants,
        Seedable,
        Templated,
    )

    _backend: type[Backend] = MongoBackend
    _seedable: type[Seedable] = MongoBackend
    _backupable: type[Backupable] = MongoBackend
    _inventoried: type[Inventoried] = MongoBackend
    _describable: type[Describable] = MongoBackend
    _auditsink: type[AuditSink] = MongoBackend
    _adoptable: type[Adoptable] = MongoBackend
    _templated: type[Templated] = MongoBackend
    _sandboxrecipes: type[SandboxRecipes] = MongoBackend
    _sandboxvariants: type[SandboxVariants] = MongoBackend
    _sandboxprobed: type[SandboxProbed] = MongoBackend
