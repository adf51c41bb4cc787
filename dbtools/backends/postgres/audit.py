"""The audit sink: events appended to the platform's `audit_logs` table.

A function of a connected backend, imported by its method on first use: a no-op run writes no event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbtools.backends.base import owner_tag
from dbtools.backends.postgres.client import PostgresClient

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.audit import Event


def write_log(backend: PostgresClient, events: Sequence[Event]) -> None:
    """Append events to `audit_logs` (the platform's schema) in one statement; nothing if it does not exist yet."""
    import json

    if not backend._query("SELECT to_regclass('audit_logs') IS NOT NULL")[0][0]:
        return
    rows = [
        (
            owner_tag(),
            f"{e.action}.{e.status}",
            f"{e.store}.migration" if e.version is not None else e.store,
            str(e.version) if e.version is not None else e.name or None,
            "failure" if e.status == "failed" else "success",
            json.dumps(
                {
                    "store": e.store,
                    "version": e.version,
                    "name": e.name,
                    "status": e.status,
                    "duration_ms": e.duration_ms,
                    "error": e.error,
                    "detail": e.detail or None,
                }
            ),
        )
        for e in events
    ]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s::jsonb)"] * len(rows))
    backend._query(
        f"INSERT INTO audit_logs (actor, action, entity_type, entity_id, outcome, details) VALUES {values}",
        [v for row in rows for v in row],
    )
