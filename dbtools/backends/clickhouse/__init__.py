"""ClickHouse: statement-level progress, an append-only history, a CREATE TABLE lock, cluster mode.

Two ways in behind one small client interface (`_Client`): the native protocol through
clickhouse-driver (`clickhouse://user:pass@host:9002/db` or the CLICKHOUSE_* variables), and the
embedded engine chdb (`chdb:///path/to/dir`), the current ClickHouse in-process. Drivers are
imported inside the methods that need them (chdb costs 1.3 s).

No transactions, so "statement k started" is recorded before every statement and progress after it:
when statement k of a migration fails, history says `failed` in statement k (`statements_done = k - 1`,
`in_step = k`: it may have done part of its work) with the server's message, and
`migrate --resume --rerun-step` (or `--skip-step`) continues there (the runner checks the statements
before k are unchanged).

History: table `migration_history`, a ReplacingMergeTree (ReplicatedReplacingMergeTree in
cluster mode) that is only ever appended to. Every write is a new row with a larger `revision`;
`forget` appends a tombstone (`deleted = 1`). Reads use `FINAL` and drop tombstones in Python,
so they are exact whether or not the background merges ran, and no mutation is ever needed.
A locked run appends its rows ("statement k started", applied, failed, tombstones) to
`dbtools_migration_progress` beside it, a StripeLog table of the same columns (an append, not a new
MergeTree part per row), and copies the finished ones into the history in one INSERT when it lets go
of the lock; reads take the newest revision of each version from both tables, so a run killed at any
point reads as what it had done (cluster mode keeps every row in the replicated history). While a
run holds the lock, every history write on a server is one INSERT ... SELECT that throws inside the
server unless the lock table still carries the run's token; on chdb, whose directory no other
process can open while this one has it, the write is a plain INSERT (see `ClickHouseHistory._write`).

The lock, and why it is safe
----------------------------
ClickHouse has no advisory locks, but `CREATE TABLE` of one name is atomic: the server takes a
per-name guard, so of two concurrent creates exactly one succeeds and the other gets "already
exists". The lock is the table `dbtools_migration_lock`; its holder (owner, host, pid, a random
token, acquire and renew times, lease) is written into the column DEFAULTs of that very CREATE,
so the identity of the holder is stored atomically with the lock itself and survives restarts.
A runner takes the lock by creating the table, polls until its timeout while it exists, and
releases it by dropping it, after checking the token is still its own.

Guaranteed: two runners against the same database never hold the lock at once, unless someone
runs `unlock --force` while the holder is alive (that is what --force means). The holder renews
its lease (an ALTER of a DEFAULT) between statements; a lock not renewed for longer than the
lease (CLICKHOUSE_LOCK_LEASE, default 600 s) is reported as stale, with the holder and the
`unlock --force` command, but never taken over automatically: a check-then-drop takeover can
race with a second taker, and only a human knows the holder is really gone. With chdb the
directory is opened by one process at a time, so a lock left by another pid can only belong to
a dead process and is cleared on the spot, and `unlock --force` from another process cannot reach a
run's lock while the run lives, even paused (it fails with "in use by pid N"), so nothing but the
run can lose it.

Cluster mode (CLICKHOUSE_CLUSTER=name): DDL gets `ON CLUSTER name` (or `{cluster}` in a
migration is filled in), the history table is ReplicatedReplacingMergeTree at
`/clickhouse/tables/{shard}/<db>/migration_history` (the servers need `{shard}` and `{replica}`
macros), the lock table is created `ON CLUSTER`, and every such statement returns only when every
host ran it (or fails naming the host; `distributed_ddl_task_timeout` bounds the wait). The
cluster lock is safe for the same reason plus one: all hosts execute the distributed DDL queue
in the same order, so the first queued create wins on every host and the second fails on every
host. Before reading history a runner runs `SYSTEM SYNC REPLICA` on it, so rows written through
another replica are seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from dbtools.backends.base import split_section
from dbtools.backends.clickhouse import dialect
from dbtools.backends.clickhouse.apply import ClickHouseApply
from dbtools.backends.clickhouse.backup import ClickHouseBackup
from dbtools.backends.clickhouse.client import _Client
from dbtools.backends.clickhouse.describe import ClickHouseDescribe
from dbtools.backends.clickhouse.load import ClickHouseLoad
from dbtools.backends.clickhouse.lock import DEFAULT_LEASE
from dbtools.backends.clickhouse.rehearse import ClickHouseRehearsal
from dbtools.backends.clickhouse.sandbox import docker_recipe, embedded_recipe, local_recipe, sandbox_probe
from dbtools.errors import ConfigError
from dbtools.leases import Lease
from dbtools.migrations import INT64_MAX, Migration
from dbtools.settings import Settings, StoreDefaults
from dbtools.sqltext import Statement
from dbtools.values import LEASE, Number


class ClickHouseBackend(ClickHouseApply, ClickHouseDescribe, ClickHouseLoad, ClickHouseBackup, ClickHouseRehearsal):
    """ClickHouse over the native protocol or embedded chdb; see the package docstring for the guarantees."""

    name: ClassVar[str] = "clickhouse"

    # the embedded engine is current ClickHouse; a local server binary may be an old release (Debian's
    # 18.16 refuses DateTime64, codecs, TTL), so throwaway servers for users prefer chdb
    sandbox_recipes: ClassVar[RecipeTable] = {
        "docker": docker_recipe,
        "embedded": embedded_recipe,
        "local": local_recipe,
    }

    defaults: ClassVar[StoreDefaults] = StoreDefaults(
        url_env="CLICKHOUSE_URL",
        schemes=("clickhouse", "chdb"),
        host=("CLICKHOUSE_HOST", "localhost"),
        port=("CLICKHOUSE_NATIVE_PORT", 9002),
        database=("CLICKHOUSE_DB", "default"),
        user=("CLICKHOUSE_USER", "default"),
        password=("CLICKHOUSE_PASSWORD", ""),
        options={
            "cluster": "CLICKHOUSE_CLUSTER",
            "lock_lease": "CLICKHOUSE_LOCK_LEASE",
            "connect_timeout": "CLICKHOUSE_CONNECT_TIMEOUT",
            "ddl_timeout": "CLICKHOUSE_DDL_TIMEOUT",
        },
        kinds={
            "lock_lease": LEASE,
            "connect_timeout": Number(0.1, 3600, unit="seconds"),
            "ddl_timeout": Number(1, 86400, whole=True, unit="seconds"),
        },
    )
    extensions: ClassVar[tuple[str, ...]] = ("sql",)
    packages: ClassVar[tuple[str, ...]] = ("clickhouse-driver", "chdb", "pyarrow")
    max_version: ClassVar[int] = INT64_MAX  # migration_history.version is Int64
    transactional_ddl: ClassVar[bool] = False
    new_template: ClassVar[str] = (
        "-- Migration: {description}\n"
        "-- migrate:up\n"
        "-- ClickHouse DDL has no transactions: a run that stops half-way is resumed, so write every\n"
        "-- statement so that it succeeds when run again (IF NOT EXISTS / IF EXISTS). Example:\n"
        "--   ALTER TABLE trades ADD COLUMN IF NOT EXISTS fee Decimal(18, 8) DEFAULT 0;\n"
        "\n\n"
        "-- migrate:down\n"
        "-- Example:\n"
        "--   ALTER TABLE trades DROP COLUMN IF EXISTS fee;\n"
        "\n"
    )
    dialect = dialect  # how a file reads: split() and words() (for lint), see dialect.py
    sandbox_probe = staticmethod(sandbox_probe)
    sandbox_install_hint: ClassVar[str] = "apt-get install clickhouse-server, or pip install chdb"

    @staticmethod
    def lint_checks() -> tuple[Callable[..., Any], ...]:
        """The lint checks for ClickHouse files beyond the common ones (see dbtools.lint)."""
        from dbtools.backends.clickhouse import lint
        from dbtools.lint import rules

        return (*rules.SQL_CHECKS, lint.mutations, lint.not_idempotent)

    @staticmethod
    def deprecation_mark(table: str, column: str | None = None) -> str:
        """The statement lint suggests for marking a table (or a column) deprecated before dropping it."""
        if column is None:
            return f"ALTER TABLE {table} MODIFY COMMENT 'deprecated: ...'"
        return f"ALTER TABLE {table} COMMENT COLUMN {column} 'deprecated: ...'"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded = bool(settings.path)
        self.database = settings.database or settings.query.get("database") or "default"
        self.cluster: str | None = self._option("cluster") or None
        self.lease = float(self._option("lock_lease") or DEFAULT_LEASE)
        self._client: _Client | None = None
        self._revision = 0
        self._has_progress: bool | None = None
        self._unflushed: set[int] = set()
        self._lease: Lease | None = None
        self._renewed = 0.0
        if self.cluster and self.embedded:
            raise ConfigError(
                "clickhouse: CLICKHOUSE_CLUSTER does not apply to chdb (one embedded engine, no cluster)",
                hint="unset CLICKHOUSE_CLUSTER, or point CLICKHOUSE_URL at a server of the cluster",
            )

    @classmethod
    def split(cls, migration: Migration, *, down: bool = False) -> Sequence[Statement]:
        """Statements of the up (or down) section with their file lines (see dialect.py and
        `base.split_section`)."""
        return split_section(migration, dialect.split, down=down)


if TYPE_CHECKING:  # the contract and the capabilities this store offers, held to their signatures by mypy
    from dbtools.backends.base import (
        Adoptable,
        Backend,
        Backupable,
        DeprecationMarks,
        Describable,
        LintChecked,
        RecipeTable,
        RehearsalCost,
        RestoreProvider,
        SandboxProbed,
        SandboxRecipes,
        Seedable,
        SqlDialect,
    )

    _backend: type[Backend] = ClickHouseBackend
    _seedable: type[Seedable] = ClickHouseBackend
    _backupable: type[Backupable] = ClickHouseBackend
    _rehearsalcost: type[RehearsalCost] = ClickHouseBackend
    _restoreprovider: type[RestoreProvider] = ClickHouseBackend
    _describable: type[Describable] = ClickHouseBackend
    _deprecationmarks: type[DeprecationMarks] = ClickHouseBackend
    _lintchecked: type[LintChecked] = ClickHouseBackend
    _adoptable: type[Adoptable] = ClickHouseBackend
    _sandboxrecipes: type[SandboxRecipes] = ClickHouseBackend
    _sandboxprobed: type[SandboxProbed] = ClickHouseBackend
    _sqldialect: type[SqlDialect] = ClickHouseBackend
