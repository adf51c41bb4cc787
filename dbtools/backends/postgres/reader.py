"""The token-by-token reader: libpg_query's splitter in chunks, and the pieces it could cut wrongly read again."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any, NoReturn

from dbtools.backends.postgres.kinds import COPY_IN, classify
from dbtools.backends.postgres.words import _is_comment, _rx
from dbtools.errors import MigrationFileError

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


class _Reader:
    """One pass over a section: the C splitter for the bulk, the token reader where it may be wrong."""

    def __init__(self, text: str, first_line: int, source: str, *, fast: bool = True) -> None:
        self.text = text
        self.fast = fast  # False: token by token only (the reference the fast path is tested against)
        self.source = source or "<text>"
        from dbtools.backends.postgres.dialect import Script  # dialect imports this module

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

    def _refuse(self, offset: int, message: str, hint: str) -> NoReturn:
        line = self.line(offset)
        raise MigrationFileError(f"{self.source}:{line}: {message}", hint=hint, line=line)


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
