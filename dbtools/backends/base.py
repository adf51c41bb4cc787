"""The backend contract: everything store-specific sits behind this small interface.

The runner never asks which store it talks to. To add a store:

1. write the package `dbtools/backends/<store>/`: a class meeting `Backend` (capabilities.py) in its `__init__.py`,
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
from collections.abc import Sequence
from datetime import UTC
from types import ModuleType

from dbtools import __version__
from dbtools.errors import MigrationFailed, UsageError
from dbtools.migrations import Migration
from dbtools.plan import DOWN_MARK, AppliedMigration

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from dbtools.records import NamedTuple

if TYPE_CHECKING:  # sqltext: imported where statements are read, and a no-op run reads none
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


def lacks(store: str, verb: str, capability: type, hint: str) -> UsageError:
    """The one `error:`/`hint:` pair for a store whose backend does not offer `capability`."""
    return UsageError(f"{verb} is not available for {store}: its backend is not {capability.__name__}", hint=hint)


@functools.cache
def applied_by() -> str:
    """`user@host` of this process, for history rows and lock owners (looked up once per process: the
    password database is read for the user name, and a run writes many rows)."""
    return f"{_user_name()}@{os.uname().nodename}"


def _user_name() -> str:
    """`getpass.getuser()` (the first of LOGNAME, USER, LNAME, USERNAME that is set, else the password
    database's name for this uid), else the uid: without importing getpass, whose terminal handling
    (termios) a run never needs."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(name)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid())[0]
    except (KeyError, OSError):
        return str(os.getuid())


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


if TYPE_CHECKING:  # the contract and capabilities live in capabilities.py (typing's Protocols)
    from dbtools.backends.capabilities import (
        Adoptable as Adoptable,
    )
    from dbtools.backends.capabilities import (
        AuditSink as AuditSink,
    )
    from dbtools.backends.capabilities import (
        Backend as Backend,
    )
    from dbtools.backends.capabilities import (
        Backupable as Backupable,
    )
    from dbtools.backends.capabilities import (
        Batching as Batching,
    )
    from dbtools.backends.capabilities import (
        DeprecationMarks as DeprecationMarks,
    )
    from dbtools.backends.capabilities import (
        Describable as Describable,
    )
    from dbtools.backends.capabilities import (
        FolderDeclared as FolderDeclared,
    )
    from dbtools.backends.capabilities import (
        Inventoried as Inventoried,
    )
    from dbtools.backends.capabilities import (
        Isolating as Isolating,
    )
    from dbtools.backends.capabilities import (
        LayoutChecked as LayoutChecked,
    )
    from dbtools.backends.capabilities import (
        LintChecked as LintChecked,
    )
    from dbtools.backends.capabilities import (
        RecipeTable as RecipeTable,
    )
    from dbtools.backends.capabilities import (
        RehearsalCost as RehearsalCost,
    )
    from dbtools.backends.capabilities import (
        RestoreProvider as RestoreProvider,
    )
    from dbtools.backends.capabilities import (
        SandboxProbed as SandboxProbed,
    )
    from dbtools.backends.capabilities import (
        SandboxRecipes as SandboxRecipes,
    )
    from dbtools.backends.capabilities import (
        SandboxVariants as SandboxVariants,
    )
    from dbtools.backends.capabilities import (
        Seedable as Seedable,
    )
    from dbtools.backends.capabilities import (
        SqlDialect as SqlDialect,
    )
    from dbtools.backends.capabilities import (
        Templated as Templated,
    )
    from dbtools.backends.capabilities import (
        TransactionChooser as TransactionChooser,
    )

_CAPABILITIES = frozenset(
    (
        "Backend",
        "Seedable",
        "Batching",
        "Backupable",
        "Inventoried",
        "RehearsalCost",
        "RestoreProvider",
        "Describable",
        "AuditSink",
        "Adoptable",
        "LayoutChecked",
        "Isolating",
        "TransactionChooser",
        "Templated",
        "SqlDialect",
        "LintChecked",
        "DeprecationMarks",
        "FolderDeclared",
        "RecipeTable",
        "SandboxRecipes",
        "SandboxVariants",
        "SandboxProbed",
    )
)


def __getattr__(name: str) -> object:
    """`Backend`, the capabilities and `RecipeTable`, from capabilities.py (imported on first use: typing)."""
    if name in _CAPABILITIES:
        from dbtools.backends import capabilities

        return getattr(capabilities, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
