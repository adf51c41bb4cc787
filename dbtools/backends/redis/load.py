"""Seeding: pipelined writes of a table's keys, count, empty."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbtools.backends.redis.check import RedisCheck

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.seed.table import Table


class RedisLoad(RedisCheck):  # the layout comes from the backend (the project's layout file)
    """count, wipe, load."""

    def count(self, target: str) -> int:
        """Keys of a declared pattern (`sessions:{session_id}`) or one exact key, counted with SCAN."""
        from dbtools.backends.redis.layout import Structure

        glob = Structure(target, "string", None, "").glob
        return sum(1 for _ in self._r.scan_iter(match=glob, count=1000))

    def wipe(self, targets: Sequence[str]) -> None:
        """Delete the keys of the patterns (SCAN in batches, UNLINK so the server frees memory lazily)."""
        from dbtools.backends.redis.layout import Structure

        for target in targets:
            batch = []
            for key in self._r.scan_iter(match=Structure(target, "string", None, "").glob, count=1000):
                batch.append(key)
                if len(batch) == 1000:
                    self._r.unlink(*batch)
                    batch = []
            if batch:
                self._r.unlink(*batch)

    def load(self, table: Table) -> int:
        """Write keys through one pipeline: lists (`items`), hashes (`fields`), strings (`value`), each
        replaced whole and given its `ttl` (seconds) when the table has one. The table's pattern must be
        declared in the project's layout file (a seed writes nothing `check` would call a violation)."""
        self.layout.declared(table.target)
        pipe = self._r.pipeline(transaction=False)
        for row in table.rows():
            key = row["key"]
            pipe.delete(key)
            if "items" in row:
                if row["items"]:
                    pipe.rpush(key, *row["items"])
            elif "fields" in row:
                pipe.hset(key, mapping=row["fields"])
            else:
                pipe.set(key, row["value"])
            if row.get("ttl"):
                pipe.expire(key, int(row["ttl"]))
        pipe.execute()
        return len(table)
