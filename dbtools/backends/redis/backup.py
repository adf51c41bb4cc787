"""Redis backups: every key as DUMP + PTTL; restore all or nothing through a scratch DB index and SWAPDB.

Redis has no transaction that could hold a whole restore, so the keys are restored into a spare,
empty DB index of the same server first; only when every key arrived is that index switched with the
target by SWAPDB (atomic), and the old contents are flushed from the spare. A key the server refuses
(a payload from a newer Redis, a damaged one) leaves the target exactly as it was.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbtools.backends.redis.layout import LOCK_KEY
from dbtools.errors import DbtoolsError

if TYPE_CHECKING:
    from dbtools.backends.redis import RedisBackend

HEADER = b"dbtools redis dump 1\n"  # then per key >IqI (key length, pttl, value length), key, DUMP payload
CLAIM_KEY = "dbtools:restore:claim"  # marks a spare DB index as ours while a restore fills it
CLAIM_MS = 600_000
BATCH = 1000
# Claim an index only if it is empty, atomically (two restores never share one).
_CLAIM = "if redis.call('DBSIZE') == 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0"


def dump(backend: RedisBackend, folder: Path) -> dict[str, Any]:
    """Every key as DUMP + PTTL, SCAN-batched and pipelined (the server is never blocked); the lock is left out."""
    raw = backend._client(decode=False)
    seen: set[bytes] = set()
    digest = hashlib.sha256(HEADER)  # hashed as written: no second read of the file
    try:
        with open(folder / "redis.dump", "wb") as out:
            out.write(HEADER)
            cursor = 0
            while True:
                cursor, batch = raw.scan(cursor, count=backend.scan_count)
                batch = [k for k in batch if k not in seen and k != LOCK_KEY.encode()]  # SCAN may repeat keys
                pipe = raw.pipeline(transaction=False)
                for key in batch:
                    pipe.pttl(key)
                    pipe.dump(key)
                answers = pipe.execute()
                records = []
                for key, pttl, value in zip(batch, answers[::2], answers[1::2], strict=True):
                    if value is None:  # expired or deleted since SCAN saw it
                        continue
                    seen.add(key)
                    records.append(struct.pack(">IqI", len(key), pttl, len(value)) + key + value)
                chunk = b"".join(records)
                digest.update(chunk)
                out.write(chunk)
                if cursor == 0:
                    break
        version = raw.info("server").get("redis_version", "?")
    finally:
        raw.close()
    return {
        "files": {"redis.dump": "every key: DUMP payload and remaining TTL (PTTL), history hash included"},
        "tool": f"redis-py DUMP/PTTL (Redis {version})",
        "method": "SCAN + DUMP + PTTL",
        "details": {"keys": len(seen), "db": backend.settings.database, "redis_version": version},
        "sha256": {"redis.dump": digest.hexdigest()},
    }


def _records(path: Path) -> Iterator[tuple[bytes, int, bytes]]:
    with open(path, "rb") as file:
        if file.read(len(HEADER)) != HEADER:
            raise DbtoolsError(f"redis: {path} is not a dbtools Redis dump", hint="pass --from a Redis backup")
        while head := file.read(16):
            key_len, pttl, value_len = struct.unpack(">IqI", head)
            yield file.read(key_len), pttl, file.read(value_len)


def _load(client: Any, path: Path) -> list[bytes]:
    """RESTORE every key of the dump through `client` (its DB index), 1,000 per pipeline; the keys."""
    import redis.exceptions as rx

    keys: list[bytes] = []
    pipe = client.pipeline(transaction=False)
    try:
        for key, pttl, value in _records(path):
            pipe.restore(key, max(pttl, 0), value, replace=True)  # -1 (no TTL) restores as 0: none
            keys.append(key)
            if len(pipe) >= BATCH:
                pipe.execute()
        pipe.execute()
    except rx.ResponseError as exc:
        raise DbtoolsError(
            f"redis: RESTORE refused a key: {exc}",
            hint="nothing was restored: the target is exactly as it was. A DUMP payload restores only on the "
            "same or a newer Redis release (see the manifest's redis_version)",
        ) from exc
    return keys


def _claim_spare(backend: RedisBackend, token: str) -> int | None:
    """An empty DB index other than the target's, claimed for this restore; None when the server has
    none (a single database, a cluster, or CONFIG refused)."""
    import redis.exceptions as rx

    try:
        count = int(backend._r.config_get("databases").get("databases", 1))
    except (rx.ResponseError, ValueError):
        return None
    target = int(backend.settings.database)
    probe = backend._client(decode=True)  # its own connection: SELECT must not move the backend's
    try:
        for index in range(count - 1, -1, -1):  # from the top: applications use the low indexes
            if index == target:
                continue
            probe.execute_command("SELECT", index)
            if probe.eval(_CLAIM, 1, CLAIM_KEY, token, CLAIM_MS):
                return index
    finally:
        probe.close()
    return None


def restore(backend: RedisBackend, folder: Path, *, replace: bool) -> None:
    """Restore into a claimed spare index, then SWAPDB it with the target (the lock key travels along);
    without a spare, restore an empty target in place, removing what arrived if a key is refused."""

    path = folder / "redis.dump"
    token = uuid.uuid4().hex
    spare = _claim_spare(backend, token)
    if spare is None:
        if replace:
            raise DbtoolsError(
                f"redis at {backend.settings.address}: restore --force needs a spare, empty DB index to restore "
                "into before switching it in (all or nothing), and this server offers none",
                hint="flush the target yourself (FLUSHDB) and restore without --force, or free a DB index",
            )
        _restore_in_place(backend, path)
        return
    spare_settings = backend.settings._replace(database=str(spare))
    client = type(backend)(spare_settings)._client(decode=False)
    try:
        try:
            _load(client, path)
        except BaseException:
            client.flushdb()  # the spare was empty: give it back as it was
            raise
        client.delete(CLAIM_KEY)
        lock = backend._r.get(LOCK_KEY), backend._r.pttl(LOCK_KEY)
        if lock[0] is not None and lock[1] > 0:  # the lock this restore holds stays held across the switch
            client.set(LOCK_KEY, lock[0], px=lock[1])
        client.swapdb(int(backend.settings.database), spare)
        client.flushdb(asynchronous=True)  # the spare now holds what the target held: --force drops it
    finally:
        client.close()


def _restore_in_place(backend: RedisBackend, path: Path) -> None:
    """An empty target, no spare index: restore straight in; a refused key removes every key restored."""
    client = backend._client(decode=False)
    try:
        _load(client, path)
    except BaseException:
        keys = [key for key, _, _ in _records(path)]  # the target was empty: these are all ours
        for start in range(0, len(keys), BATCH):
            client.delete(*keys[start : start + BATCH])
        raise
    finally:
        client.close()


def is_empty(backend: RedisBackend) -> bool:
    """No key in this DB index but the migration lock (a restore holds it while it checks)."""
    return bool(backend._r.dbsize() - backend._r.exists(LOCK_KEY) == 0)
