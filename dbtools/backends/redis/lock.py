"""The migration lock: the lease engine (dbtools.leases.Lease) over one key - SET NX PX with a unique
value, renewed by a heartbeat, checked by every history write, released only by its owner."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dbtools.backends.base import owner_tag
from dbtools.backends.redis.client import RedisClient, _mapped
from dbtools.backends.redis.layout import LOCK_KEY
from dbtools.leases import Lease, LeaseHolder, Waiting, lease_seconds

if TYPE_CHECKING:
    from dbtools.backends.redis import RedisBackend

DEFAULT_LOCK_TTL = 30.0  # seconds; renewed every third of it while held
# Release, renewal and history writes must only happen while the lock is ours: the lock's value is
# compared server-side in the same script that acts, so nothing can come between the check and the act.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
# KEYS: lock, history; ARGV: lock value, command (HSET / HDEL), its arguments. 1 = written, 0 = not ours.
GUARDED = "if redis.call('GET',KEYS[1])~=ARGV[1] then return 0 end redis.call(ARGV[2],KEYS[2],unpack(ARGV,3)) return 1"


class LockKey:
    """The lease primitives (dbtools.leases.LeaseStore) on the lock key: SET NX PX, and scripts that
    act only while the key holds this run's value (token, owner and time, as JSON)."""

    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend
        self.values: dict[str, str] = {}  # token -> the key's value while we hold it

    def value(self, token: str) -> str:
        if token not in self.values:
            self.values[token] = json.dumps({"token": token, "owner": owner_tag(), "since": time.time()})
        return self.values[token]

    def take(self, token: str, ttl: float) -> bool:
        return bool(self._backend._try_take(self.value(token), int(ttl * 1000)))

    def renew(self, token: str, ttl: float) -> bool:
        return bool(self._backend._r.eval(_RENEW, 1, LOCK_KEY, self.value(token), int(ttl * 1000)))

    def release(self, token: str) -> None:
        value = self.values.pop(token, None)
        if value is not None and self._backend._r is not None:
            self._backend._r.eval(_RELEASE, 1, LOCK_KEY, value)

    def holder(self) -> str | None:
        found: str | None = self._backend.lock_holder()
        return found


class RedisLock(RedisClient, LeaseHolder):
    """lock, lock_lost, lock_holder, break_lock."""

    _lease: Lease | None
    _lock_key: LockKey

    @property
    def lock_ttl(self) -> float:
        return lease_seconds(self.settings, DEFAULT_LOCK_TTL, "REDIS_LOCK_TTL")

    @contextmanager
    def lock(self, timeout: float, on_wait: Waiting | None = None) -> Iterator[None]:
        """The lease engine (dbtools.leases.Lease) over the lock key: SET NX PX with a unique value, a
        heartbeat renews it, every history write checks it, only our value releases it."""
        lease = Lease(self.name, f"DB {self.settings.database}", self._lock_key, self.lock_ttl)
        breaking = "a dead run's lock expires by itself, or free it now with `unlock --force --db redis`"
        with self._holding(lease, timeout, on_wait, breaking=breaking):
            yield

    @_mapped
    def _try_take(self, value: str, ttl_ms: int) -> bool:
        return bool(self._r.set(LOCK_KEY, value, nx=True, px=ttl_ms))

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
