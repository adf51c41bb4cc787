"""The audit sink: events appended to the platform's `audit_logs` collection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING

from dbtools.backends.mongodb.client import MongoClient

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.audit import Event


class MongoAudit(MongoClient):
    """write_log."""

    def write_log(self, events: Sequence[Event]) -> None:
        """Append events to `system_logs` (the platform's schema); nothing if it does not exist yet."""
        from datetime import datetime

        if "system_logs" not in self._db.list_collection_names():
            return
        now = datetime.now(UTC)
        self._db.system_logs.insert_many(
            [
                {
                    "ts": now,
                    "level": "ERROR" if e.status == "failed" else "INFO",
                    "source": "dbtools",
                    "message": f"{e.store} {e.action} {e.status}"
                    + (f" {e.version:03d}_{e.name}" if e.version is not None else f" {e.name}".rstrip()),
                    "context": {
                        k: v
                        for k, v in {
                            "store": e.store,
                            "action": e.action,
                            "status": e.status,
                            "version": e.version,
                            "name": e.name,
                            "duration_ms": e.duration_ms,
                            "error": e.error,
                            "detail": e.detail or None,
                        }.items()
                        if v is not None
                    },
                }
                for e in events
            ],
            ordered=False,
        )
