"""Sessions and rate-limit counters must expire: give those written without a TTL the declared default.

Redis has no schema to create. Its key layout is declared in dbtools/redis_layout.py (candles,
indicators, sessions, limits, the calculation queue) and checked on a live server with
`python -m dbtools check --db redis`; migrations like this one bring existing data in line with it.
Keys are walked with SCAN in batches, never KEYS, so the server keeps serving meanwhile.
"""

from dbtools.redis_layout import LIMITS, SESSIONS
from dbtools.redis_tools import expire_keys


def sessions(r):
    expire_keys(r, SESSIONS.pattern, SESSIONS.default_ttl)


def limits(r):
    expire_keys(r, LIMITS.pattern, LIMITS.default_ttl)


up = [sessions, limits]


def down(r):
    """Nothing to undo: the keys lacked a TTL by mistake, and which ones did is not recorded."""
