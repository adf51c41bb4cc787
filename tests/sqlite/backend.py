"""A sixth store for tests only: SQLite through the stdlib, to prove a store is its own folder plus one
registry entry (`DBTOOLS_BACKENDS=sqlite=tests.sqlite.backend:SQLiteBackend`, set in tests/conftest.py).

A database is one file (`sqlite:///path/to/file.sqlite3`); DDL is transactional, so a migration and its
history row commit together; the lock is a one-row table (a row inserted or not, atomically).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from dbtools.backends.base import HISTORY_NAME, RecipeTable, history_row, owner_tag, statement_failed
from dbtools.errors import DatabaseMissing
from dbtools.leases import Waiting, take_or_wait
from dbtools.migrations import INT64_MAX, Migration
from dbtools.plan import AppliedMigration
from dbtools.settings import Settings, StoreDefaults
from dbtools.sqltext import Statement, split_blocks

LOCK = "dbtools_lock"
_COLUMNS = AppliedMigration._fields


def split_sql(text: str, *, first_line: int = 1, source: str = "") -> list[Statement]:
    """Statements cut where SQLite's own tokenizer says one is complete (`sqlite3.complete_statement`)."""
    out, start = [], 0
    for end in [i + 1 for i, c in enumerate(text) if c == ";"] + [len(text)]:
        piece = text[start:end]
        if end < len(text) and not sqlite3.complete_statement(piece):
            continue
        body = "\n".join(line for line in piece.split("\n") if not line.strip().startswith("--")).strip()
        if body.rstrip(";").strip():
            lead = len(piece) - len(piece.lstrip())
            line = first_line + text.count("\n", 0, start + lead)
            while piece.lstrip().startswith("--"):  # a comment line above the statement
                piece = piece.lstrip().split("\n", 1)[1]
                line += 1
            out.append(Statement(piece.strip(), line))
        start = end
    return out


def embedded_recipe(workdir: Path, **_options: Any) -> Settings:
    """A database file in the sandbox folder (see dbtools.sandbox.embedded)."""
    return Settings("sqlite", "sqlite", "", 0, "", "", "", path=str(workdir / "sandbox.sqlite3"), source="sandbox")


