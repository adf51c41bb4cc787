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
import functools
import itertools
import re
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, overload

from dbtools.errors import MigrationFileError
from dbtools.sqltext import Statement

# Statement kinds (Statement.kind); "" is an ordinary statement.
NO_TRANSACTION = "no-transaction"  # PostgreSQL refuses it inside a transaction block
ADD_ENUM_VALUE = "add-enum-value"  # ALTER TYPE ... ADD VALUE: refused in a transaction before PostgreSQL 12
COPY_IN = "copy-in"  # COPY ... FROM STDIN with its data block (Statement.data)
BEGIN, COMMIT, ROLLBACK = "begin", "commit", "rollback"  # the file's own transaction control
SAVEPOINT, ROLLBACK_TO, RELEASE = "savepoint", "rollback-to", "release"
TRANSACTION_CONTROL = frozenset({BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ROLLBACK_TO, RELEASE})

CHUNK = 1 << 20  # characters handed to the C splitter at once: bounds the memory it needs
_EXACT_CHUNK = 1 << 12  # characters the token-by-token reader takes at first (grown x4 for longer statements)
_FAST_MIN = 1 << 14  # the smallest chunk handed to the C splitter after a piece it could not take

# First words of the statements worth classifying; everything else is ordinary without looking further.
_CANDIDATES = frozenset(
    {"CREATE", "DROP", "ALTER", "REINDEX", "VACUUM", "CLUSTER", "DISCARD", "BEGIN", "START", "COMMIT", "END"}
    | {"ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", "PREPARE"}
)
# ...and for the common ones, words that must appear somewhere for the statement to be special.
_NEEDS_WORD = {
    "CREATE": r"concurrently|database|tablespace|subscription",
    "DROP": r"concurrently|database|tablespace|subscription",
    "ALTER": r"system|tablespace|concurrently|subscription|value",
}
_FIRST_WORD = r"[A-Za-z_]+"
_CANDIDATE_INITIALS = frozenset(w[0] for w in _CANDIDATES) | frozenset(w[0].lower() for w in _CANDIDATES)
_PG_SPACE = " \t\n\r\f\v"
# Pieces the C splitter may have cut wrongly: a semicolon inside (a body, a string, or one it took
# for the end after a stray `)`), a backslash (E'' string or a psql meta-command), BEGIN ATOMIC, COPY.
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_DATA_END = r"(?m)^\\\.$"
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


