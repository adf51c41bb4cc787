"""The `migration_history` hash: one JSON row per version."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from dbtools.backends.base import HISTORY_NAME
from dbtools.backends.redis.client import RedisClient, _mapped
from dbtools.backends.redis.layout import LOCK_KEY
from dbtools.backends.redis.lock import GUARDED, LockKey
from dbtools.errors import HistoryMismatch
from dbtools.leases import Lease
from dbtools.plan import AppliedMigration

_ROW_FIELDS = AppliedMigration._fields


def _row_json(row: AppliedMigration) -> str:
    data = row._asdict()
    data["applied_at"] = row.applied_at.isoformat() if row.applied_at else None
    return json.dumps(data)


class RedisHistory(RedisClient):
    """History rows in one hash."""

    _lease: Lease | None
    _lock_key: LockKey

    @_mapped
    def history(self) -> list[AppliedMigration]:
        self._history_is_a_hash()
        fields = self._r.hgetall(HISTORY_NAME)
        rows = [self._row(version, text) for version, text in fields.items()]
        return sorted(rows, key=lambda row: row.version)

    def _row(self, version: str, text: str) -> AppliedMigration:
        try:
            data = json.loads(text)
            data = {k: data.get(k) for k in _ROW_FIELDS if k in data}
            if data.get("applied_at"):
                data["applied_at"] = datetime.fromisoformat(data["applied_at"])
            row = AppliedMigration(**data)
        except (ValueError, TypeError) as exc:
            raise HistoryMismatch(
                f"redis: field {version!r} of the {HISTORY_NAME} hash is not a dbtools history row ({exc})",
                hint=f"inspect it with HGET {HISTORY_NAME} {version}; remove it with `repair` or HDEL",
            ) from None
        if str(row.version) != version:
            raise HistoryMismatch(
                f"redis: field {version!r} of {HISTORY_NAME} holds the row of version {row.version}",
                hint=f"inspect it with HGET {HISTORY_NAME} {version}",
            )
        return row

    def _history_is_a_hash(self) -> None:
        kind = self._r.type(HISTORY_NAME)
        if kind not in ("hash", "none"):
            raise HistoryMismatch(
                f"redis: key {HISTORY_NAME} is a {kind}, but dbtools keeps its history there as a hash",
                hint=f"rename that key (RENAME {HISTORY_NAME} ...) or use another REDIS_DB",
            )

    @_mapped
    def ensure_history(self) -> None:
        """Nothing to create (the hash appears with its first field); refuse a foreign key of that name."""
        self._history_is_a_hash()

    @_mapped
    def record(self, row: AppliedMigration) -> None:
        self._write("HSET", str(row.version), _row_json(row))

    @_mapped
    def record_many(self, rows: Sequence[AppliedMigration]) -> None:
        """All rows in one HSET: Redis applies a command whole."""
        if rows:
            self._write("HSET", *(part for row in rows for part in (str(row.version), _row_json(row))))

    @_mapped
    def forget(self, version: int) -> None:
        self._write("HDEL", str(version))

    def _write(self, command: str, *args: str) -> None:
        """One history command; while this run holds the lock, run only if the lock is still ours (one
        script checks the lock's value and writes), else LeaseLost and nothing written."""
        lease = self._lease
        if lease is None:
            self._r.execute_command(command, HISTORY_NAME, *args)
            return
        value = self._lock_key.value(lease.token)
        lease.write(lambda token: bool(self._r.eval(GUARDED, 2, LOCK_KEY, HISTORY_NAME, value, command, *args)))
