"""The migration lock: a table created atomically, its holder in its column DEFAULTs, a renewed lease."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dbtools.backends.base import owner_tag
from dbtools.backends.clickhouse.client import ClickHouseConnection
from dbtools.backends.clickhouse.sql import TABLE_EXISTS, ServerError, identifier, on_cluster, quote
from dbtools.leases import Lease, LeaseHolder, Waiting

if TYPE_CHECKING:
    from dbtools.backends.clickhouse import ClickHouseBackend

LOCK_NAME = "dbtools_migration_lock"
DEFAULT_LEASE = 600.0  # seconds without renewal after which a lock is reported stale


def _literal(expression: str) -> str:
    """The value of a DEFAULT literal as system.columns shows it: '...' unescaped, numbers as they are."""
    expression = expression.strip()
    cast = re.fullmatch(r"CAST\((.*), '[^']*'\)", expression, re.DOTALL)  # 18.x shows CAST(1795599415, 'UInt64')
    if cast:
        expression = cast[1].strip()
    if len(expression) >= 2 and expression[0] == expression[-1] == "'":
        return re.sub(r"\\(.)", r"\1", expression[1:-1])
    return expression


def _held(token: str) -> str:
    """The name of the lock table column that says `token` created it (tokens are hex: a plain name)."""
    return f"held_{token}"


class LockTable:
    """The lease primitives (dbtools.leases.LeaseStore) on the lock table; renewal happens inline."""

    def __init__(self, backend: ClickHouseBackend) -> None:
        self._backend = backend

    def take(self, token: str, ttl: float) -> bool:
        return self._backend._try_lock(token)

    def renew(self, token: str, ttl: float) -> bool:
        return True  # no heartbeat: ClickHouseLock._renew pushes the lease between statements

    def release(self, token: str) -> None:
        with suppress(ServerError):
            self._backend._release(token)

    def holder(self) -> str | None:
        return self._backend.lock_holder()


class ClickHouseLock(ClickHouseConnection, LeaseHolder):
    """lock, lock_holder, break_lock (see the package docstring)."""

    _lease: Lease | None
    _renewed: float

    @property
    def _lock(self) -> str:
        return f"{identifier(self.database)}.{LOCK_NAME}"

    @contextmanager
    def lock(self, timeout: float, on_wait: Waiting | None = None) -> Iterator[None]:
        """The lease engine (dbtools.leases.Lease) over the lock table: created atomically, renewed inline
        between statements (no heartbeat: the client is not shared with a thread, and the lock never
        expires by itself), checked before every history write, dropped only with our token."""
        lease = Lease(
            self.name,
            repr(self.database),
            LockTable(self),  # type: ignore[arg-type]
            self.lease,
            heartbeat=False,
            lost_because="`unlock --force` broke it",
        )
        breaking = "if its holder is gone (a stale lock says so), break it with `unlock --force --db clickhouse`"
        with self._holding(lease, timeout, on_wait, breaking=breaking):
            self._renewed = time.monotonic()
            try:
                yield
            except BaseException:
                with suppress(Exception):  # the error that stopped the run is the one to show
                    self._flush_history()
                raise
            self._flush_history()

    def _flush_history(self) -> None:
        """Copy the rows this run finished into the history (ClickHouseHistory), before the lock goes."""

    def _try_lock(self, token: str) -> bool:
        now = int(time.time())
        columns = {
            "owner": quote(owner_tag()),
            "host": quote(socket.gethostname()),
            "pid": str(os.getpid()),
            "token": quote(token),
            "acquired_at": str(now),
            "renewed_at": str(now),
            "lease": str(int(self.lease)),
        }
        types = {"pid": "UInt32", "acquired_at": "UInt64", "renewed_at": "UInt64", "lease": "UInt32"}
        body = ", ".join(f"{name} {types.get(name, 'String')} DEFAULT {value}" for name, value in columns.items())
        body += f", {_held(token)} UInt8 DEFAULT 0"  # the token as a column name too, for `_ours`
        sql = f"CREATE TABLE {self._lock} ({body}) ENGINE = MergeTree ORDER BY tuple()"
        if self._holder() is None:  # look first: every ON CLUSTER attempt is a queued distributed DDL
            try:
                self._ddl(on_cluster(sql, self.cluster))
                return True
            except ServerError as exc:
                if exc.code != TABLE_EXISTS and "already exists" not in exc.message:
                    raise
        if self.embedded:  # one process per chdb directory: a lock from another pid is a dead run's
            holder = self._holder()
            if holder and int(holder["pid"]) != os.getpid():
                self._ddl(f"DROP TABLE IF EXISTS {self._lock}")
        return False

    def _renew(self) -> None:
        """Push the lease forward (at most every lease/3), so a long run is not reported stale."""
        if self._lease is None or time.monotonic() - self._renewed < self.lease / 3:
            return
        self._renewed = time.monotonic()
        sql = f"ALTER TABLE {self._lock} MODIFY COLUMN renewed_at UInt64 DEFAULT {int(time.time())}"
        with suppress(ServerError):
            self._ddl(on_cluster(sql, self.cluster))

    def _release(self, token: str) -> None:
        if self._client is None:
            return
        holder = self._holder()
        if holder is not None and holder.get("token") == token:  # unlock --force may have freed it for another run
            self._ddl(on_cluster(f"DROP TABLE IF EXISTS {self._lock}", self.cluster))

    def _holder(self) -> dict[str, str] | None:
        """The lock table's DEFAULTs (owner, host, pid, token, times), None when there is no lock."""
        rows = self._query(
            "SELECT name, default_expression FROM system.columns "
            f"WHERE database = {quote(self.database)} AND table = {quote(LOCK_NAME)}"
        )
        return {name: _literal(expr) for name, expr in rows} if rows else None

    def _ours(self, token: str) -> str:
        """` FROM system.one WHERE ...` for a SELECT that yields its row only while the lock table is the
        one this run created (it has the column `_held(token)`), throws THROW_IF when the table is another
        run's and UNKNOWN_TABLE when there is none: a history write guarded inside the server.
        hasColumnInTable reads the table's own metadata (0.4 ms of a write on 18.16; the same question put
        to system.columns cost 1.2-1.4 ms)."""
        held = f"hasColumnInTable({quote(self.database)}, {quote(LOCK_NAME)}, {quote(_held(token))})"
        return f" FROM system.one WHERE NOT throwIf(NOT {held})"

    def lock_holder(self) -> str | None:
        holder = self._holder()
        if holder is None:
            return None
        now = time.time()
        acquired = datetime.fromtimestamp(int(holder.get("acquired_at", "0")), UTC)
        idle = now - int(holder.get("renewed_at", "0"))
        lease = int(holder.get("lease", str(int(DEFAULT_LEASE))))
        text = (
            f"{holder.get('owner', 'unknown')} (host {holder.get('host', '?')}), since {acquired:%Y-%m-%d %H:%M:%S} UTC"
        )
        if idle > lease:
            text += f", stale: not renewed for {idle:.0f} s (lease {lease} s)"
        return text

    def break_lock(self) -> str | None:
        """Drop the lock table whoever holds it (`unlock --force`)."""
        holder = self.lock_holder()
        if holder is None:
            return None
        self._ddl(on_cluster(f"DROP TABLE IF EXISTS {self._lock}", self.cluster))
        return f"removed the lock held by {holder}"
