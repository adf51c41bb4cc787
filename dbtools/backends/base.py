"""The backend contract: everything store-specific sits behind this small interface.

The runner never asks which store it talks to. To add a store:

1. write the package `dbtools/backends/<store>/`: a class meeting `Backend` below in its `__init__.py`,
   one module per concern beside it (client, history, lock, apply, ...; see the other stores);
2. add one line to `dbtools.backends.REGISTRY` (a store kept outside dbtools: `DBTOOLS_BACKENDS`);
3. create `migrations/<store>/` and `tests/<store>/samples.py`, and make `tests/conformance` pass with
   a sandbox for it (tests/sqlite/ is a whole store in a few dozen lines).

Rules for implementations:

* Configuration arrives as `Settings`; never read `os.environ` in a backend.
* Import the driver inside the methods (or `connect`), never at module level: `--help` and a
  run for another store must not pay for it.
* A concern a migrate run never calls (describe, seeding, rehearse, audit, sandbox recipes) may be
  imported on first use: its module holds functions of the backend, and the class keeps a short
  method that imports it and delegates (so capability checks and the static conformance lines still
  see the method), and `LazyFunction` for a recipe. PostgreSQL does this: its no-op run has a target
  (issue 18). The other stores still compose those concerns as mixins: their no-op runs have no
  target, and each such mixin costs a run about 0.1-0.2 ms of import.
* Don't guess: raise a `DbtoolsError` subclass whose message says what happened and whose hint
  says what to do. Never put `settings.password` in a message (use `settings.display_url`).
* `apply` keeps one promise: when it returns, history says applied; when it raises
  `MigrationFailed`, history says exactly what ran (`status="failed"`, `statements_done=k`,
  the server's message in `error`). Stores with transactional DDL put the statements and the
  history row in one transaction; the others record "statement k started" (`step_started`) before
  every statement and progress after it, so a run killed inside statement k is "interrupted in
  statement k" and `migrate --resume` continues there (`--rerun-step` / `--skip-step` decide about k).
* While a lease lock is held (dbtools.leases.Lease), every history write is conditional on it.
* The runner owns order and locking: it calls `lock`, then `ensure_history`, then `history`,
  and applies what the plan says. The backend owns atomicity.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, runtime_checkable

from dbtools import __version__
from dbtools.errors import MigrationFailed, UsageError
from dbtools.migrations import Migration
from dbtools.plan import DOWN_MARK, AppliedMigration
from dbtools.settings import Settings, StoreDefaults

if TYPE_CHECKING:  # sqltext: imported where statements are read, and a no-op run reads none
    from dbtools.audit import Event, Reporter
    from dbtools.seed.table import Table
    from dbtools.sqltext import Splitter, Statement

HISTORY_NAME = "migration_history"


class ForeignTable(NamedTuple):
    """Another tool's history table (or collection) exactly as the store holds it, for `adopt`.

    `columns` maps each column (field) to the store's own type name; a schemaless store lists the
    fields every row has, with the Python type name of their values ("mixed" when they differ).
    `engine` is the table engine where the store has them (ClickHouse), else ""."""

    name: str
    columns: dict[str, str]
    rows: list[dict[str, Any]]
    engine: str = ""


@runtime_checkable
class Backend(Protocol):
    """One store. Instances are used by one run, in one thread, and closed by the runner."""

    name: ClassVar[str]  # "postgres": folder, --db value, registry key
    defaults: ClassVar[StoreDefaults]  # env names, defaults and URL schemes
    extensions: ClassVar[tuple[str, ...]]  # file extensions it runs: ("sql",)
    packages: ClassVar[tuple[str, ...]]  # PyPI names only this store needs (its driver, a sandbox server), as pinned
    # in requirements*.txt: `nox -s migration_tests(store=...)` installs these and the core, nothing else
    max_version: ClassVar[int]  # the largest version its history column holds (files above it are refused)
    transactional_ddl: ClassVar[bool]  # a migration and its history row commit together
    new_template: ClassVar[str]  # body of a file made by `dbtools new` ({description})
    settings: Settings  # where it connects (`settings.display_url` for messages)

    def __init__(self, settings: Settings) -> None:
        """Keep the settings; connect nothing yet."""

    def connect(self, *, create_database: bool = False) -> None:
        """Open the connection; raise ConnectionFailed / DatabaseMissing with a hint.

        With `create_database`, create a missing database instead of raising DatabaseMissing."""

    def close(self) -> None:
        """Release the connection (and with it any lock still held)."""

    def split(self, migration: Migration, *, down: bool = False) -> Sequence[Statement]:
        """The statements of the up (or down) section, each with its file line."""

    def history(self) -> list[AppliedMigration]:
        """Every history row, read exactly; [] when the history does not exist yet. Writes nothing."""

    def ensure_history(self) -> None:
        """Create the history table/collection/key if missing. Called under the lock."""

    def lock(self, timeout: float, on_wait: Callable[[str], None] | None = None) -> AbstractContextManager[None]:
        """Hold the store-wide migration lock; raise LockTimeout naming the holder after `timeout` s.

        Wait by polling short attempts (`dbtools.leases.take_or_wait`), never inside a blocking statement;
        `on_wait` hears once, when the lock is found taken, who holds it and how long this run waits."""

    def lock_holder(self) -> str | None:
        """Who holds the migration lock now (for `status`), None when it is free."""

    def apply(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> AppliedMigration:
        """Run statements[start_at:] and record the migration (see the promise above)."""

    def revert(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> None:
        """Run the down statements and remove the history row, atomically where the store can. Run outside a
        transaction, a down section is recorded as apply's is (`step_started(down=True)` before each
        statement), and `start_at` continues one a rollback left unfinished (`rollback --resume`)."""

    def record(self, row: AppliedMigration) -> None:
        """Insert or replace one history row (baseline, repair)."""

    def record_many(self, rows: Sequence[AppliedMigration]) -> None:
        """Insert or replace several rows at once (adopt): in one transaction where the store has them,
        else in one write the store applies whole (one INSERT block, one HSET)."""

    def forget(self, version: int) -> None:
        """Delete one history row (repair)."""

    def break_lock(self) -> str | None:
        """Free a lock left by a dead or stuck run (`unlock --force`); describe what was freed, None if free."""

    def snapshot(self) -> dict[str, Any]:
        """The user-visible schema from the live catalog, JSON-able and free of noise (no history or lock
        objects, no timestamps, no internal ids), so two databases built the same way compare equal."""


# -- optional capabilities ---------------------------------------------------------------------------
# A store offers a verb beyond migrating by having the members one of these declares; callers ask
# `isinstance(backend, Backupable)` (presence of the members, checked at run time) and refuse a store
# without it with `lacks(...)`; each backend module states under TYPE_CHECKING which ones it meets, so
# the type checker holds it to their signatures.


@runtime_checkable
class Seedable(Protocol):
    """`dbtools seed`: count, wipe and load the seed's tables (the fast path of each store)."""

    def count(self, target: str) -> int:
        """Rows (entries) `target` holds now: a store already seeded is skipped."""

    def wipe(self, targets: Sequence[str]) -> None:
        """Empty `targets` (seed --reset)."""

    def load(self, table: Table) -> int:
        """Write one chunk of rows into `table.target`; return how many were written."""


