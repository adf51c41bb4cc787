"""PostgreSQL: transactional migrations with their history row, an advisory lock, psycopg2.

The class is the client, history, lock and apply concerns (mixins: every run uses them) and short methods for
the others - describe, load (seeding), rehearse, audit, sandbox, backup - which import their
module when first called: a migrate run, above all a no-op, loads none of them (issue 18)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from dbtools.backends.base import HISTORY_NAME, LazyFunction, LazyModule, split_section
from dbtools.backends.postgres.apply import PostgresApply
from dbtools.backends.postgres.history import _UPSERT, _UPSERT_TIMED, _qualified
from dbtools.backends.postgres.lock import PostgresLock
from dbtools.errors import DatabaseMissing
from dbtools.migrations import INT64_MAX, Migration
from dbtools.settings import Settings, StoreDefaults
from dbtools.values import POSTGRES_DURATION

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any, ClassVar


class PostgresBackend(PostgresApply, PostgresLock):
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
    sandbox_recipes: ClassVar[RecipeTable] = {  # see sandbox.py
        "docker": LazyFunction("dbtools.backends.postgres.sandbox", "docker_recipe"),
        "local": LazyFunction("dbtools.backends.postgres.sandbox", "local_recipe"),
    }
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

    def snapshot(self) -> dict[str, Any]:
        """Every object of the user schemas, for comparisons (see describe.py)."""
        from dbtools.backends.postgres import describe

        return describe.snapshot(self)

    def describe(self) -> list[dict[str, Any]]:
        """Tables and views of the public schema for docs/schema.md (see describe.py)."""
        from dbtools.backends.postgres import describe

        return describe.describe(self)

    def batch(self) -> AbstractContextManager[None]:
        """One transaction around a seeding run (see load.py)."""
        from dbtools.backends.postgres import load

        return load.batch(self)

    def count(self, target: str) -> int:
        """Rows in a table, 0 when it does not exist (see load.py)."""
        from dbtools.backends.postgres import load

        return load.count(self, target)

    def wipe(self, targets: Sequence[str]) -> None:
        """Empty the tables and restart their identity sequences (see load.py)."""
        from dbtools.backends.postgres import load

        load.wipe(self, targets)

    def load(self, table: Table) -> int:
        """COPY a table's rows in (see load.py)."""
        from dbtools.backends.postgres import load

        return load.load(self, table)

    def rehearsal_cost(self) -> AbstractContextManager[dict[str, Any]]:
        """Locks one migration waited for and held, and lock_timeout hits (see rehearse.py)."""
        from dbtools.backends.postgres import rehearse

        return rehearse.rehearsal_cost(self)

    def write_log(self, events: Sequence[Event]) -> None:
        """Append events to the platform's `audit_logs` table (see audit.py)."""
        from dbtools.backends.postgres import audit

        audit.write_log(self, events)

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
    from dbtools.audit import Event
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
    from dbtools.seed.table import Table
    from dbtools.sqltext import Statement

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
