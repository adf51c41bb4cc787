"""The migration lock: one document in `migration_lock`, a lease renewed by a heartbeat."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from dbtools.backends.base import applied_by, owner_tag
from dbtools.backends.mongodb.client import MongoClient, _mapped
from dbtools.leases import Heartbeat, Waiting, lease_seconds, take_or_wait

LOCKS = "migration_lock"
LOCK_ID = "migrate"
DEFAULT_LOCK_TTL = 30.0  # seconds; renewed every third of it while held


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class MongoLock(MongoClient):
    """lock, lock_lost, lock_holder, break_lock."""

    _beat: Heartbeat | None

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
        return found.matched_count == 1

    @contextmanager
    def lock(self, timeout: float, on_wait: Waiting | None = None) -> Iterator[None]:
        """A lease document: taken atomically, renewed by a heartbeat, released only with our token."""
        ttl = timedelta(seconds=self.lock_ttl)
        token = uuid.uuid4().hex
        take_or_wait(
            self.name,
            repr(self.settings.database),
            lambda: self._take(token, ttl),
            self.lock_holder,
            timeout,
            on_wait=on_wait,
            breaking="a dead run's lock is taken over once it expires, or free it with `unlock --force --db mongodb`",
        )
        self._beat = Heartbeat(lambda: self._renew(token, ttl), ttl.total_seconds() / 3)
        try:
            with self._beat:
                yield
        finally:
            if self._db is not None:
                with suppress(Exception):  # unreachable server: the lease expires by itself
                    self._db[LOCKS].delete_one({"_id": LOCK_ID, "token": token})

    def lock_lost(self) -> str | None:
        """Why the lock this run took is no longer ours, None while it is (or when none was taken)."""
        return self._beat.lost if self._beat is not None else None

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
