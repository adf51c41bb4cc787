"""Run events and where they go: stdout lines now; audit_logs / system_logs sinks plug in here."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Event:
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
    from dataclasses import asdict

    def report(event: Event) -> None:
        print(
            json.dumps({k: v for k, v in asdict(event).items() if v not in (None, "")}),
            file=stream or sys.stdout,
            flush=True,
        )

    return report


def discard(event: Event) -> None:
    """A reporter that drops events."""
