"""What a rehearsal measures: locks a migration waited for and held, lock_timeout hits.

Functions of a connected backend, imported by its method on first use: a migrate run needs none of them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from dbtools.backends.postgres.client import PostgresClient
from dbtools.errors import MigrationFailed

LOCK_TIMEOUT_MS = 5000  # set on the rehearsed migration's session
_STRONG_LOCKS = ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")


@contextmanager
def rehearsal_cost(backend: PostgresClient) -> Iterator[dict[str, Any]]:
    """Locks one migration waited for and held (pg_locks sampled every 10 ms from a second
    session) and lock_timeout hits, with lock_timeout set on the migration's session."""
    import threading

    costs: dict[str, Any] = {"lock_timeout_ms": LOCK_TIMEOUT_MS}
    backend._query(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
    pid = backend._conn.get_backend_pid()
    watcher = backend._open(backend.settings.database)
    held: dict[tuple[str, str], list[float]] = {}
    waited: dict[tuple[str, str], list[float]] = {}
    stop = threading.Event()

    def sample() -> None:
        with watcher.cursor() as cur:
            while not stop.is_set():
                # a relation the migration created is not in this session's pg_class until it commits:
                # kept as its oid and named once the migration is done
                cur.execute(
                    "SELECT coalesce(c.relname, '#' || l.relation::oid::bigint, l.locktype), l.mode, l.granted "
                    "FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation "
                    "WHERE l.pid = %s AND (l.locktype = 'relation' OR NOT l.granted)",  # own xid locks: noise
                    (pid,),
                )
                now = time.monotonic()
                for relation, mode, granted in cur.fetchall():
                    if granted and mode not in _STRONG_LOCKS:
                        continue
                    seen = (held if granted else waited).setdefault((relation, mode), [now, now])
                    seen[1] = now
                stop.wait(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    hits = 0
    try:
        yield costs
    except MigrationFailed as exc:
        hits = int("lock timeout" in exc.message)
        raise
    finally:
        stop.set()
        thread.join()
        watcher.close()
        with suppress(Exception):
            backend._query("RESET lock_timeout")
        named = _relation_names(backend, [r for r, _ in (*held, *waited)])
        costs["lock_timeout_hits"] = hits
        costs["lock_waits"] = [
            {"relation": named.get(r, r), "mode": m, "ms": int((t[1] - t[0]) * 1000)} for (r, m), t in waited.items()
        ]
        longest = sorted(held.items(), key=lambda item: -int((item[1][1] - item[1][0]) * 1000))[:8]
        costs["locks_held"] = [
            {"relation": named.get(r, r), "mode": m, "ms": int((t[1] - t[0]) * 1000)} for (r, m), t in longest
        ]


def _relation_names(backend: PostgresClient, seen: list[str]) -> dict[str, str]:
    """`#oid` -> the relation's name, now that the migration's own relations are visible; one it
    created and dropped again (or whose transaction rolled back) is said to be gone."""
    oids = sorted({int(r[1:]) for r in seen if r.startswith("#")})
    if not oids:
        return {}
    found: dict[int, str] = {}
    with suppress(Exception):
        found = dict(backend._query("SELECT oid::bigint, relname FROM pg_class WHERE oid = ANY(%s)", (oids,)))
    return {f"#{oid}": found.get(oid, f"a relation the migration created (oid {oid}, gone since)") for oid in oids}