@runtime_checkable
class Batching(Protocol):
    """Seeding in one transaction: `wipe` and every `load` inside `batch()` commit together."""

    def batch(self) -> AbstractContextManager[None]: ...


@runtime_checkable
class Backupable(Protocol):
    """`backup`, `restore`, `rehearse` and `migrate --backup` (see `dbtools.backup` for the folder format)."""

    def backup_to(self, folder: Path) -> dict[str, Any]:
        """Write the store's files into `folder`; return files, tool, method, details (and sha256)."""

    def restore_from(self, folder: Path, manifest: dict[str, Any], *, replace: bool = False) -> None:
        """Load a checked backup; with `replace`, everything the target held is replaced all or nothing."""

    def is_empty(self) -> bool:
        """The target holds nothing a user could lose (the lock aside)."""


@runtime_checkable
class Inventoried(Protocol):
    """What a non-empty restore target holds, by kind, for the refusal message."""

    def contents(self) -> dict[str, int]: ...


@runtime_checkable
class RehearsalCost(Protocol):
    """`rehearse`: what one migration cost (locks waited for, mutations), measured around it."""

    def rehearsal_cost(self) -> AbstractContextManager[dict[str, Any]]: ...


@runtime_checkable
class RestoreProvider(Protocol):
    """`rehearse`: which sandbox kind can load a given backup (ClickHouse BACKUP needs the server)."""

    @staticmethod
    def restore_provider(manifest: dict[str, Any]) -> str | None: ...


@runtime_checkable
class Describable(Protocol):
    """`schema-docs`: the store's objects with their purpose, fields and indexes."""

    def describe(self) -> list[dict[str, Any]]: ...


@runtime_checkable
class AuditSink(Protocol):
    """Receives the run's events (`DBTOOLS_AUDIT=<store>`)."""

    def write_log(self, events: Sequence[Event]) -> None: ...


@runtime_checkable
class Adoptable(Protocol):
    """`adopt`: another tool's history table, read as the store holds it (None: absent)."""

    def read_table(self, name: str) -> ForeignTable | None: ...


