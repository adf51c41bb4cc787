"""What the store looks like: the declared layout (describe) and the keys by pattern (snapshot)."""

from __future__ import annotations

from typing import Any

from dbtools.backends.redis.check import RedisCheck
from dbtools.backends.redis.client import _mapped
from dbtools.backends.redis.layout import INTERNAL


class RedisDescribe(RedisCheck):
    """describe and snapshot."""

    @_mapped
    def describe(self) -> list[dict[str, Any]]:
        """The declared key layout for docs/schema.md: Redis' schema is its key patterns."""
        from dbtools.backends.redis.layout import INTERNAL

        rules = {True: "must expire", False: "never expires", None: "TTL optional"}
        return [
            {
                "name": s.pattern,
                "kind": s.type,
                "purpose": s.description,
                "keys": rules[s.ttl] + (f" (default {s.default_ttl} s)" if s.default_ttl else ""),
                "fields": [],
                "references": [],
            }
            for s in self.layout.structures
            if s not in INTERNAL
        ]

    def snapshot(self) -> dict[str, Any]:
        """Declared patterns with the types and TTL states seen; undeclared keys one by one (type, TTL).

        Keys of declared patterns are data, so only their shape counts; history and lock are left out."""
        patterns: dict[str, set[tuple[str, bool]]] = {}
        keys: dict[str, list[Any]] = {}
        internal = {s.pattern for s in INTERNAL}
        for key, kind, pttl in self.scan_typed():
            structure = self.layout.find(key)
            if structure is None:
                keys[key] = [kind, pttl >= 0]
            elif structure.pattern not in internal:
                patterns.setdefault(structure.pattern, set()).add((kind, pttl >= 0))
        return {
            "patterns": {p: sorted([k, t] for k, t in shapes) for p, shapes in sorted(patterns.items())},
            "keys": dict(sorted(keys.items())),
        }
