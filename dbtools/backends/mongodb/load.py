"""Seeding: insert_many of a table, count, empty."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbtools.backends.mongodb.client import MongoClient
from dbtools.errors import DbtoolsError

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.seed.table import Table


class MongoLoad(MongoClient):
    """count, wipe, load."""

    def count(self, target: str) -> int:
        """Documents in a collection (0 when it does not exist)."""
        return int(self._db[target].estimated_document_count())

    def wipe(self, targets: Sequence[str]) -> None:
        """Delete every document of the collections, keeping them (and their validators and indexes)."""
        for target in targets:
            self._db[target].delete_many({})

    def load(self, table: Table) -> int:
        """Unordered insert_many in batches: the server spreads the writes, one bad document stops none."""
        import pymongo.errors

        rows = list(table.rows())
        try:
            for start in range(0, len(rows), 10_000):
                self._db[table.target].insert_many(rows[start : start + 10_000], ordered=False)
        except pymongo.errors.PyMongoError as exc:
            raise DbtoolsError(
                f"mongodb: loading {table.target} failed: {str(exc).splitlines()[0][:300]}",
                hint="is the schema current (`migrate --db mongodb`)? --reset empties the seeded collections first",
            ) from exc
        return len(rows)