@runtime_checkable
class LayoutChecked(Protocol):
    """`dbtools check`: live data checked against a declared layout; returns the number of violations."""

    def check(self, report: Reporter) -> int: ...


@runtime_checkable
class Isolating(Protocol):
    """`verify`: settings for a database of its own on a shared sandbox server (Redis: a spare DB index)."""

    @classmethod
    def isolated(cls, base: Settings, token: str) -> Settings: ...


@runtime_checkable
class TransactionChooser(Protocol):
    """Whether a migration runs in one transaction (lint's squawk rules read it)."""

    @staticmethod
    def runs_in_transaction(migration: Migration, statements: Sequence[Statement]) -> bool: ...


@runtime_checkable
class Templated(Protocol):
    """`new --ext`: file templates beyond `new_template`, by extension."""

    templates: ClassVar[dict[str, str]]


class LazyModule:
    """A class attribute holding a module that is imported when first read: a store's `dialect`, which a
    run that reads files and history but splits none (a no-op, `status`) never needs."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> ModuleType:
        import importlib

        return importlib.import_module(self.name)


class LazyFunction:
    """A function of a module imported when first called: a store's sandbox recipes, which its class
    lists but only tests, `verify` and onboarding call."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(self.module), self.name)(*args, **kwargs)


@runtime_checkable
class SqlDialect(Protocol):
    """A SQL store's way of reading files: its dialect module (`split()`, `words()`), which lint reads."""

    @property
    def dialect(self) -> ModuleType: ...  # read-only: a store names its module in its class body


@runtime_checkable
class LintChecked(Protocol):
    """Lint checks of the store's own, run after the common ones (`dbtools lint`)."""

    @staticmethod
    def lint_checks() -> tuple[Callable[..., Any], ...]: ...


@runtime_checkable
class DeprecationMarks(Protocol):
    """How the store marks a table or column deprecated (lint's drop rule names it in its hint)."""

    @staticmethod
    def deprecation_mark(table: str, column: str | None = None) -> str: ...


@runtime_checkable
class FolderDeclared(Protocol):
    """Reads declarations the project keeps in the store's migrations folder (Redis: layout.toml)."""

    @staticmethod
    def use_migrations_folder(folder: Path) -> None: ...


RecipeTable = Mapping[str, Callable[..., Any]]  # a store's sandbox recipes: provider -> recipe, in trying order


@runtime_checkable
class SandboxRecipes(Protocol):
    """Throwaway servers for tests and `verify` (see `dbtools.sandbox`): a recipe per provider the store runs
    on (docker, local, embedded, or a variant of its own), in the order to try them when none is asked for,
    and what to install when none starts."""

    sandbox_recipes: ClassVar[RecipeTable]
    sandbox_install_hint: ClassVar[str]


@runtime_checkable
class SandboxVariants(Protocol):
    """Providers of the store's own among its `sandbox_recipes` (MongoDB's secantusdb), each run by one of
    the mechanisms docker, local or embedded: provider -> mechanism."""

    sandbox_variants: ClassVar[dict[str, str]]


@runtime_checkable
class SandboxProbed(Protocol):
    """A sandbox's readiness told by a protocol round trip that creates nothing (else: the backend connects)."""

    @property
    def sandbox_probe(self) -> Callable[[Settings], None]: ...  # a staticmethod of the store's class


def lacks(store: str, verb: str, capability: type, hint: str) -> UsageError:
    """The one `error:`/`hint:` pair for a store whose backend does not offer `capability`."""
    return UsageError(f"{verb} is not available for {store}: its backend is not {capability.__name__}", hint=hint)


