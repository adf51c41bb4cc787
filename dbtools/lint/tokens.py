"""SQL statements as word tokens with line numbers, and the few parses the lint rules share.

Each store's dialect module (its backend's `dialect`: the module's split() and words()) reads the
text exactly as migrate does, so comments are dropped and a keyword inside a string literal or a
quoted identifier never looks like a keyword. A store without a dialect module has no SQL statements
to lint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

from dbtools import backends
from dbtools.errors import MigrationFileError, UsageError
from dbtools.migrations import Migration
from dbtools.sqltext import Statement


@dataclass(frozen=True)
class Tok:
    """One token: kind is word (keyword or name), string (a literal's content), punct or other."""

    kind: str
    text: str
    line: int
    quoted: bool = False

    @property
    def kw(self) -> str:
        """The upper-cased word for keyword matching; empty for anything that cannot be a keyword."""
        return self.text.upper() if self.kind == "word" and not self.quoted else ""

    @property
    def name(self) -> str:
        """The identifier as compared: unquoted names fold to lower case."""
        return self.text if self.quoted else self.text.lower()


def dialect(store: str) -> ModuleType | None:
    """The dialect module the store's backend declares (`dialect`: its split() and words()), None for a
    store without SQL."""
    from dbtools.backends.base import SqlDialect

    try:
        cls = backends.load(store)
    except UsageError:
        return None
    return cls.dialect if isinstance(cls, SqlDialect) else None


def tokens(store: str, sql: str, first_line: int = 1) -> list[Tok]:
    """The tokens of one statement of `store` minus whitespace and comments, with their lines."""
    module = dialect(store)
    if module is None:
        return []
    out = []
    line, counted = first_line, 0
    for kind, text, offset, quoted in module.words(sql):
        line += sql.count("\n", counted, offset)
        counted = offset
        out.append(Tok(kind, text, line, quoted))
    return out


@lru_cache(maxsize=512)
def statements(m: Migration, *, down: bool = False) -> tuple[tuple[Statement, tuple[Tok, ...]], ...]:
    """The statements of a migration's up (or down) section with their tokens; () when the section is
    not SQL or cannot be read (the `unreadable` rule reports that). Cached: the drop rule rereads
    earlier files."""
    path = (m.down_path or m.path) if down else m.path
    text = m.down if down else m.up
    module = dialect(m.store)
    if module is None or text is None or path.suffix != ".sql":
        return ()
    first_line = (1 if m.down_path else m.down_line) if down else m.up_line
    try:
        split = module.split(text, first_line=first_line, source=path.name)
    except MigrationFileError:
        return ()
    return tuple((s, tuple(tokens(m.store, s.sql, s.line))) for s in split)


def kws(toks: Sequence[Tok], start: int = 0, count: int = 8) -> list[str]:
    """Up to `count` keyword spellings from `start` (names and literals appear as empty strings)."""
    return [t.kw for t in toks[start : start + count]]


def has_seq(words: Sequence[str], *seq: str) -> bool:
    """True when `seq` occurs contiguously in `words`."""
    n = len(seq)
    return any(list(words[i : i + n]) == list(seq) for i in range(len(words) - n + 1))


def skip(toks: Sequence[Tok], i: int, *words: str) -> int:
    """`i` moved past `words` when they come next, else `i` unchanged."""
    if [t.kw for t in toks[i : i + len(words)]] == list(words):
        return i + len(words)
    return i


def qualified_name(toks: Sequence[Tok], i: int) -> tuple[list[str], int]:
    """The dotted name at `i` as its parts (`db.t` -> ["db", "t"]) and the index after it."""
    parts: list[str] = []
    while i < len(toks) and toks[i].kind == "word":
        parts.append(toks[i].name)
        i += 1
        if i < len(toks) and toks[i].text == ".":
            i += 1
        else:
            break
    return parts, i


def top_level_split(toks: Sequence[Tok], sep: str = ",") -> list[list[Tok]]:
    """`toks` cut at separators outside parentheses (ALTER TABLE's action list)."""
    pieces: list[list[Tok]] = [[]]
    depth = 0
    for tok in toks:
        if tok.kind == "punct" and tok.text == "(":
            depth += 1
        elif tok.kind == "punct" and tok.text == ")":
            depth -= 1
        elif tok.kind == "punct" and tok.text in (sep, ";") and depth == 0:
            pieces.append([])
            continue
        pieces[-1].append(tok)
    return [piece for piece in pieces if piece]


@dataclass(frozen=True)
class AlterTable:
    """An ALTER TABLE statement: the table (last name part, as compared) and its actions."""

    table: str
    actions: list[list[Tok]]


NO_ALTER = AlterTable("", [])  # what a statement that is no ALTER TABLE alters: nothing


def alter_table(toks: Sequence[Tok]) -> AlterTable | None:
    """Parse `ALTER TABLE [IF EXISTS] [ONLY] name [*] [ON CLUSTER c] action, action ...` (PG and CH)."""
    if kws(toks, 0, 2) != ["ALTER", "TABLE"]:
        return None
    i = skip(toks, 2, "IF", "EXISTS")
    i = skip(toks, i, "ONLY")
    parts, i = qualified_name(toks, i)
    if not parts:
        return None
    if i < len(toks) and toks[i].text == "*":
        i += 1
    if kws(toks, i, 2) == ["ON", "CLUSTER"]:
        i += 3
    return AlterTable(parts[-1], top_level_split(toks[i:]))


def created_table(toks: Sequence[Tok]) -> str | None:
    """The table a `CREATE [OR REPLACE] [TEMP|UNLOGGED ...] TABLE [IF NOT EXISTS] name` makes, else None."""
    if not toks or toks[0].kw != "CREATE":
        return None
    i = skip(toks, 1, "OR", "REPLACE")
    while i < len(toks) and toks[i].kw in {"TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL"}:
        i += 1
    if i >= len(toks) or toks[i].kw != "TABLE":
        return None
    parts, _ = qualified_name(toks, skip(toks, i + 1, "IF", "NOT", "EXISTS"))
    return parts[-1] if parts else None


def dropped_tables(toks: Sequence[Tok]) -> list[tuple[str, Tok]]:
    """Tables a `DROP TABLE [IF EXISTS] a, b ...` removes, each with the token naming it."""
    if kws(toks, 0, 2) != ["DROP", "TABLE"]:
        return []
    i = skip(toks, 2, "IF", "EXISTS")
    found: list[tuple[str, Tok]] = []
    while True:
        start = i
        parts, i = qualified_name(toks, i)
        if not parts or parts[-1].upper() in {"CASCADE", "RESTRICT", "ON", "SYNC", "PERMANENTLY"}:
            return found
        found.append((parts[-1], toks[start]))
        if i < len(toks) and toks[i].text == ",":
            i += 1
        else:
            return found


# Words after DROP in an ALTER TABLE action that name something other than a column.
_DROP_NOT_COLUMN = {
    "CONSTRAINT", "INDEX", "PROJECTION", "PARTITION", "PART", "DETACHED", "STATISTICS", "STATISTIC",
    "DEFAULT", "NOT", "EXPRESSION", "IDENTITY", "TTL", "COMMENT",
}  # fmt: skip


def dropped_column(action: Sequence[Tok]) -> str | None:
    """The column an ALTER TABLE action `DROP [COLUMN] [IF EXISTS] c` removes (PG allows no COLUMN)."""
    if not action or action[0].kw != "DROP" or len(action) < 2:
        return None
    if action[1].kw in _DROP_NOT_COLUMN:
        return None
    i = skip(action, 1, "COLUMN")
    i = skip(action, i, "IF", "EXISTS")
    return action[i].name if i < len(action) and action[i].kind == "word" else None
