"""The `migrations` collection: history rows as documents, unique on version; another tool's collection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from dbtools.backends.base import ForeignTable
from dbtools.backends.mongodb.client import MongoClient, _mapped, _short
from dbtools.backends.mongodb.lock import LOCK_ID, LOCKS
from dbtools.errors import DbtoolsError, HistoryMismatch
from dbtools.leases import Lease
from dbtools.plan import AppliedMigration

HISTORY = "migrations"  # the seed's name
_ROW_FIELDS = AppliedMigration._fields


class MongoHistory(MongoClient):
    _lease: Lease | None
    _transactions: bool | None  # None: not tried yet; False: a standalone server has none
    """History rows, one document per version."""

    @_mapped
    def history(self) -> list[AppliedMigration]:
        return [self._row(doc) for doc in self._db[HISTORY].find({}, {"_id": 0}).sort("version", 1)]

    def _row(self, doc: dict[str, Any]) -> AppliedMigration:
        try:
            data = {k: doc[k] for k in _ROW_FIELDS if k in doc}
            row = AppliedMigration(**data)
            if not isinstance(row.version, int) or not row.checksum:
                raise TypeError("version or checksum missing")
        except (TypeError, KeyError) as exc:
            raise HistoryMismatch(
                f"mongodb: the {HISTORY} collection holds a document dbtools did not write: {_short(doc)} ({exc})",
                hint=f"move the old collection aside (db.{HISTORY}.renameCollection('{HISTORY}_old')), "
                f"then adopt the database with `baseline --db mongodb --version N`",
            ) from None
        if row.applied_at is not None and row.applied_at.tzinfo is None:
            row = row._replace(applied_at=row.applied_at.replace(tzinfo=UTC))
        return row

    @_mapped
    def ensure_history(self) -> None:
        """The `migrations` collection with a unique index on version (two rows of one version cannot exist)."""
        import pymongo.errors

        if HISTORY not in self._db.list_collection_names():
            with suppress(pymongo.errors.CollectionInvalid, pymongo.errors.OperationFailure):  # a peer made it
                self._db.create_collection(HISTORY)
        self._db[HISTORY].create_index([("version", 1)], unique=True, name="version_unique")

    @_mapped
    def record(self, row: AppliedMigration) -> None:
        history = self._db[HISTORY]
        self._write(lambda s: history.replace_one({"version": row.version}, row._asdict(), upsert=True, session=s))

    def _write(self, write: Callable[[Any], Any]) -> None:
        """One history write (`write(session)`); while this run holds the lock, only if the lock document
        still holds our token and has not expired: checked and written in one transaction where the
        server has them, else checked (and renewed) by one atomic update just before the write."""
        lease = self._lease
        if lease is None:
            write(None)
            return
        lease.write(lambda token: self._guarded(token, lease.ttl, write))

    def _guarded(self, token: str, ttl: float, write: Callable[[Any], Any]) -> bool:
        import pymongo.errors

        def ours(session: Any) -> bool:
            now = datetime.now(UTC)
            found = self._db[LOCKS].update_one(
                {"_id": LOCK_ID, "token": token, "expires_at": {"$gt": now}},
                {"$set": {"expires_at": now + timedelta(seconds=ttl)}},
                session=session,
            )
            return bool(found.matched_count == 1)

        def both(session: Any) -> bool:
            if not ours(session):
                return False
            write(session)
            return True

        if self._transactions is not False:
            try:
                with self._client.start_session() as session:
                    done = session.with_transaction(both)
                self._transactions = True
                return bool(done)
            except pymongo.errors.OperationFailure as exc:
                if exc.code != 20:  # IllegalOperation: "Transaction numbers are only allowed on a replica set"
                    raise
                self._transactions = False
            except NotImplementedError:  # a client without sessions
                self._transactions = False
        return both(None)

    @_mapped
    def record_many(self, rows: Sequence[AppliedMigration]) -> None:
        """Upsert several rows: in one transaction where the server has them (replica sets), else one
        ordered bulk write (a standalone server has no multi-document transactions)."""
        import pymongo
        import pymongo.errors

        ops = [pymongo.ReplaceOne({"version": row.version}, row._asdict(), upsert=True) for row in rows]
        if not ops:
            return
        history = self._db[HISTORY]
        if self._lease is not None:
            self._write(lambda s: history.bulk_write(ops, ordered=True, session=s))
            return
        try:
            with self._client.start_session() as session:
                session.with_transaction(lambda s: history.bulk_write(ops, ordered=True, session=s))
        except pymongo.errors.OperationFailure as exc:
            if exc.code != 20:  # IllegalOperation: "Transaction numbers are only allowed on a replica set"
                raise
            history.bulk_write(ops, ordered=True)

    @_mapped
    def read_table(self, name: str) -> ForeignTable | None:
        """Another tool's history collection in insertion order (without `_id`); None if absent. A collection
        the server cannot read (a view whose pipeline fails, no privilege) is one error naming it."""
        import pymongo.errors

        if name not in self._db.list_collection_names():
            return None
        try:
            docs = [{k: v for k, v in doc.items() if k != "_id"} for doc in self._db[name].find({}).sort("_id", 1)]
        except pymongo.errors.OperationFailure as exc:
            words = " ".join(str((exc.details or {}).get("errmsg") or exc).split())
            raise DbtoolsError(
                f"mongodb: could not read {name}: {words}",
                hint=f"check that {name} is the other tool's history collection and that this user may read it "
                "(--table NAME reads another)",
            ) from exc
        columns: dict[str, str] = {}
        for field in docs[0] if docs else ():
            if all(field in doc for doc in docs):
                kinds = {type(doc[field]).__name__ for doc in docs}
                columns[field] = kinds.pop() if len(kinds) == 1 else "mixed"
        return ForeignTable(name, columns, docs)

    @_mapped
    def forget(self, version: int) -> None:
        history = self._db[HISTORY]
        self._write(lambda s: history.delete_one({"version": version}, session=s))
