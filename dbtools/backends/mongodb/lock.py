"""The migration lock: the lease engine (dbtools.leases.Lease) over one document in `migration_lock`:
taken atomically, renewed by a heartbeat, checked by every history write, released only with our token."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dbtools.backends.base import applied_by, owner_tag
from dbtools.backends.mongodb.client import MongoClient, _mapped
from dbtools.leases import Lease, LeaseHolder, Waiting, lease_seconds

if TYPE_CHECKING:
    from dbtools.backends.mongodb import MongoBackend

LOCKS = "migration_lock"
LOCK_ID = "migrate"
DEFAULT_LOCK_TTL = 30.0  # seconds; renewed every third of it while held


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class LockDocument:
    """The lease primitives (dbtools.leases.LeaseStore) on the lock document."""

    def __init__(self, backend: MongoBackend) -> None:
        self._backend = backend

    def take(self, token: str, ttl: float) -> bool:
        return bool(self._backend._take(token, timedelta(seconds=ttl)))

    def renew(self, token: str, ttl: float) -> bool:
        return bool(self._backend._renew(token, timedelta(seconds=ttl)))

    def release(self, token: str) -> None:
        if self._backend._db is not None:
            self._backend._db[LOCKS].delete_one({"_id": LOCK_ID, "token": token})

    def holder(self) -> str | None:
        found: str | None = self._backend.lock_holder()
        return found


class MongoLock(MongoClient, LeaseHolder):
    """lock, lock_lost, lock_holder, break_lock."""

    _lease: Lease | None

    @property
    def lock_ttl(self) -> float:
        return lease_seconds(self.settings, DEFAULT_LOCK_TTL, "MONGO_LOCK_TTL")

    @_mapped
    def _take(self, token: str, ttl: timedelta) -> bool:
        """One atomic attempt: insert the lock document, or take over an expired one.

        The filter matches only an expired document; if a live one exists the upsert's insert collides
        on `_id` and fails, so two runs can never both succeed."""
        import pymongo.errors

        now = datetime.now(UTC)
        holder = {"token": token, "owner": owner_tag(), "host": os.uname().nodename, "pid": os.getpid()}
        try:
            self._db[LOCKS].update_one(
                {"_id": LOCK_ID, "expires_at": {"$lt": now}},
                {"$set": {**holder, "by": applied_by(), "since": now, "expires_at": now + ttl}},
                upsert=True,
            )
        except pymongo.errors.DuplicateKeyError:
            return False
        return True

    def _renew(self, token: str, ttl: timedelta) -> bool:
        found = self._db[LOCKS].update_one(
            {"_id": LOCK_ID, "token": token}, {"$set": {"expires_at": datetime.now(UTC) + ttl}}
        )
        return bool(found.matched_count == 1)

    @contextmanager
    def lock(self, timeout: float, on_wait: Waiting | None = None) -> Iterator[None]:
        """The lease engine (dbtools.leases.Lease) over the lock document: taken atomically, renewed by a
        heartbeat, checked by every history write, released only with our token."""
        lease = Lease(self.name, repr(self.settings.database), LockDocument(self), self.lock_ttl)  # type: ignore[arg-type]
        breaking = "a dead run's lock is taken over once it expires, or free it with `unlock --force --db mongodb`"
        with self._holding(lease, timeout, on_wait, breaking=breaking):
            yield

    @_mapped
    def lock_holder(self) -> str | None:
        doc = self._db[LOCKS].find_one({"_id": LOCK_ID})
        if doc is None:
            return None
        expires = _aware(doc.get("expires_at"))
        left = (expires - datetime.now(UTC)).total_seconds() if expires else -1
        if left < 0:
            return None  # expired: the next run takes it over
        since = _aware(doc.get("since"))
        when = f" since {since:%Y-%m-%d %H:%M:%S UTC}" if since else ""
        return f"{doc.get('owner', 'an unknown run')}{when} (expires in {left:.1f} s unless renewed)"

    @_mapped
    def break_lock(self) -> str | None:
        """Delete the lock document whoever holds it; the holder's heartbeat notices and it stops."""
        holder = self.lock_holder()
        if holder is None:
            freed = self._db[LOCKS].find_one_and_delete({"_id": LOCK_ID})
            return "deleted an expired lock document" if freed else None
        self._db[LOCKS].delete_one({"_id": LOCK_ID})
        return f"deleted the lock of {holder}"
