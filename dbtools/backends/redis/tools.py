"""Building blocks for Redis migrations: walk keys with SCAN (never KEYS) and change them in pipelined batches.

Every helper takes the client a migration receives, is safe to run again (a re-run finds nothing left
to do), and returns how many keys it changed. Patterns are layout patterns (`sessions:{session_id}`),
see dbtools.backends.redis.layout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from dbtools.backends.redis.layout import Structure

BATCH = 1000


def batches(r: Any, pattern: str, *, kind: str | None = None, count: int = BATCH) -> Iterator[list[str]]:
    """Keys having `pattern`, in lists of up to about `count`, from SCAN MATCH (TYPE `kind` if given).

    SCAN may return a key twice and may or may not return keys created meanwhile; every helper
    below tolerates both."""
    structure = Structure(pattern, kind or "", None, "")
    cursor = 0
    while True:
        cursor, keys = r.scan(cursor, match=structure.glob, count=count, _type=kind)
        found = [k if isinstance(k, str) else k.decode() for k in keys]
        found = [k for k in found if structure.matches(k) is not None]
        if found:
            yield found
        if cursor == 0:
            return


def rename_keys(r: Any, old: str, new: str, *, count: int = BATCH) -> int:
    """Rename every key of pattern `old` to pattern `new` (same placeholders): `candle:{s}` -> `candles:{s}`.

    Uses RENAMENX so an existing destination is never overwritten; such a clash stops the migration
    with the two key names (the keys renamed before it stay renamed: re-running continues)."""
    source, target = Structure(old, "", None, ""), Structure(new, "", None, "")
    if set(source.regex.groupindex) != set(target.regex.groupindex):
        raise ValueError(f"{old!r} and {new!r} must have the same placeholders")
    if target.matches(source.pattern) is not None or source.matches(target.pattern) is not None:
        raise ValueError(f"{old!r} and {new!r} overlap: renamed keys would be renamed again")
    renamed = 0
    for keys in batches(r, old, count=count):
        pairs = [(key, target.key(**source.matches(key))) for key in keys]  # type: ignore[arg-type]
        pipe = r.pipeline(transaction=False)
        for key, to in pairs:
            pipe.renamenx(key, to)
        for (key, to), result in zip(pairs, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(result, Exception):
                if "no such key" in str(result).lower():
                    continue  # a duplicate from SCAN, already renamed
                raise result
            if not result:
                raise ValueError(f"cannot rename {key!r}: {to!r} already exists")
            renamed += 1
    return renamed


def expire_keys(r: Any, pattern: str, seconds: int, *, count: int = BATCH) -> int:
    """Give keys of `pattern` that have no TTL one of `seconds`; keys that have one keep theirs."""
    changed = 0
    for keys in batches(r, pattern, count=count):
        pipe = r.pipeline(transaction=False)
        for key in keys:
            pipe.ttl(key)
        lasting = [key for key, ttl in zip(keys, pipe.execute(), strict=True) if ttl == -1]
        for key in lasting:
            pipe.expire(key, seconds)
        changed += sum(1 for done in pipe.execute() if done)
    return changed


def persist_keys(r: Any, pattern: str, *, count: int = BATCH) -> int:
    """Remove the TTL of every key of `pattern` (the down of `expire_keys`)."""
    changed = 0
    for keys in batches(r, pattern, count=count):
        pipe = r.pipeline(transaction=False)
        for key in keys:
            pipe.persist(key)
        changed += sum(1 for done in pipe.execute() if done)
    return changed


def reshape_hashes(
    r: Any, pattern: str, reshape: Callable[[str, dict[str, str]], dict[str, str] | None], *, count: int = BATCH
) -> int:
    """Rewrite each hash of `pattern`: `reshape(key, fields)` returns the new fields, or None to keep it.

    Each key is replaced in one MULTI/EXEC (DEL + HSET, TTL restored), so a reader never sees it half
    written. Keys that are not hashes are left alone."""
    changed = 0
    for keys in batches(r, pattern, kind="hash", count=count):
        read = r.pipeline(transaction=False)
        for key in keys:
            read.hgetall(key)
            read.pttl(key)
        answers = read.execute()
        write = r.pipeline(transaction=True)
        for i, key in enumerate(keys):
            fields, pttl = answers[2 * i], answers[2 * i + 1]
            new = reshape(key, fields) if fields else None
            if new is None or new == fields:
                continue
            write.delete(key)
            if new:
                write.hset(key, mapping=new)
                if pttl > 0:
                    write.pexpire(key, pttl)
            changed += 1
        write.execute()
    return changed
