"""The declared Redis key layout: every key pattern the platform writes, with its type and TTL rule.

`python -m dbtools check --db redis` compares a live Redis with this list. A pattern is the key
with `{placeholders}`; a placeholder stands for one non-empty segment without `:`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from dbtools.backends.base import HISTORY_NAME

LOCK_KEY = "migration_lock"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Structure:
    """One declared key pattern.

    `ttl`: True - every key must expire; False - no key may expire (losing it loses data);
    None - either. `default_ttl` is what migrations give keys that lack a required TTL."""

    pattern: str
    type: str  # as Redis TYPE names it: string, list, hash, set, zset, stream
    ttl: bool | None
    description: str
    default_ttl: int | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PLACEHOLDER.split(self.pattern)
        # split() alternates literal text and placeholder names: escape the first, capture the second
        body = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^:]+)" for i, p in enumerate(parts))
        object.__setattr__(self, "regex", re.compile(body))
        object.__setattr__(self, "prefix", parts[0])

    @property
    def glob(self) -> str:
        """The pattern as a SCAN MATCH glob: placeholders become `*`."""
        escaped = re.sub(r"([*?\[\]\\])", r"\\\1", self.pattern)
        return _PLACEHOLDER.sub("*", escaped)

    def matches(self, key: str) -> dict[str, str] | None:
        """The placeholder values when `key` has this pattern, else None."""
        if not key.startswith(self.prefix):
            return None
        found = self.regex.fullmatch(key)
        return found.groupdict() if found else None

    def key(self, **parts: str) -> str:
        """The key for these placeholder values: `CANDLES.key(symbol="BTC", timeframe="1m")`."""
        return self.pattern.format(**parts)


CANDLES = Structure("candles:{symbol}:{timeframe}", "list", None, "latest candles of a symbol, newest first")
INDICATORS = Structure("indicators:{strategy_id}:{symbol}", "hash", None, "computed indicator values by name")
SESSIONS = Structure("sessions:{session_id}", "hash", True, "a user session", default_ttl=24 * 3600)
LIMITS = Structure("limits:{user_id}", "string", True, "rate-limit counter of a user (INCR)", default_ttl=60)
CALCULATIONS = Structure("queue:calculations", "list", False, "calculation task queue (LPUSH / BRPOP)")
HISTORY = Structure(HISTORY_NAME, "hash", False, "dbtools migration history: one field per version")
LOCK = Structure(LOCK_KEY, "string", True, "dbtools migration lock (SET NX PX)")

LAYOUT: tuple[Structure, ...] = (CANDLES, INDICATORS, SESSIONS, LIMITS, CALCULATIONS, HISTORY, LOCK)
INTERNAL = (HISTORY, LOCK)  # ours, not the application's: left out of snapshots


class Layout:
    """A set of structures with fast lookup: exact keys by dict, patterns by literal prefix."""

    def __init__(self, structures: Iterable[Structure] = LAYOUT) -> None:
        self.structures = tuple(structures)
        self._exact = {s.pattern: s for s in self.structures if not _PLACEHOLDER.search(s.pattern)}
        self._patterns = [s for s in self.structures if s.pattern not in self._exact]

    def find(self, key: str) -> Structure | None:
        """The structure `key` belongs to, None when it matches no declared pattern."""
        exact = self._exact.get(key)
        if exact is not None:
            return exact
        for structure in self._patterns:
            if structure.matches(key) is not None:
                return structure
        return None
