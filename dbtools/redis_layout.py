"""The Redis key layout as migrations read it: the project's `migrations/redis/layout.toml`.

`from dbtools.redis_layout import SESSIONS` gives the structure the project declares for the seed's
pattern of that name (read from the file when first asked for); `declared("pattern")` gives any other.
The code lives in dbtools.backends.redis.layout; this path stays because applied migration files
import it (their text is checksummed, so an import they make cannot change)."""

from __future__ import annotations

from typing import Any

from dbtools.backends.redis.layout import HISTORY, INTERNAL, LOCK, LOCK_KEY, Layout, Structure, project

# the seed's five structures by the names migrations import them under
NAMES = {
    "CANDLES": "candles:{symbol}:{timeframe}",
    "INDICATORS": "indicators:{strategy_id}:{symbol}",
    "SESSIONS": "sessions:{session_id}",
    "LIMITS": "limits:{user_id}",
    "CALCULATIONS": "queue:calculations",
}


def declared(pattern: str) -> Structure:
    """The structure the project's layout file declares with this pattern."""
    return project().declared(pattern)


def __getattr__(name: str) -> Any:
    if name in NAMES:
        return declared(NAMES[name])
    if name == "LAYOUT":
        return project().structures
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["HISTORY", "INTERNAL", "LOCK", "LOCK_KEY", "NAMES", "Layout", "Structure", "declared", *NAMES]
