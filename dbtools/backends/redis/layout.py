"""The declared Redis key layout: every key pattern the platform writes, with its type and TTL rule.

The project declares it in `migrations/redis/layout.toml` (beside the Redis migrations, under the
migrations folder in use): `python -m dbtools check --db redis` compares a live Redis with it, `seed`
writes only what it declares, and Redis migrations read it (`dbtools.redis_layout`). A pattern is the
key with `{placeholders}`; a placeholder stands for one non-empty segment without `:`. dbtools' own
keys (history, lock) are declared here in the code, since they are the tool's, not the project's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dbtools.backends.base import HISTORY_NAME
from dbtools.errors import MigrationFileError

FILE_NAME = "layout.toml"
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


HISTORY = Structure(HISTORY_NAME, "hash", False, "dbtools migration history: one field per version")
LOCK = Structure(LOCK_KEY, "string", True, "dbtools migration lock (SET NX PX)")

INTERNAL = (HISTORY, LOCK)  # ours, not the application's: left out of snapshots
TYPES = ("string", "list", "hash", "set", "zset", "stream")
_TTL = {"required": True, "forbidden": False, "optional": None}


class Layout:
    """A set of structures with fast lookup: exact keys by dict, patterns by literal prefix."""

    def __init__(self, structures: Iterable[Structure] = (), *, source: Path | None = None) -> None:
        self.structures = (*structures, *INTERNAL)
        self.source = source  # the file it was read from
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

    def declared(self, pattern: str) -> Structure:
        """The structure declared with exactly this pattern (`sessions:{session_id}`)."""
        for structure in self.structures:
            if structure.pattern == pattern:
                return structure
        raise MigrationFileError(
            f"redis: {self.source or FILE_NAME} declares no key pattern {pattern!r}",
            hint=f"declare it there ([[key]] pattern = {pattern!r}, type, ttl, description)",
        )


def read(path: Path) -> Layout:
    """The layout declared in `path` (see migrations/redis/layout.toml); a missing file declares nothing."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Layout(source=path)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MigrationFileError(f"redis: {path} cannot be read: {exc}", hint="fix the file (TOML)") from None
    keys = data.get("key", [])
    if not isinstance(keys, list):
        raise MigrationFileError(f"redis: {path}: `key` must be a list of [[key]] tables", hint="see its header")
    return Layout([_structure(path, n, entry) for n, entry in enumerate(keys, 1)], source=path)


def _structure(path: Path, n: int, entry: object) -> Structure:
    def wrong(what: str) -> MigrationFileError:
        return MigrationFileError(f"redis: {path}: [[key]] number {n} {what}", hint="see the file's header")

    if not isinstance(entry, dict):
        raise wrong("is not a table")
    unknown = set(entry) - {"pattern", "type", "ttl", "default_ttl", "description"}
    if unknown:
        raise wrong(f"has unknown field(s) {', '.join(sorted(unknown))}")
    pattern, kind, ttl = entry.get("pattern"), entry.get("type"), entry.get("ttl", "optional")
    if not isinstance(pattern, str) or not pattern:
        raise wrong("needs a pattern (text)")
    if kind not in TYPES:
        raise wrong(f"({pattern}) has type {kind!r}; one of {', '.join(TYPES)}")
    if ttl not in _TTL:
        raise wrong(f"({pattern}) has ttl {ttl!r}; one of {', '.join(_TTL)}")
    default = entry.get("default_ttl")
    if default is not None and (type(default) is not int or default < 1):
        raise wrong(f"({pattern}) has default_ttl {default!r}; a whole number of seconds, 1 or more")
    return Structure(pattern, kind, _TTL[ttl], str(entry.get("description", "")), default_ttl=default)


_folder: Path | None = None  # the Redis migrations folder of the run in progress
_read: dict[Path, tuple[float, Layout]] = {}


def use(folder: Path) -> None:
    """Read the layout from `folder` (the Redis migrations folder a run uses) from now on."""
    global _folder
    _folder = folder


def project() -> Layout:
    """The layout of the project in use: `<migrations folder>/redis/layout.toml` (re-read when it changes)."""
    folder = _folder or Path(os.environ.get("DBTOOLS_MIGRATIONS_DIR") or "migrations") / "redis"
    path = folder / FILE_NAME
    try:
        stamp = path.stat().st_mtime
    except OSError:
        stamp = -1.0
    cached = _read.get(path)
    if cached is None or cached[0] != stamp:
        cached = _read[path] = (stamp, read(path))
    return cached[1]
