"""The Redis key layout's old import path, kept for migration files already applied: their text is
checksummed, so an import they make cannot change. The code lives in dbtools.backends.redis.layout."""

from dbtools.backends.redis.layout import (
    CALCULATIONS,
    CANDLES,
    HISTORY,
    INDICATORS,
    INTERNAL,
    LAYOUT,
    LIMITS,
    LOCK,
    LOCK_KEY,
    SESSIONS,
    Layout,
    Structure,
)

__all__ = [
    "CALCULATIONS",
    "CANDLES",
    "HISTORY",
    "INDICATORS",
    "INTERNAL",
    "LAYOUT",
    "LIMITS",
    "LOCK",
    "LOCK_KEY",
    "SESSIONS",
    "Layout",
    "Structure",
]
