"""PostgreSQL migration text read the way psql and the server read it.

* Statements are cut by PostgreSQL's own lexer (libpg_query's scanner, through pglast): nested
  block comments, dollar quotes with any tag, E'' and standard strings, U& identifiers and string
  continuation across lines are the server's rules, not ours. As psql does, a semicolon inside
  parentheses or inside the BEGIN ... END body of CREATE FUNCTION/PROCEDURE ... BEGIN ATOMIC does
  not end a statement.
* `COPY ... FROM STDIN;` takes the lines after it, up to a line `\\.`, as its data (pg_dump's form).
* psql meta-commands (`\\set`, `\\i`, `\\connect`, ...) are refused: the server cannot run them.
* Each statement that PostgreSQL refuses inside a transaction block, or that controls transactions
  itself, is marked (`Statement.kind`), decided on its parse tree.

pglast is imported only here, and only when a file is split: the no-op `migrate` never loads it, and
nor does a file without quotes, comments or dollar signs (cut at its semicolons, which is exact there).
Text whose parentheses close before they open is a syntax error on every server; the C splitter and
psql may cut it differently, and the server refuses the statement either way.
Speed: libpg_query's own splitter (C) cuts the bulk of a file; a piece it could get wrong (one that
holds a backslash, `COPY`, `ATOMIC`, a leading block comment, or text it skipped) is re-read token by
token. A 20 MB file of 200,000 INSERTs splits in about 2 s (bench/bench_split.py).
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Iterator, Sequence
from typing import overload

from dbtools.backends.postgres.kinds import ADD_ENUM_VALUE, COPY_IN, NO_TRANSACTION, TRANSACTION_CONTROL
from dbtools.backends.postgres.reader import (
    _ASCII_LOWER,
    _CANDIDATE_INITIALS,
    _PG_SPACE,
    CHUNK,
    _kind,
    _parens_close,
    _Reader,
)
from dbtools.backends.postgres.words import _rx
from dbtools.backends.postgres.words import words as words  # a dialect offers split() and words() (lint)
from dbtools.sqltext import Statement

# Words that may make a statement special (it refuses a transaction, controls transactions, is COPY or
# BEGIN ATOMIC): text whose statements contain none of them outside literals and comments is ordinary.
_SPECIAL_WORDS = (
    "copy", "concurrently", "vacuum", "database", "tablespace", "subscription", "system", "reindex", "cluster",
    "discard", "begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare", "atomic",
)  # fmt: skip
# The lexical forms text must avoid to be read without the lexer: dollar quotes, backslashes (E'' escapes,
# psql meta-commands), block comments (they nest).
_NOT_SIMPLE_CHARS = ("$", "\\", "/*")
# Standard strings, quoted identifiers and line comments: in text free of the forms above these are all its
# tokens that can hide a semicolon, a parenthesis or a word, and the leftmost match is the lexer's reading.
_LITERAL_OR_COMMENT = r"'[^']*'|\"[^\"]*\"|--[^\n]*"
_LITERAL = r"'[^']*'|\"[^\"]*\""
_IDENT_TAIL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_$")


def runs_as_one(text: str) -> bool:
    """True when `text` can go to the server as one multi-statement string inside one transaction:
    no COPY data, no psql meta-command, nothing that must run outside a transaction, no transaction
    control. Decided without the lexer (see `_simple`): True is always right, False means "split it"."""
    simple = _simple(text)
    return simple is not None and not simple[1]


def _simple(text: str) -> tuple[int, bool] | None:
    """(statements, mentions TYPE) for text whose statements are all ordinary, found without the lexer in
    about 0.03 s per MB; None when the text needs PostgreSQL's lexer: a dollar quote, a backslash, a block
    comment, an unterminated quote, a semicolon inside parentheses, or a word outside literals and comments
    that may make a statement special (COPY, CONCURRENTLY, BEGIN, END, VACUUM, ...). TYPE is reported, not
    refused: ALTER TYPE ... ADD VALUE refuses a transaction only before PostgreSQL 12.

    The count is the lexer's (`split`): pieces between semicolons that hold more than comments."""
    if any(needle in text for needle in _NOT_SIMPLE_CHARS):
        return None
    # without a comment, one fixed replacement: no Python call per literal
    bare = _rx(_LITERAL_OR_COMMENT).sub(_blank, text) if "--" in text else _rx(_LITERAL).sub(" 0 ", text)
    if "'" in bare or '"' in bare:
        return None  # unterminated: the lexer names the line
    low = bare.lower() if bare.isascii() else bare.translate(_ASCII_LOWER)
    for word in _SPECIAL_WORDS:
        if _has_word(low, word):
            return None
    count = 0
    for piece in bare.split(";"):
        if not piece or piece.isspace():
            continue
        if piece.count("(") != piece.count(")"):
            return None  # psql would not cut inside parentheses (unbalanced ones: the server refuses them)
        count += 1
    return count, _has_word(low, "type")


