"""ClickHouse migration text read the way ClickHouse's lexer reads it: tokens and statements.

The rules are ClickHouse's (src/Parsers/Lexer.cpp), written down here because no Python package
carries them; tests/clickhouse/test_lexer_chdb.py checks them against the engine itself (chdb):

* `'...'` strings and `"..."` / `` `...` `` identifiers: a backslash escapes any character and a
  doubled quote stands for itself;
* comments: `--` and `//` to the end of the line, `#` followed by a space or `!` (`#!` shebang lines)
  to the end of the line, `/* ... */` nested;
* heredocs: `$name$ ... $name$` (and `$$ ... $$`), whatever is inside;
* `x'..'` / `b'..'` hex and binary strings.

A semicolon outside all of those ends a statement (ClickHouse has no construct that nests one).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from dbtools.errors import MigrationFileError
from dbtools.sqltext import Statement

SPACE, COMMENT, STRING, QUOTED, HEREDOC, WORD, NUMBER, PUNCT, SEMICOLON, ERROR = (
    "space", "comment", "string", "quoted", "heredoc", "word", "number", "punct", "semicolon", "error",
)  # fmt: skip

_SIMPLE = r"""(?x)(?s)(?P<space>[ \t\n\r\f\v]+)
      | (?P<comment>(?:--|//|\#[ !])[^\n]*)
      | (?P<string>[xX]'[0-9A-Fa-f]*'|[bB]'[01]*'|'(?:[^'\\]|\\.|'')*')
      | (?P<quoted>"(?:[^"\\]|\\.|"")*"|`(?:[^`\\]|\\.|``)*`)
      | (?P<number>[0-9][0-9A-Za-z_.]*(?:[eEpP][+-][0-9_]+)?)
      | (?P<word>[A-Za-z_$][A-Za-z0-9_$]*)
      | (?P<semicolon>;)
    """
_UNCLOSED = {"'": "a single-quoted string", '"': "a double-quoted identifier", "`": "a back-quoted identifier"}


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token: its kind (the constants above), its text and where it starts in the text."""

    kind: str
    text: str
    start: int

    @property
    def significant(self) -> bool:
        """Not whitespace or a comment."""
        return self.kind not in (SPACE, COMMENT)


class LexError(ValueError):
    """Text ClickHouse cannot lex: an unclosed string, identifier or comment (offset: where it starts)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@functools.cache
def _simple() -> re.Pattern[str]:
    """The pattern for the tokens without nesting, compiled on first use (not on the no-op path)."""
    return re.compile(_SIMPLE)


def tokens(text: str) -> Iterator[Token]:
    """The tokens of `text`, whitespace and comments included: joining their texts gives `text` back."""
    simple = _simple()
    pos, n = 0, len(text)
    while pos < n:
        char = text[pos]
        if char == "/" and text.startswith("/*", pos):
            end = _block_comment_end(text, pos)
            yield Token(COMMENT, text[pos:end], pos)
            pos = end
            continue
        if char == "$":
            end = _heredoc_end(text, pos)
            if end:
                yield Token(HEREDOC, text[pos:end], pos)
                pos = end
                continue
        match = simple.match(text, pos)
        if match is not None:
            yield Token(match.lastgroup or PUNCT, match.group(), pos)
            pos = match.end()
            continue
        if char in _UNCLOSED or (char in "xXbB" and text.startswith("'", pos + 1)):
            quote = char if char in _UNCLOSED else "'"
            raise LexError(f"{_UNCLOSED[quote]} is not closed", pos)
        if not char.isascii() and char.isspace():
            yield Token(SPACE, char, pos)
        else:
            yield Token(PUNCT, char, pos)
        pos += 1


def _block_comment_end(text: str, pos: int) -> int:
    """The end of the (nested) `/* */` comment starting at `pos`."""
    depth, i = 0, pos
    while True:
        opening, closing = text.find("/*", i), text.find("*/", i)
        if closing < 0:
            raise LexError("a /* comment is not closed", pos)
        if 0 <= opening < closing:
            depth += 1
            i = opening + 2
        else:
            depth -= 1
            i = closing + 2
            if depth == 0:
                return i


def _heredoc_end(text: str, pos: int) -> int:
    """The end of the heredoc starting at `pos` (`$tag$ ... $tag$`, the tag any text up to the next `$`),
    or 0 when there is none (then the `$` is an ordinary character)."""
    close = text.find("$", pos + 1)
    if close < 0:
        return 0
    tag = text[pos : close + 1]
    end = text.find(tag, close + 1)
    return end + len(tag) if end >= 0 else 0


def split(text: str, *, first_line: int = 1, source: str = "") -> list[Statement]:
    """The statements of `text` (a file section starting at line `first_line` of `source`), each with
    its semicolon and the line where its first token is; comment-only pieces are dropped."""
    statements: list[Statement] = []
    start = None
    line, counted = first_line, 0
    try:
        for token in tokens(text):
            if token.kind == SEMICOLON:
                if start is not None:
                    line += text.count("\n", counted, start)
                    counted = start
                    statements.append(Statement(text[start : token.start + 1], line))
                start = None
            elif start is None and token.significant:
                start = token.start
    except LexError as exc:
        line = first_line + text.count("\n", 0, exc.offset)
        raise MigrationFileError(
            f"{source or '<text>'}:{line}: {exc}",
            hint="close it; a backslash escapes the next character and a doubled quote stands for itself",
            line=line,
        ) from None
    if start is not None:
        line += text.count("\n", counted, start)
        statements.append(Statement(text[start:].rstrip(), line))
    return statements


def words(sql: str) -> Iterator[tuple[str, str, int, bool]]:
    """The significant tokens of one statement as (kind, text, offset, quoted), for rules that read
    words: kind is "word" (a keyword or name; quoted names unquoted), "string" (a literal's value),
    "punct" (one character) or "other" (numbers, operators)."""
    for token in tokens(sql):
        if token.kind in (WORD, QUOTED):
            quoted = token.kind == QUOTED
            yield "word", _unquote(token.text) if quoted else token.text, token.start, quoted
        elif token.kind == STRING:
            yield "string", _unquote(token.text) if token.text[0] == "'" else token.text, token.start, False
        elif token.kind == HEREDOC:
            tag = token.text[: token.text.index("$", 1) + 1]
            yield "string", token.text[len(tag) : -len(tag)], token.start, False
        elif token.kind in (PUNCT, SEMICOLON) and token.text in "(),.;[]{}":
            yield "punct", token.text, token.start, False
        elif token.significant:
            yield "other", token.text, token.start, False


def _unquote(text: str) -> str:
    """A quoted string or identifier's content: the quotes gone, doubled quotes and backslash escapes resolved."""
    quote, body = text[0], text[1:-1]
    escapes = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "f": "\f"}
    return re.sub(rf"\\(.)|{re.escape(quote * 2)}", lambda m: escapes.get(m[1], m[1]) if m[1] else quote, body)
