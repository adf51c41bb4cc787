"""PostgreSQL: transactional migrations with their history row, an advisory lock, psycopg2."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dbtools.backends.base import HISTORY_NAME, LazyModule, split_section
from dbtools.backends.postgres.apply import PostgresApply
from dbtools.backends.postgres.audit import PostgresAudit
from dbtools.backends.postgres.describe import PostgresDescribe
from dbtools.backends.postgres.history import _UPSERT, _UPSERT_TIMED, _qualified
from dbtools.backends.postgres.load import PostgresLoad
from dbtools.backends.postgres.lock import PostgresLock
from dbtools.backends.postgres.rehearse import PostgresRehearsal
from dbtools.backends.postgres.sandbox import docker_recipe, local_recipe
from dbtools.errors import DatabaseMissing
from dbtools.migrations import INT64_MAX, Migration
from dbtools.settings import Settings, StoreDefaults
from dbtools.sqltext import Statement
from dbtools.values import POSTGRES_DURATION


class PostgresBackend(PostgresApply, PostgresLock, PostgresDescribe, PostgresAudit, PostgresLoad, PostgresRehearsal):
    """PostgreSQL through psycopg2. Each migration and its history row commit in one transaction."""

    name: ClassVar[str] = "postgres"
    defaults: ClassVar[StoreDefaults] = StoreDefaults(
        url_env="POSTGRES_URL",
        schemes=("postgres", "postgresql"),
        host=("POSTGRES_HOST", "localhost"),
        port=("POSTGRES_PORT", 5432),
        database=("POSTGRES_DB", "trading_users"),
        user=("POSTGRES_USER", "postgres"),
        password=("POSTGRES_PASSWORD", "postgres"),
        options={"lock_timeout": "POSTGRES_LOCK_TIMEOUT", "statement_timeout": "POSTGRES_STATEMENT_TIMEOUT"},
        kinds={"lock_timeout": POSTGRES_DURATION, "statement_timeout": POSTGRES_DURATION},
    )
    extensions: ClassVar[tuple[str, ...]] = ("sql",)
    packages: ClassVar[tuple[str, ...]] = ("psycopg2-binary", "pglast")  # pglast: the file reader (dialect.py)
    max_version: ClassVar[int] = INT64_MAX  # migration_history.version is bigint
    transactional_ddl: ClassVar[bool] = True
    new_template: ClassVar[str] = (
        "-- Migration: {description}\n"
        "-- migrate:up\n"
        "-- The up section and its history row commit in one transaction. Example:\n"
        "--   ALTER TABLE accounts ADD COLUMN nickname text;\n"
        "\n\n"
        "-- migrate:down\n"
        "-- Example:\n"
        "--   ALTER TABLE accounts DROP COLUMN nickname;\n"
        "\n"
    )
    dialect = LazyModule("dbtools.backends.postgres.dialect")  # how a file reads: split(), words() (lint)
    sandbox_recipes: ClassVar[RecipeTable] = {"docker": docker_recipe, "local": local_recipe}
    sandbox_install_hint: ClassVar[str] = "apt-get install postgresql, or run Docker"

    @staticmethod
    def lint_checks() -> tuple[Callable[..., Any], ...]:
        """The lint checks for PostgreSQL files beyond the common ones (see dbtools.lint)."""
        from dbtools.backends.postgres import squawk
        from dbtools.lint import rules

        return (*rules.SQL_CHECKS, squawk.check)

    @staticmethod
    def deprecation_mark(table: str, column: str | None = None) -> str:
        """The statement lint suggests for marking a table (or a column) deprecated before dropping it."""
        if column is None:
            return f"COMMENT ON TABLE {table} IS 'deprecated: ...'"
        return f"COMMENT ON COLUMN {table}.{column} IS 'deprecated: ...'"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn: Any = None
        self._history = _qualified("public", HISTORY_NAME)
        self._upsert = _UPSERT.format(table=self._history)
        self._upsert_timed = _UPSERT_TIMED.format(table=self._history)

    def connect(self, *, create_database: bool = False) -> None:
        """Connect (autocommit); with `create_database`, create a missing database first."""
        try:
            self._conn = self._open(self.settings.database)
        except DatabaseMissing:
            if not create_database:
                raise
            self._create_database()
            self._conn = self._open(self.settings.database)
        # the schema unqualified names resolve to now, before any migration can change search_path
        schema = self._query("SELECT current_schema()")[0][0] or "public"
        self._history = _qualified(schema, HISTORY_NAME)
        self._upsert = _UPSERT.format(table=self._history)
        self._upsert_timed = _UPSERT_TIMED.format(table=self._history)

    @classmethod
    def split(cls, migration: Migration, *, down: bool = False) -> Sequence[Statement]:
        """Statements of the up (or down) section with their file lines (see dialect.py and
        `base.split_section`)."""
        return split_section(migration, cls.dialect.split, down=down)

    def backup_to(self, folder: Path) -> dict[str, Any]:
        """`pg_dump -Fc` of the database into folder/postgres.dump (see backup.py)."""
        from dbtools.backends.postgres import backup as postgres_backup

        return postgres_backup.dump(self, folder)

    def restore_from(self, folder: Path, manifest: dict[str, Any], *, replace: bool = False) -> None:
        """Restore in one transaction; with `replace`, everything the target held is dropped in that same
        transaction first, so a failure anywhere leaves the target exactly as it was."""
        from dbtools.backends.postgres import backup as postgres_backup

        postgres_backup.restore(self, folder, replace=replace)

    def is_empty(self) -> bool:
        """Nothing a user could lose: no table, view, sequence, type, function, schema other than an
        empty `public`, extension, publication, subscription, event trigger, foreign server, cast or
        large object."""
        return not self.contents()

    def contents(self) -> dict[str, int]:
        """What a restore would replace, counted by kind."""
        from dbtools.backends.postgres import backup as postgres_backup

        return postgres_backup.contents(self)


if TYPE_CHECKING:  # the contract and the capabilities this store offers, held to their signatures by mypy
    from dbtools.backends.base import (
        Adoptable,
        AuditSink,
        Backend,
        Backupable,
        Batching,
        DeprecationMarks,
        Describable,
        Inventoried,
        LintChecked,
        RecipeTable,
        RehearsalCost,
        SandboxRecipes,
        Seedable,
        SqlDialect,
        TransactionChooser,
    )

    _backend: type[Backend] = PostgresBackend
    _seedable: type[Seedable] = PostgresBackend
    _batching: type[Batching] = PostgresBackend
    _backupable: type[Backupable] = PostgresBackend
    _inventoried: type[Inventoried] = PostgresBackend
    _rehearsalcost: type[RehearsalCost] = PostgresBackend
    _describable: type[Describable] = PostgresBackend
    _deprecationmarks: type[DeprecationMarks] = PostgresBackend
    _lintchecked: type[LintChecked] = PostgresBackend
    _auditsink: type[AuditSink] = PostgresBackend
    _adoptable: type[Adoptable] = PostgresBackend
    _transactionchooser: type[TransactionChooser] = PostgresBackend
    _sandboxrecipes: type[SandboxRecipes] = PostgresBackend
    _sqldialect: type[SqlDialect] = PostgresBackend
