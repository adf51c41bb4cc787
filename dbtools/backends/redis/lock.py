"""The migration lock: SET NX PX with a token, renewed by a heartbeat, released only by its owner."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from dbtools.backends.base import owner_tag
from dbtools.backends.redis.client import RedisClient, _mapped
from dbtools.backends.redis.layout import LOCK_KEY
from dbtools.leases import Heartbeat, Waiting, lease_seconds, take_or_wait

DEFAULT_LOCK_TTL = 30.0  # seconds; renewed every third of it while held
# Release and renewal must only touch our own lock: compare the token server-side, atomically.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"


class RedisLock(RedisClient):
    """lock, lock_lost, lock_holder, break_lock."""

    _beat: Heartbeat | None

    @property
    def lock_ttl(self) -> float:
        return lease_seconds(self.settings, DEFAULT_LOCK_TTL, "REDIS_LOCK_TTL")

    @contextmanager
    def lock(self, timeout: float, on_wait: Waiting | None = None) -> Iterator[None]:
        """SET NX PX with a unique token; a heartbeat renews it; only our token releases it."""
        ttl_ms = int(self.lock_ttl * 1000)
        token = json.dumps({"token": uuid.uuid4().hex, "owner": owner_tag(), "since": time.time()})
        take_or_wait(
            self.name,
            f"DB {self.settings.database}",
            lambda: self._try_take(token, ttl_ms),
            self.lock_holder,
            timeout,
            on_wait=on_wait,
            breaking="a dead run's lock expires by itself, or free it now with `unlock --force --db redis`",
        )
        beat = Heartbeat(lambda: bool(self._r.eval(_RENEW, 1, LOCK_KEY, token, ttl_ms)), ttl_ms / 3000)
        self._beat = beat
        try:
            with beat:
                yield
        finally:
            if self._r is not None:
                with suppress(Exception):  # if we cannot reach Redis, the lock expires by itself
                    self._r.eval(_RELEASE, 1, LOCK_KEY, token)

    @_mapped
    def _try_take(self, token: str, ttl_ms: int) -> bool:
        return bool(self._r.set(LOCK_KEY, token, nx=True, px=ttl_ms))

    def lock_lost(self) -> str | None:
        """Why the lock this run took is no longer ours, None while it is (or when none was taken)."""
        return self._beat.lost if self._beat is not None else None

    @_mapped
    def lock_holder(self) -> str | None:
        pipe = self._r.pipeline(transaction=False)
        pipe.get(LOCK_KEY)
        pipe.pttl(LOCK_KEY)
        value, pttl = pipe.execute()
        if value is None:
            return None
        try:
            data = json.loads(value)
            since = datetime.fromtimestamp(data["since"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            who = f"{data['owner']} since {since}"
        except (ValueError, KeyError, TypeError):
            who = f"an unknown client (value {value[:60]!r})"
        expiry = f"expires in {pttl / 1000:.1f} s unless renewed" if pttl >= 0 else "never expires"
        return f"{who} ({expiry})"

    @_mapped
    def break_lock(self) -> str | None:
        """Delete the lock key whoever holds it; the holder's heartbeat then notices and stops."""
        holder = self.lock_holder()
        if holder is None:
            return None
        self._r.delete(LOCK_KEY)
        return f"deleted the lock of {holder}"