def _blank(match: re.Match[str]) -> str:
    """A literal or quoted name stays a (neutral) token; a comment becomes space."""
    return " " if match.group().startswith("-") else " 0 "


def _has_word(low: str, word: str) -> bool:
    """True when lower-cased `low` has `word` as a whole word (not part of a longer name)."""
    at = low.find(word)
    while at >= 0:
        after = at + len(word)
        before_ok = at == 0 or not _ident_char(low[at - 1])
        if before_ok and (after >= len(low) or not _ident_char(low[after])):
            return True
        at = low.find(word, at + 1)
    return False


def _ident_char(char: str) -> bool:
    return char in _IDENT_TAIL or (not char.isascii() and char.isalnum())


class Script(Sequence[Statement]):
    """The statements of one section, kept as offsets into its text (a 20 MB file stays ~20 MB).

    A script from `split` of text with only ordinary statements (`_simple`) knows how many it holds
    but cuts them only when one is asked for: sent whole, such a section is never cut at all."""

    def __init__(self, text: str, first_line: int, *, source: str = "") -> None:
        self.text = text
        self.first_line = first_line
        self.whole = False  # `text` is the section as written and holds exactly these statements, in order
        self._source = source
        self._deferred: tuple[int, bool] | None = None  # (statements, mentions TYPE) until cut for real
        self._bounds = array("q")  # start, end of each statement
        self._lines = array("q")
        self._kinds: dict[int, str] = {}
        self._data: dict[int, tuple[int, int]] = {}

    @classmethod
    def deferred(cls, text: str, first_line: int, source: str, simple: tuple[int, bool]) -> Script:
        script = cls(text, first_line, source=source)
        script.whole = True
        script._deferred = simple
        return script

    def _cut(self) -> None:
        """Cut a deferred script into its statements (PostgreSQL's lexer, as `split` does)."""
        if self._deferred is None:
            return
        real = _split_now(self.text, self.first_line, self._source)
        self._bounds, self._lines, self._kinds, self._data = real._bounds, real._lines, real._kinds, real._data
        self._deferred = None

    def sendable(self, server_version: int | None = None) -> bool:
        """True when the section can go to the server as one multi-statement query inside one
        transaction: its text holds exactly its statements, none refuses a transaction or controls
        transactions, and none is COPY FROM STDIN (its data is not SQL)."""
        if not self.whole:
            return False
        if self._deferred is not None and not (self._deferred[1] and _before_12(server_version)):
            return True
        return not self.needs_autocommit(server_version) and COPY_IN not in self.kinds()

    def index_at(self, offset: int) -> int:
        """The statement that `offset` of the text falls in (or in the space after it)."""
        self._cut()
        starts = self._bounds[0::2]
        return max(0, bisect.bisect_right(starts, offset) - 1)

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Offsets in the text from the start of statement `first` to the end of statement `last`."""
        self._cut()
        return self._bounds[2 * first], self._bounds[2 * last + 1]

    def _add(self, start: int, end: int, line: int, kind: str = "", data: tuple[int, int] | None = None) -> None:
        index = len(self._lines)
        self._bounds.extend((start, end))
        self._lines.append(line)
        if kind:
            self._kinds[index] = kind
        if data is not None:
            self._data[index] = data

    def __len__(self) -> int:
        return self._deferred[0] if self._deferred is not None else len(self._lines)

    @overload
    def __getitem__(self, index: int) -> Statement: ...
    @overload
    def __getitem__(self, index: slice) -> list[Statement]: ...
    def __getitem__(self, index: int | slice) -> Statement | list[Statement]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        self._cut()
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        start, end = self._bounds[2 * index], self._bounds[2 * index + 1]
        data = self._data.get(index)
        return Statement(
            self.text[start:end],
            self._lines[index],
            kind=self._kinds.get(index, ""),
            data=None if data is None else self.text[data[0] : data[1]],
        )

    def __iter__(self) -> Iterator[Statement]:
        return (self[i] for i in range(len(self)))

    @classmethod
    def of(cls, statements: Sequence[Statement]) -> Script:
        """A Script holding already split statements (joined with their kinds; lines kept)."""
        script = cls("", 1)
        parts: list[str] = []
        at = 0
        for statement in statements:
            data = None
            if statement.data is not None:
                data = (at + len(statement.sql), at + len(statement.sql) + len(statement.data))
            script._add(at, at + len(statement.sql), statement.line, statement.kind, data)
            parts += [statement.sql, statement.data or ""]
            at += len(statement.sql) + len(statement.data or "")
        script.text = "".join(parts)
        return script

    def kinds(self) -> set[str]:
        """The kinds of the special statements in it (empty for ordinary DDL and DML only)."""
        if self._deferred is not None and not self._deferred[1]:
            return set()  # no word that could make a statement special
        self._cut()
        return set(self._kinds.values())

    def needs_autocommit(self, server_version: int | None = None) -> bool:
        """True when some statement cannot run inside the transaction dbtools would open."""
        kinds = self.kinds()
        if ADD_ENUM_VALUE in kinds and _before_12(server_version):
            return True
        return bool(kinds & (TRANSACTION_CONTROL | {NO_TRANSACTION}))


def split(text: str, *, first_line: int = 1, source: str = "") -> Script:
    """The statements of `text` (a file section starting at line `first_line` of `source`).

    Raises MigrationFileError naming `source` and the line for what no server can run: a psql
    meta-command, an unterminated string/comment/quoted identifier, COPY data without its `\\.` line.
    Text with only ordinary statements (`_simple`) is cut only when a statement is asked for."""
    simple = _simple(text)
    if simple is not None:
        return Script.deferred(text, first_line, source, simple)
    return _split_now(text, first_line, source)


def _split_now(text: str, first_line: int, source: str) -> Script:
    script = _split_plain(text, first_line)
    if script is None:
        reader = _Reader(text, first_line, source)
        reader.run()
        script = reader.script
    script.whole = True
    return script


def _before_12(server_version: int | None) -> bool:
    """True for a server older than PostgreSQL 12 (ALTER TYPE ... ADD VALUE refuses a transaction there)."""
    return server_version is not None and server_version < 120000


# Without any of these, every semicolon is a token of its own and nothing can hide one: such text
# (most small migrations) is cut at its semicolons directly, and pglast (0.2 s to import) stays unloaded.
_NOT_PLAIN_CHARS = ("'", '"', "$", "\\", "--", "/*")


def _split_plain(text: str, first_line: int) -> Script | None:
    """The statements of text that has no quote, comment, dollar sign, backslash, ATOMIC or COPY and
    whose parentheses balance between semicolons; None for any other text."""
    if any(needle in text for needle in _NOT_PLAIN_CHARS):  # most SQL has a quote: no copy made
        return None
    for start in range(0, len(text), CHUNK):  # ATOMIC / COPY in any case, a megabyte at a time
        low = text[start : start + CHUNK + 8].lower()
        if "atomic" in low or "copy" in low:
            return None
    script = Script(text, first_line)
    line, counted, at = first_line, 0, 0
    n = len(text)
    while at < n:
        semicolon = text.find(";", at)
        stop = n if semicolon < 0 else semicolon + 1
        if "(" in text[at:stop] and not _parens_close(text, at, stop):
            return None
        start = at
        while start < stop and text[start] in _PG_SPACE:
            start += 1
        if start < stop and text[start] != ";":
            end = stop
            while text[end - 1] in _PG_SPACE:
                end -= 1
            line += text.count("\n", counted, start)
            counted = start
            kind = _kind(text, start, end) if text[start] in _CANDIDATE_INITIALS else ""
            script._add(start, end, line, kind)
        at = stop
    return script