class SQLiteBackend:
    """SQLite, one file per database."""

    name: ClassVar[str] = "sqlite"
    defaults: ClassVar[StoreDefaults] = StoreDefaults(
        url_env="SQLITE_URL",
        schemes=("sqlite",),
        host=("SQLITE_HOST", ""),
        port=("SQLITE_PORT", 0),
        database=("SQLITE_DB", ""),
        user=("SQLITE_USER", ""),
        password=("SQLITE_PASSWORD", ""),
    )
    extensions: ClassVar[tuple[str, ...]] = ("sql",)
    packages: ClassVar[tuple[str, ...]] = ()
    max_version: ClassVar[int] = INT64_MAX
    transactional_ddl: ClassVar[bool] = True
    new_template: ClassVar[str] = "-- Migration: {description}\n-- migrate:up\n\n-- migrate:down\n"
    sandbox_recipes: ClassVar[RecipeTable] = {"embedded": embedded_recipe}
    sandbox_install_hint: ClassVar[str] = "nothing to install: SQLite comes with Python"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def isolated(cls, base: Settings, token: str) -> Settings:
        """Another file beside the sandbox's."""
        return base._replace(path=str(Path(base.path).with_name(f"{token}.sqlite3")))

    def connect(self, *, create_database: bool = False) -> None:
        path = Path(self.settings.path)
        if not path.exists() and not create_database:
            raise DatabaseMissing(f"sqlite: {path} does not exist", hint="add --create-db")
        self._conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        assert self._conn is not None
        return self._conn.execute(sql, params).fetchall()

    def split(self, migration: Migration, *, down: bool = False) -> Sequence[Statement]:
        text, first_line, path = migration.section(down=down)
        return split_blocks(text, first_line, path.name, migration.blocks if path == migration.path else (), split_sql)

    def ensure_history(self) -> None:
        self._query(f"CREATE TABLE IF NOT EXISTS {HISTORY_NAME} ({', '.join(_COLUMNS)}, PRIMARY KEY (version))")

    def history(self) -> list[AppliedMigration]:
        if not self._query("SELECT 1 FROM sqlite_master WHERE name = ?", (HISTORY_NAME,)):
            return []
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM {HISTORY_NAME} ORDER BY version")
        return [
            AppliedMigration(*row[:8], datetime.fromisoformat(row[8]) if row[8] else None, *row[9:]) for row in rows
        ]

    def record(self, row: AppliedMigration) -> None:
        values = tuple(row)
        values = (*values[:8], row.applied_at.isoformat() if row.applied_at else None, *values[9:])
        self._query(f"INSERT OR REPLACE INTO {HISTORY_NAME} VALUES ({', '.join('?' * len(values))})", values)

    def record_many(self, rows: Sequence[AppliedMigration]) -> None:
        with self._transaction():
            for row in rows:
                self.record(row)

    def forget(self, version: int) -> None:
        self._query(f"DELETE FROM {HISTORY_NAME} WHERE version = ?", (version,))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._query("BEGIN")
        try:
            yield
        except BaseException:
            self._query("ROLLBACK")
            raise
        self._query("COMMIT")

    def apply(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> AppliedMigration:
        started, index = time.monotonic(), 0
        try:
            with self._transaction():
                for index in range(len(statements)):
                    self._query(statements[index].sql)
                row = history_row(
                    migration, status="applied", started=started, statements_done=len(statements), statements=statements
                )
                self.record(row)
            return row
        except sqlite3.Error as exc:
            failure = statement_failed(self.name, migration, statements, index, str(exc), kept=False)
            self.record(
                history_row(
                    migration,
                    status="failed",
                    started=started,
                    statements_done=0,
                    statements=statements,
                    error=failure.message,
                )
            )
            raise failure from None

    def revert(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> None:
        index = 0
        try:
            with self._transaction():
                for index in range(len(statements)):
                    self._query(statements[index].sql)
                self.forget(migration.version)
        except sqlite3.Error as exc:
            raise statement_failed(self.name, migration, statements, index, str(exc), kept=False, down=True) from None

    @contextmanager
    def lock(self, timeout: float, on_wait: Waiting | None = None) -> Iterator[None]:
        self._query(f"CREATE TABLE IF NOT EXISTS {LOCK} (id INTEGER PRIMARY KEY CHECK (id = 1), holder, since)")
        token = f"{owner_tag()} {time.monotonic_ns()}"

        def attempt() -> bool:
            self._query(f"INSERT OR IGNORE INTO {LOCK} VALUES (1, ?, ?)", (token, datetime.now(UTC).isoformat()))
            return self._query(f"SELECT holder FROM {LOCK}") == [(token,)]

        take_or_wait(
            self.name,
            self.settings.path,
            attempt,
            self.lock_holder,
            timeout,
            on_wait=on_wait,
            breaking="if it hangs, `unlock --force --db sqlite`",
        )
        try:
            yield
        finally:
            if self._conn is not None:
                self._query(f"DELETE FROM {LOCK} WHERE holder = ?", (token,))

    def lock_holder(self) -> str | None:
        if not self._query("SELECT 1 FROM sqlite_master WHERE name = ?", (LOCK,)):
            return None
        rows = self._query(f"SELECT holder, since FROM {LOCK}")
        return f"{rows[0][0]} since {rows[0][1]}" if rows else None

    def break_lock(self) -> str | None:
        holder = self.lock_holder()
        if holder is not None:
            self._query(f"DELETE FROM {LOCK}")
        return holder and f"freed the lock of {holder}"

    def snapshot(self) -> dict[str, Any]:
        rows = self._query(
            "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT IN (?, ?) ORDER BY name",
            (HISTORY_NAME, LOCK),
        )
        return {"objects": [list(row) for row in rows]}
