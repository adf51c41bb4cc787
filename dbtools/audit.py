"""Run events and where they go: stdout (human or JSON lines) and the audit sinks.

The audit sinks are stores whose backend can `write_log(events)`: PostgreSQL's `audit_logs` and
MongoDB's `system_logs`, as the seed asks. They receive the events that changed something (applied,
failed, reverted, ...) once per store and run. A sink that is down, or whose table does not exist
yet, never fails a run: it is one warning on stderr. `DBTOOLS_AUDIT` lists the sink stores
(default `postgres,mongodb`; `off` for none). Events carry no connection strings or passwords.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import NamedTuple, TextIO
else:
    from dbtools.records import NamedTuple


class Event(NamedTuple):
    """Something a run did to one migration (or to the store as a whole when version is None)."""

    store: str
    action: str  # migrate | rollback | baseline | repair | dry-run | lock
    status: str  # applied | failed | reverted | recorded | forgotten | would-apply | info
    version: int | None = None
    name: str = ""
    duration_ms: int = 0
    error: str | None = None
    detail: str = ""


Reporter = Callable[[Event], None]


def stdout_reporter(stream: TextIO | None = None) -> Reporter:
    """A reporter printing one human line per event."""

    def report(event: Event) -> None:
        out = stream or sys.stdout
        what = f"{event.version:03d}_{event.name}" if event.version is not None else event.name
        timing = f" ({event.duration_ms} ms)" if event.duration_ms else ""
        detail = f"  {event.detail}" if event.detail else ""
        print(f"{event.store}: {event.status:<11} {what}{timing}{detail}".rstrip(), file=out, flush=True)

    return report


def json_reporter(stream: TextIO | None = None) -> Reporter:
    """A reporter printing one JSON object per event (for CI logs)."""
    import json

    def report(event: Event) -> None:
        print(
            json.dumps({k: v for k, v in event._asdict().items() if v not in (None, "")}),
            file=stream or sys.stdout,
            flush=True,
        )

    return report


def discard(event: Event) -> None:
    """A reporter that drops events."""


AUDIT_ENV = "DBTOOLS_AUDIT"
DEFAULT_SINKS = ("postgres", "mongodb")
# events that changed a store (or tried to): the ones worth an audit row
PERSISTED = {
    "applied",
    "failed",
    "interrupted",
    "reverted",
    "recorded",
    "accepted",
    "cleared",
    "forgotten",
    "freed",
    "loaded",
    "saved",
}


@contextmanager
def audit_suspended() -> Iterator[None]:
    """No audit rows while inside: runs on throwaway servers (verify, docs, rehearse) are not the platform's."""
    saved = os.environ.get(AUDIT_ENV)
    os.environ[AUDIT_ENV] = "off"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(AUDIT_ENV, None)
        else:
            os.environ[AUDIT_ENV] = saved


def sink_stores(env: dict[str, str] | None = None) -> list[str]:
    """The stores to write audit events into, from DBTOOLS_AUDIT."""
    value = (os.environ if env is None else env).get(AUDIT_ENV, ",".join(DEFAULT_SINKS)).strip()
    if value.lower() in ("off", "none", "0", ""):
        return []
    return [s.strip() for s in value.split(",") if s.strip()]


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


class AuditTrail:
    """A reporter that passes events on and keeps the ones to persist until `flush`."""

    def __init__(
        self,
        report: Reporter,
        sinks: list[str] | None = None,
        pending: list[Event] | None = None,
        warn: Callable[[str], None] = _warn,
    ) -> None:
        self.report = report
        self.sinks = sink_stores() if sinks is None else sinks
        self.pending = [] if pending is None else pending
        self.warn = warn

    def __call__(self, event: Event) -> None:
        self.report(event)
        if event.status in PERSISTED:
            self.pending.append(event)

    def persist(self, event: Event) -> None:
        """Keep `event` for the sinks without printing it (the front prints its own line)."""
        self.pending.append(event)

    def flush(self) -> None:
        """Write the kept events to every sink that can take them; a failing sink is a warning."""
        events, self.pending = self.pending, []
        if not events:
            return
        for store in self.sinks:
            try:
                _write(store, events)
            except Exception as exc:  # a sink must never fail the run it reports on
                reason = getattr(exc, "message", None) or str(exc).strip().splitlines()[0]
                self.warn(f"audit sink {store} unavailable, {len(events)} event(s) not logged there: {reason}")


def _write(store: str, events: list[Event]) -> None:
    from dbtools import backends
    from dbtools.backends.base import AuditSink
    from dbtools.settings import from_env

    cls = backends.load(store)
    if not isinstance(cls, AuditSink):
        return
    settings = from_env(store, cls.defaults)
    from dbtools.sandbox import port_answers

    # a quick TCP probe, so a sink that is down costs milliseconds, not a driver's timeout
    if settings.host and not port_answers(settings.host, settings.port, timeout=1.0):
        raise ConnectionError(f"nothing listens on {settings.address}")
    backend = cls(settings)
    backend.connect()
    try:
        assert isinstance(backend, AuditSink)
        backend.write_log(events)
    finally:
        backend.close()