@functools.cache
def applied_by() -> str:
    """`user@host` of this process, for history rows and lock owners (looked up once per process: the
    password database is read for the user name, and a run writes many rows)."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{os.uname().nodename}"


def owner_tag() -> str:
    """Who we are, for lock owners and connection names: `dbtools 0.1.0 pid 123 user@host`."""
    return f"dbtools {__version__} pid {os.getpid()} {applied_by()}"


def connection_name(limit: int = 128) -> str:
    """`owner_tag()` as a connection name every server accepts: printable ASCII, no spaces (Redis
    refuses anything else in CLIENT SETNAME; an OS user may be `José Ruiz`)."""
    tag = "".join(c if "!" <= c <= "~" else "_" for c in owner_tag())
    return tag[:limit]


def history_row(
    migration: Migration,
    *,
    status: str,
    started: float,
    statements_done: int,
    statements: Sequence[Statement],
    error: str | None = None,
    in_step: int = 0,
    down: bool = False,
) -> AppliedMigration:
    """The row a backend records after running (part of) a migration. `in_step` is the 1-based step
    (statement) that has started and not finished: set it on the `running` row written just before
    each step that runs without a transaction (see `step_started`), and on the `failed` row of a step
    that raised and may have left part of its work behind. `down`: the row of a rollback that runs
    `statements` (the down section) outside a transaction; its progress checksum starts with
    `plan.DOWN_MARK`, which is how `AppliedMigration.reverting` tells it from an up run's row."""
    from datetime import datetime

    from dbtools.sqltext import progress_checksum

    return AppliedMigration(
        version=migration.version,
        name=migration.name,
        checksum=migration.checksum,
        status=status,
        statements_done=statements_done,
        statements_total=len(statements),
        # only `--resume` reads it, and only on a row that stopped part-way: an applied row needs none (a
        # section sent whole is never cut just to checksum it)
        progress_checksum=""
        if status == "applied"
        else (DOWN_MARK if down else "") + progress_checksum(statements, statements_done),
        error=error,
        applied_at=datetime.now(UTC),
        execution_ms=int((time.monotonic() - started) * 1000),
        applied_by=applied_by(),
        tool_version=__version__,
        in_step=in_step,
    )


def step_started(
    migration: Migration, *, started: float, index: int, statements: Sequence[Statement], down: bool = False
) -> AppliedMigration:
    """The `running` row a non-transactional store records just before it runs statements[index]:
    steps 1..index are done, step index+1 has started. A run killed inside that step leaves this row,
    and the plan reads it as "interrupted in step index+1" (which needs --resume or repair). With
    `down`, statements are a down section a rollback runs outside a transaction."""
    return history_row(
        migration,
        status="running",
        started=started,
        statements_done=index,
        statements=statements,
        in_step=index + 1,
        down=down,
    )


def step_failed(
    migration: Migration,
    failure: MigrationFailed,
    *,
    started: float,
    statements: Sequence[Statement],
    done: int,
    in_step: int = 0,
    down: bool = False,
) -> AppliedMigration:
    """The `failed` row of a run `failure` stopped with `done` statements done (`in_step`: the one that
    raised and may have left part of its work; `down`: a rollback's, see `history_row`)."""
    return history_row(
        migration,
        status="failed",
        started=started,
        statements_done=done,
        statements=statements,
        error=failure.message,
        in_step=in_step,
        down=down,
    )


def split_section(migration: Migration, splitter: Splitter, *, down: bool = False) -> Sequence[Statement]:
    """The statements of the up (or down) section as `splitter` (a store dialect's split) cuts them, with
    their file lines; goose's StatementBegin/End bodies are one statement each."""
    text, first_line, path = migration.section(down=down)
    blocks = migration.blocks if path == migration.path else ()
    from dbtools.sqltext import split_blocks

    return split_blocks(text, first_line, path.name, blocks, splitter)


def migration_failed(
    store: str,
    migration: Migration,
    message: str,
    *,
    stage: str = "failed",
    where: str | None = None,
    hint: str | None = None,
) -> MigrationFailed:
    """The MigrationFailed for a failure outside any one statement (a script that would not load, a history
    row not written, a run cancelled): `stage` says what went wrong, `where` where it stopped, if known."""
    return MigrationFailed(store, migration.version, migration.name, message, stage=stage, where=where, hint=hint)


def statement_failed(
    store: str,
    migration: Migration,
    statements: Sequence[Statement],
    index: int,
    server_message: str,
    *,
    kept: bool,
    down: bool = False,
    applied: int | None = None,
    partial: bool = False,
    reverting: bool = False,
) -> MigrationFailed:
    """The MigrationFailed for statement `index`: names file, line, statement and server message.

    `kept` says whether the statements before `index` stayed applied (no transaction); `applied`
    overrides how many did (a migration managing its own transactions keeps only committed ones);
    `partial` says the failing statement itself ran without a transaction and may have left part of
    its work (a script step, a ClickHouse statement, CREATE INDEX CONCURRENTLY); `reverting` that history
    now holds the version's unfinished rollback row (see `MigrationFailed`)."""
    statement = statements[index]
    path = migration.down_path if down and migration.down_path else migration.path
    server = " ".join(server_message.strip().split())
    return MigrationFailed(
        store,
        migration.version,
        migration.name,
        statement.mask(server),  # values substituted from the environment (ENVSUB) never reach a message
        statement_index=index,
        line=statement.line,
        statements_done=applied if applied is not None else (index if kept else 0),
        statements_total=len(statements),
        file=("down section of " if down and not migration.down_path else "") + path.name,
        excerpt=statement.excerpt(60),
        down=down,
        in_step=index + 1 if partial else 0,
        reverting=reverting,
    )