@functools.cache
def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A compiled pattern, compiled on first use: importing this module costs nothing on the no-op path."""
    return re.compile(pattern, flags)


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


class _Reader:
    """One pass over a section: the C splitter for the bulk, the token reader where it may be wrong."""

    def __init__(self, text: str, first_line: int, source: str, *, fast: bool = True) -> None:
        self.text = text
        self.fast = fast  # False: token by token only (the reference the fast path is tested against)
        self.source = source or "<text>"
        self.script = Script(text, first_line)
        self._line = first_line  # line number at self._line_at
        self._line_at = 0

    def line(self, offset: int) -> int:
        """File line of `offset` (offsets are asked for in increasing order, so counting is incremental)."""
        if offset < self._line_at:
            return self.script.first_line + self.text.count("\n", 0, offset)
        self._line += self.text.count("\n", self._line_at, offset)
        self._line_at = offset
        return self._line

    def run(self) -> None:
        pos, n = 0, len(self.text)
        size = CHUNK
        while pos < n:
            if not self.fast:
                pos = self._exact(pos)
                continue
            done, clean = self._fast(pos, size)
            if clean and done > pos:
                pos = done
                size = min(CHUNK, size * 2)
                continue
            if done >= n:
                return
            # a piece to read token by token; the next C chunk is sized to how far this one got, so
            # a file with such pieces every few kilobytes does not pay for a megabyte of C work each time
            size = min(CHUNK, max(_FAST_MIN, 2 * (done - pos)))
            pos = self._exact(done)

    # -- the C splitter ------------------------------------------------------------------------

    def _fast(self, pos: int, size: int) -> tuple[int, bool]:
        """Add the statements libpg_query's splitter finds from `pos` that need no second look.

        Returns where it stopped and whether it stopped cleanly at the end of its chunk (False: at a
        piece to read token by token). This loop runs once per statement of a big file: keep it lean."""
        import pglast

        text, n = self.text, len(self.text)
        end = _chunk_end(text, pos, size)
        chunk = text[pos:end]
        try:
            pieces = pglast.split(chunk, with_parser=False, only_slices=True)
        except pglast.parser.ParseError as exc:
            cut = _error_offset(exc)
            try:
                pieces = pglast.split(chunk[:cut], with_parser=False, only_slices=True) if cut else ()
            except pglast.parser.ParseError:
                pieces = ()
            pieces = pieces[:-1]  # the piece the error cut short
            end = n + 1  # never "the end of the text": there is an error to report after these
        else:
            if end < n:
                pieces = pieces[:-1]  # it may go on past the chunk
        low = chunk.lower()
        if len(low) != len(chunk):  # a letter whose lower case is longer (İ): lower only A-Z
            low = chunk.translate(_ASCII_LOWER)
        kinds, bounds, lines = self.script._kinds, self.script._bounds, self.script._lines
        self.line(pos)
        line, counted = self._line, 0
        at = 0
        space_semi = _PG_SPACE + ";"
        for piece in pieces:
            start, stop = piece.start, piece.stop
            if at < start and chunk[at:start].strip(space_semi):
                break  # the splitter skipped text it saw no keyword in: read it token by token
            first = chunk[start]
            if first == "-":
                start = _skip_line_comments(chunk, start, stop)
                if start is None:
                    break
                first = chunk[start]
            if first == "/" or _troubled(low, start, stop):
                break
            if chunk.startswith(";", stop):
                following = stop + 1
            else:
                semicolon = chunk.find(";", stop)
                if semicolon < 0 and end >= n:
                    following = stop  # the last statement, without a semicolon
                elif semicolon < 0 or chunk[stop:semicolon].strip(_PG_SPACE):
                    break  # no semicolon right after the piece: look closer
                else:
                    following = semicolon + 1
            line += chunk.count("\n", counted, start)
            counted = start
            if first in _CANDIDATE_INITIALS:
                kind = _kind(text, pos + start, pos + following)
                if kind:
                    kinds[len(lines)] = kind
            bounds.append(pos + start)
            bounds.append(pos + following)
            lines.append(line)
            at = following
        else:
            self._line, self._line_at = line, pos + counted
            if end < n:
                return pos + at, True
            return (n, True) if not chunk[at:].strip(space_semi) else (pos + at, False)
        self._line, self._line_at = line, pos + counted
        return pos + at, False

    # -- the token reader ----------------------------------------------------------------------

    def _exact(self, pos: int) -> int:
        """Read statements token by token from `pos` (at least one, unless only comments remain);
        return the position after the last one read."""
        from pglast import parser

        text, n = self.text, len(self.text)
        size = _EXACT_CHUNK
        while True:
            end = _chunk_end(text, pos, size)
            error = None
            try:
                tokens = parser.scan(text[pos:end])
            except parser.ParseError as exc:
                error, cut = exc, _error_offset(exc)
                try:
                    tokens = parser.scan(text[pos : pos + cut]) if cut else []
                except parser.ParseError:
                    tokens = []
            ends = _statement_ends(tokens)
            complete = end >= n and error is None
            if complete and any(not _is_comment(t) for t in tokens[ends[-1] + 1 if ends else 0 :]):
                ends.append(len(tokens))  # the last statement, without a semicolon
            if ends:
                return self._take(pos, tokens, ends)
            if complete:
                return n  # only comments and whitespace remain
            if end >= n:
                assert error is not None
                self._refuse(pos + _error_offset(error), _error_text(error), _UNTERMINATED_HINT)
            size *= 4

    def _take(self, pos: int, tokens: list[Any], ends: list[int]) -> int:
        """Add the statements whose terminating semicolons are at `ends` (len(tokens): the text's end);
        stop after a COPY FROM STDIN, whose data is not SQL. Return the position after what was taken."""
        first = 0
        after = pos
        for last in ends:
            body = [t for t in tokens[first:last] if not _is_comment(t)]
            terminated = last < len(tokens)
            stop = pos + tokens[last].end + 1 if terminated else len(self.text)
            if body:
                self._check_meta_command(pos, body)
                start = pos + body[0].start
                if _is_copy_from_stdin(body):
                    if not terminated:
                        self._refuse(start, "COPY ... FROM STDIN needs a semicolon before its data", _COPY_HINT)
                    return self._copy(start, stop)
                self._statement(start, stop)
            first = last + 1
            after = stop
        return after

    def _copy(self, start: int, stop: int) -> int:
        """COPY ... FROM STDIN; ending at `stop`: its data runs from the next line to a line `\\.`."""
        text = self.text
        eol = text.find("\n", stop)
        eol = len(text) if eol < 0 else eol
        if text[stop:eol].strip(_PG_SPACE):
            message = "text after COPY ... FROM STDIN; on its line (the data starts on the next line)"
            self._refuse(stop, message, _COPY_HINT)
        data_start = min(eol + 1, len(text))
        terminator = _rx(_DATA_END).search(text, data_start)
        if terminator is None:
            self._refuse(start, "COPY ... FROM STDIN without its end-of-data line `\\.`", _COPY_HINT)
        self._statement(start, stop, kind=COPY_IN, data=(data_start, terminator.start()))
        return min(terminator.end() + 1, len(text))

    def _check_meta_command(self, pos: int, body: list[Any]) -> None:
        for i, token in enumerate(body):
            if token.name == "ASCII_92":  # a backslash outside any literal: psql's, not the server's
                name = ""
                if i + 1 < len(body) and body[i + 1].start == token.end + 1:
                    name = self.text[pos + body[i + 1].start : pos + body[i + 1].end + 1]
                self._refuse(
                    pos + token.start,
                    f"psql meta-command \\{name} is not SQL: the server cannot run it",
                    "dbtools sends each statement to the server, not through psql: replace it with SQL "
                    "(\\connect/\\c: one database per migrations folder; \\i: copy the file in; "
                    "\\set: write the value in)",
                )

    # -- results -------------------------------------------------------------------------------

    def _statement(self, start: int, stop: int, *, kind: str = "", data: tuple[int, int] | None = None) -> None:
        stop = len(self.text[start:stop].rstrip(_PG_SPACE)) + start
        if not kind and self.text[start : start + 1] in _CANDIDATE_INITIALS:
            kind = _kind(self.text, start, stop)
        self.script._add(start, stop, self.line(start), kind, data)

    def _refuse(self, offset: int, message: str, hint: str) -> Any:
        line = self.line(offset)
        error = MigrationFileError(f"{self.source}:{line}: {message}", hint=hint)
        error.line = line  # type: ignore[attr-defined]
        raise error


_UNTERMINATED_HINT = "close the string, quoted identifier, dollar quote or comment that starts there"
_COPY_HINT = "write COPY t FROM STDIN; at the end of a line, the rows on the lines after it, then a line \\."


_PAREN = r"[()]"


def _parens_close(text: str, start: int, stop: int) -> bool:
    """True when the parentheses of text[start:stop] balance and never close before they open."""
    depth = 0
    for match in _rx(_PAREN).finditer(text, start, stop):
        depth += 1 if match.group() == "(" else -1
        if depth < 0:
            return False
    return depth == 0


def _kind(text: str, start: int, stop: int) -> str:
    """The kind of the statement text[start:stop], parsing it only when its first word (and for the
    common ones, a telling word somewhere in it) says it may be special."""
    word = _rx(_FIRST_WORD).match(text, start)
    head = word.group(0).upper() if word else ""
    if head not in _CANDIDATES:
        return ""
    needs = _NEEDS_WORD.get(head)
    if needs is not None and not _rx(needs, re.IGNORECASE).search(text, start, stop):
        return ""
    return classify(text[start:stop])


def _troubled(low: str, start: int, stop: int) -> bool:
    """_TROUBLE in lower-cased text, by str.find (five times faster than the regex on short pieces)."""
    return (
        low.find(";", start, stop) >= 0
        or low.find("\\", start, stop) >= 0
        or low.find("copy", start, stop) >= 0
        or low.find("atomic", start, stop) >= 0
    )


def _chunk_end(text: str, pos: int, size: int) -> int:
    """`pos + size` moved to the end of its line (or the end of the text)."""
    if pos + size >= len(text):
        return len(text)
    eol = text.find("\n", pos + size)
    return len(text) if eol < 0 else eol + 1


def _error_offset(exc: Exception) -> int:
    """Where in the scanned text pglast's ParseError points (0 when it does not say)."""
    location = exc.args[1] if len(exc.args) > 1 else None
    return location if isinstance(location, int) and location > 0 else 0


def _error_text(exc: Exception) -> str:
    message = str(exc.args[0]) if exc.args else str(exc)
    return message.split(" at or near ")[0]


def _skip_line_comments(text: str, start: int, stop: int) -> int | None:
    """`start` moved past leading `--` comment lines; None when a block comment leads (token reader)."""
    while text.startswith("--", start):
        eol = text.find("\n", start, stop)
        if eol < 0:
            return None
        start = eol + 1
        while start < stop and text[start] in _PG_SPACE:
            start += 1
    if text.startswith("/*", start):
        return None
    return start


def _is_comment(token: Any) -> bool:
    return token.name in ("SQL_COMMENT", "C_COMMENT")


_ROUTINE_HEADS = (["CREATE", "FUNCTION"], ["CREATE", "PROCEDURE"])
_ROUTINE_HEADS_OR_REPLACE = (["CREATE", "OR", "REPLACE", "FUNCTION"], ["CREATE", "OR", "REPLACE", "PROCEDURE"])


def _statement_ends(tokens: Sequence[Any]) -> list[int]:
    """Indexes of the semicolons that end statements, by psql's rules: not inside parentheses, not
    inside the BEGIN ... END body of CREATE [OR REPLACE] FUNCTION/PROCEDURE (where CASE ... END nests)."""
    ends = []
    depth = begin_depth = 0
    words: list[str] = []
    for i, token in enumerate(tokens):
        name = token.name
        if name == "ASCII_59":
            if depth == 0 and begin_depth == 0:
                ends.append(i)
                words = []
            continue
        if name == "ASCII_40":
            depth += 1
        elif name == "ASCII_41":
            depth = max(0, depth - 1)
        elif token.kind != "NO_KEYWORD" or name == "IDENT":
            word = name.removesuffix("_P")
            if len(words) < 4:
                words.append(word)
            routine = words[:2] in _ROUTINE_HEADS or words[:4] in _ROUTINE_HEADS_OR_REPLACE
            if routine and depth == 0:
                if word == "BEGIN" or (word == "CASE" and begin_depth):
                    begin_depth += 1
                elif word == "END" and begin_depth:
                    begin_depth -= 1
    return ends


def _is_copy_from_stdin(body: Sequence[Any]) -> bool:
    if body[0].name != "COPY":
        return False
    depth = 0
    for previous, token in itertools.pairwise(body):
        if token.name == "ASCII_40":
            depth += 1
        elif token.name == "ASCII_41":
            depth -= 1
        elif depth == 0 and previous.name == "FROM" and token.name == "STDIN":
            return True
    return False


# -- classification ----------------------------------------------------------------------------


def classify(sql: str) -> str:
    """The kind of one statement: NO_TRANSACTION, ADD_ENUM_VALUE, a transaction-control kind, or "".

    Decided on pglast's parse tree; a statement it cannot parse (newer syntax, or an error the server
    will report) is judged on its keywords."""
    import pglast

    try:
        parsed = pglast.parse_sql(sql)
    except pglast.parser.ParseError:
        return _classify_words(sql)
    kinds = {_kind_of(raw.stmt) for raw in parsed} - {""}
    return min(kinds) if kinds else ""


def _kind_of(node: Any) -> str:
    from pglast import ast, enums

    if isinstance(node, ast.TransactionStmt):
        kind = enums.TransactionStmtKind
        return {
            kind.TRANS_STMT_BEGIN: BEGIN,
            kind.TRANS_STMT_START: BEGIN,
            kind.TRANS_STMT_COMMIT: COMMIT,
            kind.TRANS_STMT_ROLLBACK: ROLLBACK,
            kind.TRANS_STMT_SAVEPOINT: SAVEPOINT,
            kind.TRANS_STMT_RELEASE: RELEASE,
            kind.TRANS_STMT_ROLLBACK_TO: ROLLBACK_TO,
        }.get(node.kind, NO_TRANSACTION)  # PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED
    if isinstance(node, ast.IndexStmt | ast.DropStmt):
        return NO_TRANSACTION if node.concurrent else ""
    if isinstance(node, ast.ReindexStmt):
        whole = node.kind in (
            enums.ReindexObjectType.REINDEX_OBJECT_SCHEMA,
            enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM,
            enums.ReindexObjectType.REINDEX_OBJECT_DATABASE,
        )
        return NO_TRANSACTION if whole or _option_on(node.params, "concurrently") else ""
    if isinstance(node, ast.VacuumStmt):
        return NO_TRANSACTION if node.is_vacuumcmd else ""
    if isinstance(node, ast.ClusterStmt):
        return NO_TRANSACTION if node.relation is None else ""
    if isinstance(node, ast.DiscardStmt):
        return NO_TRANSACTION if node.target == enums.DiscardMode.DISCARD_ALL else ""
    if isinstance(node, ast.AlterDatabaseStmt):
        return NO_TRANSACTION if any(o.defname == "tablespace" for o in node.options or ()) else ""
    if isinstance(node, ast.AlterTableStmt):
        detach = enums.AlterTableType.AT_DetachPartition
        return (
            NO_TRANSACTION
            if any(c.subtype == detach and getattr(c.def_, "concurrent", False) for c in node.cmds or ())
            else ""
        )
    if isinstance(node, ast.AlterEnumStmt):
        return ADD_ENUM_VALUE if node.newVal is not None and node.oldVal is None else ""
    no_transaction = (
        ast.CreatedbStmt,
        ast.DropdbStmt,
        ast.CreateTableSpaceStmt,
        ast.DropTableSpaceStmt,
        ast.AlterSystemStmt,
        ast.CreateSubscriptionStmt,
        ast.AlterSubscriptionStmt,
        ast.DropSubscriptionStmt,
    )
    return NO_TRANSACTION if isinstance(node, no_transaction) else ""


def _option_on(options: Sequence[Any] | None, name: str) -> bool:
    """True when the option list holds `name` switched on (`(CONCURRENTLY)` or `(CONCURRENTLY true)`)."""
    for option in options or ():
        if option.defname == name:
            value = getattr(getattr(option, "arg", None), "val", getattr(option, "arg", None))
            text = str(getattr(value, "sval", getattr(value, "ival", getattr(value, "boolval", value)))).lower()
            return option.arg is None or text in ("true", "on", "1", "yes")
    return False


_WORD_RULES = [
    (r"^(?:BEGIN|START TRANSACTION)\b", BEGIN),
    (r"^(?:COMMIT|END|ROLLBACK|ABORT) PREPARED\b", NO_TRANSACTION),
    (r"^(?:COMMIT|END)\b", COMMIT),
    (r"^ROLLBACK (?:WORK |TRANSACTION )?TO\b", ROLLBACK_TO),
    (r"^(?:ROLLBACK|ABORT)\b", ROLLBACK),
    (r"^SAVEPOINT\b", SAVEPOINT),
    (r"^RELEASE\b", RELEASE),
    (r"^PREPARE TRANSACTION\b", NO_TRANSACTION),
    (
        (
            r"^(?:(?:CREATE|DROP) (?:UNIQUE )?INDEX CONCURRENTLY|REINDEX\b.*\b(?:CONCURRENTLY|SCHEMA|DATABASE|SYSTEM)"
            r"|VACUUM|CLUSTER$|DISCARD ALL|(?:CREATE|DROP) (?:DATABASE|TABLESPACE)|(?:CREATE|ALTER|DROP) SUBSCRIPTION"
            r"|ALTER SYSTEM|ALTER DATABASE\b.*\bSET TABLESPACE|ALTER TABLE\b.*\bDETACH PARTITION\b.*\bCONCURRENTLY)\b"
        ),
        NO_TRANSACTION,
    ),
    (r"^ALTER TYPE\b.*\bADD VALUE\b", ADD_ENUM_VALUE),
]


def _classify_words(sql: str) -> str:
    """The kind from the statement's words outside literals and comments (when it does not parse)."""
    from pglast import parser

    try:
        tokens = parser.scan(sql)
    except parser.ParseError:
        return ""
    words = " ".join(
        sql[t.start : t.end + 1].upper() for t in tokens if not _is_comment(t) and t.name not in ("SCONST", "ASCII_59")
    )
    for pattern, kind in _WORD_RULES:
        if _rx(pattern).search(words):
            return kind
    return ""


# -- words, for rules that read statements (lint) ----------------------------------------------

_PUNCT = {"ASCII_40": "(", "ASCII_41": ")", "ASCII_44": ",", "ASCII_46": ".", "ASCII_59": ";", "ASCII_91": "[",
          "ASCII_93": "]"}  # fmt: skip


def words(sql: str) -> Iterator[tuple[str, str, int, bool]]:
    """The significant tokens of one statement as (kind, text, offset, quoted), for rules that read
    words: kind is "word" (a keyword or name; quoted names unquoted), "string" (a literal's value),
    "punct" (one character) or "other" (numbers, operators), by PostgreSQL's lexer."""
    from pglast import parser

    for token in parser.scan(sql):
        text = sql[token.start : token.end + 1]
        if token.name in ("SQL_COMMENT", "C_COMMENT"):
            continue
        if token.name == "IDENT" and text.startswith('"'):
            yield "word", text[1:-1].replace('""', '"'), token.start, True
        elif token.name == "UIDENT":
            yield "word", text, token.start, True
        elif token.name == "IDENT" or token.kind != "NO_KEYWORD":
            yield "word", text, token.start, False
        elif token.name in ("SCONST", "USCONST"):
            yield "string", _string_value(text), token.start, False
        elif token.name in _PUNCT:
            yield "punct", _PUNCT[token.name], token.start, False
        else:
            yield "other", text, token.start, False


_SEGMENT = r"(?s)[eE]'((?:[^'\\]|''|\\.)*)'|'((?:[^']|'')*)'"
_E_ESCAPE = r"(?s)\\(.)"


def _string_value(text: str) -> str:
    """The value of a string constant as the lexer gave it: '...' (segments joined across lines),
    E'...' with backslash escapes, or $tag$...$tag$."""
    if text.startswith("$"):
        tag = text[: text.index("$", 1) + 1]
        return text[len(tag) : -len(tag)]
    escapes = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
    parts = []
    for match in _rx(_SEGMENT).finditer(text):
        if match[1] is not None:
            parts.append(_rx(_E_ESCAPE).sub(lambda m: escapes.get(m[1], m[1]), match[1].replace("''", "'")))
        else:
            parts.append(match[2].replace("''", "'"))
    return "".join(parts)
