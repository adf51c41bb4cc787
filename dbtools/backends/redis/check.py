"""`check`: every key against the declared layout (type, TTL, pattern), walked with SCAN."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from dbtools.audit import Event, Reporter
from dbtools.backends.redis.client import RedisClient, _mapped
from dbtools.backends.redis.layout import Layout

SAMPLES_PER_KIND = 5


@dataclass
class _Finding:
    """Violations of one kind for one pattern: how many, and a few keys to look at."""

    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, key: str) -> None:
        self.count += 1
        if len(self.samples) < SAMPLES_PER_KIND:
            self.samples.append(key)


class RedisCheck(RedisClient):
    """scan_typed and check."""

    layout: ClassVar[Layout]
    scan_count: ClassVar[int]

    def scan_typed(self, *, with_ttl: Callable[[str], bool] = lambda key: True) -> Iterator[tuple[str, str, int]]:
        """(key, type, pttl) for every key, SCANning in batches with TYPE/PTTL pipelined per batch.

        Keys are decoded leniently (binary keys show escaped); keys gone since SCAN are skipped.
        PTTL is only asked where `with_ttl(key)`; elsewhere it reads -3."""
        raw = self._client(decode=False)
        try:
            cursor = 0
            while True:
                cursor, batch = raw.scan(cursor, count=self.scan_count)
                keys = [k.decode("utf-8", "backslashreplace") for k in batch]
                pipe = raw.pipeline(transaction=False)
                wants = []
                for raw_key, key in zip(batch, keys, strict=True):
                    pipe.type(raw_key)
                    wants.append(with_ttl(key))
                    if wants[-1]:
                        pipe.pttl(raw_key)
                answers = iter(pipe.execute())
                for key, want in zip(keys, wants, strict=True):
                    kind = next(answers).decode()
                    pttl = next(answers) if want else -3
                    if kind != "none":
                        yield key, kind, pttl
                if cursor == 0:
                    return
        finally:
            raw.close()

    @_mapped
    def check(self, report: Reporter) -> int:
        """Every key against the declared layout: wrong type, missing or unexpected TTL, no pattern.

        Reports one event per (problem, pattern) with a count and sample keys; returns the number of
        keys in violation. SCAN can return a key twice, so violating keys are de-duplicated."""
        started = time.monotonic()
        findings: dict[tuple[str, str], _Finding] = {}
        seen_bad: set[str] = set()
        scanned = 0

        def wants_ttl(key: str) -> bool:
            found = self.layout.find(key)
            return found is not None and found.ttl is not None

        for key, kind, pttl in self.scan_typed(with_ttl=wants_ttl):
            scanned += 1
            problem = self._problem(key, kind, pttl)
            if problem is None or key in seen_bad:
                continue
            seen_bad.add(key)
            findings.setdefault(problem, _Finding()).add(key)
        for (what, pattern), finding in sorted(findings.items()):
            detail = f"{finding.count} key(s) {what}" + (f" [{pattern}]" if pattern else "")
            report(Event(self.name, "check", "violation", detail=f"{detail}; e.g. {', '.join(finding.samples)}"))
        seconds = time.monotonic() - started
        total = sum(f.count for f in findings.values())
        rate = f", {scanned / seconds:,.0f} keys/s" if seconds > 0 else ""
        report(
            Event(
                self.name,
                "check",
                "scanned",
                duration_ms=int(seconds * 1000),
                detail=f"{scanned} key(s) in DB {self.settings.database}{rate}; {total} violation(s)",
            )
        )
        return total

    def _problem(self, key: str, kind: str, pttl: int) -> tuple[str, str] | None:
        """(what is wrong, pattern) for one key, None when it fits the layout."""
        structure = self.layout.find(key)
        if structure is None:
            return "match no declared pattern", ""
        if kind != structure.type:
            return f"are {kind}, declared {structure.type}", structure.pattern
        if structure.ttl is True and pttl == -1:
            return "have no TTL, declared with one", structure.pattern
        if structure.ttl is False and pttl >= 0:
            return "have a TTL, declared without (they would vanish)", structure.pattern
        return None
