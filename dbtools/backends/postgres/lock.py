"""The migration lock: a session advisory lock, its holder, and breaking it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from dbtools.backends.base import owner_tag
from dbtools.backends.postgres.client import PostgresClient

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from dbtools.leases import Waiting

LOCK_KEY = 0x6462746F6F6C73  # "dbtools": advisory locks are per database, so one constant key
# the pg_locks row of our lock (`l`), granted, in this database; %s, %s: the key's high and low 32 bits
_HELD = (
    "l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = %s AND l.objid = %s "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class PostgresLock(PostgresClient):
    """The advisory lock on `LOCK_KEY`."""

    @contextmanager
    def lock(self, timeout: float, on_wait: Waiting | None = None) -> Iterator[None]:
        """Session advisory lock, released by PostgreSQL itself if this process dies.

        Taken with `pg_try_advisory_lock` polled from an idle session (see dbtools.leases.take_or_wait):
        a waiter never sits inside a statement, so it holds no snapshot the holder's CREATE INDEX
        CONCURRENTLY would wait for, and no statement_timeout cuts the wait short. The attempt that
        succeeds also stamps the time into this session's application_name, for `lock_holder`."""
        from dbtools.leases import take_or_wait  # not on a no-op run's path, which takes no lock

        prelude = ""
        if self._conn.server_version >= 140000:
            # notice a killed client within a second even while a long statement runs,
            # so its transaction rolls back and its lock frees promptly
            prelude = "SET client_connection_check_interval = 1000; "

        def attempt() -> bool:
            nonlocal prelude
            stamp = f"{owner_tag()[:36]} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
            taken = self._query(
                f"{prelude}SELECT CASE WHEN pg_try_advisory_lock({LOCK_KEY}) "
                "THEN set_config('application_name', %s, false) END",
                (stamp,),
            )
            prelude = ""
            return taken[0][0] is not None

        take_or_wait(
            self.name,
            repr(self.settings.database),
            attempt,
            self.lock_holder,
            timeout,
            on_wait=on_wait,
            breaking="if it hangs, end its session with `unlock --force --db postgres`",
        )
        try:
            yield
        finally:
            if self._conn is not None and not self._conn.closed:
                with suppress(Exception):  # if the session is gone, PostgreSQL released the lock with it
                    self._query(f"SELECT pg_advisory_unlock({LOCK_KEY})")

    def lock_holder(self) -> str | None:
        """`pid N (client, user, address) since T` of the session holding the lock, None when it is free.

        pg_locks alone first: on a new session that is a third of the time of the query that also reads
        pg_stat_activity (whose catalog lookups a fresh backend has not cached), and the lock is
        usually free; only a held lock is described, by the full query (None if it was freed meanwhile)."""
        key = (LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF)
        if not self._query(f"SELECT 1 FROM pg_locks l WHERE {_HELD}", key):
            return None
        rows = self._query(
            "SELECT a.pid, a.application_name, a.usename, host(a.client_addr), a.backend_start "
            f"FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE {_HELD}",
            key,
        )
        if not rows:
            return None
        pid, app, user, addr, connected = rows[0]
        stamped = re.fullmatch(r"(.*) since (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", app or "")
        client, since = (
            (stamped[1], stamped[2].replace("T", " ").replace("Z", " UTC"))
            if stamped
            else (app or "unnamed client", f"{connected:%Y-%m-%d %H:%M:%S %Z} (connected)")
        )
        return f"pid {pid} ({client}, user {user}, from {addr or 'local socket'}) since {since}"

    def break_lock(self) -> str | None:
        """End the session holding the lock (PostgreSQL frees a session's advisory locks with it)."""
        holder = self.lock_holder()
        if holder is None:
            return None
        pid = int(holder.split()[1])
        self._query("SELECT pg_terminate_backend(%s)", (pid,))
        return f"ended {holder}"
