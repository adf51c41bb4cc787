"""The backend contract (`Backend`) and the optional capabilities, as typing Protocols (see base.py for how
to add a store). Imported on first use of one of them (base.py forwards the names): a run that checks no
capability, above all a no-op, imports no typing (issue 18)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from dbtools.audit import Event, Reporter
    from dbtools.backends.base import ForeignTable
    from dbtools.migrations import Migration
    from dbtools.plan import AppliedMigration
    from dbtools.seed.table import Table
    from dbtools.settings import Settings, StoreDefaults
    from dbtools.sqltext import Statement


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
