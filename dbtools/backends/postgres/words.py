"""PostgreSQL statements as words for the lint rules (keywords, names, strings, punctuation), by its lexer."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any


@functools.cache
def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A compiled pattern, compiled on first use: importing this module costs nothing on the no-op path."""
    return re.compile(pattern, flags)


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


def _is_comment(token: Any) -> bool:
    return token.name in ("SQL_COMMENT", "C_COMMENT")
