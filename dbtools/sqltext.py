"""Splitting SQL text into statements with their line numbers, on sqlparse's tokenizer.

sqlparse knows quoted strings, quoted identifiers, dollar quoting, `--`, `#` and `/* */` comments and
`BEGIN ATOMIC ... END` bodies, so a semicolon inside any of those never ends a statement. Its default
lexer is MySQL-flavoured about quotes; each dialect here gets its own lexer instance (sqlparse's
Lexer supports that) with the string rules of that server:

* postgres: '...' strings take no backslash escapes (standard_conforming_strings), E'...' do;
  `# ` is an operator, not a comment;
* clickhouse: a backslash escapes any character in '...' strings and `...` identifiers.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement to send: its text and the file line where it starts."""

    sql: str
    line: int
    head: str = ""  # its first keywords, upper-cased and space-joined (a script step: its function name)
    kind: str = ""  # what the store's dialect says about it ("" ordinary; e.g. "no-transaction", "copy-in")
    data: str | None = None  # input that travels with it (COPY ... FROM STDIN: the rows after it in the file)

    def excerpt(self, width: int = 80) -> str:
        """The statement on one line, shortened for messages."""
        flat = " ".join(self.sql.split())
        return flat if len(flat) <= width else flat[: width - 3] + "..."


# Text without quotes, comments, dollar quoting or BEGIN ATOMIC bodies has no semicolon that does
# not end a statement: it is split directly, which is what most migrations are and 10x faster.
_NEEDS_TOKENIZER = re.compile(r"""['"$#`]|--|/\*|\batomic\b""", re.IGNORECASE)
_WORD = re.compile(r"\w+|[^\w\s]")


_STRING_RULES = {
    # rule of sqlparse's default lexer -> the dialect's rules in its place
    "postgres": {
        r"'(''|\\'|[^'])*'": [r"[eE]'(''|\\.|[^'\\])*'", r"'(''|[^'])*'"],
        r"(--|# )\+.*?(\r\n|\r|\n|$)": [r"--\+.*?(\r\n|\r|\n|$)"],
        r"(--|# ).*?(\r\n|\r|\n|$)": [r"--.*?(\r\n|\r|\n|$)"],
    },
    "clickhouse": {
        r"'(''|\\'|[^'])*'": [r"'(''|\\.|[^'\\])*'"],
        r"`(``|[^`])*`": [r"`(``|\\.|[^`\\])*`"],
    },
}


@functools.cache
def _lexer(dialect: str | None) -> Any:
    """sqlparse's lexer with the string and comment rules of `dialect` (None: sqlparse's defaults)."""
    from sqlparse import keywords
    from sqlparse.lexer import Lexer

    if dialect is None:
        return Lexer.get_default_instance()
    replaced = _STRING_RULES[dialect]
    rules = []
    for pattern, token in keywords.SQL_REGEX:
        rules += [(rule, token) for rule in replaced.get(pattern, [pattern])]
    missing = set(replaced) - {pattern for pattern, _ in keywords.SQL_REGEX}
    if missing:  # a new sqlparse changed its rules: fail loudly rather than split wrongly
        raise RuntimeError(f"sqlparse lexer rules changed; cannot apply {dialect} rules for {sorted(missing)}")
    lexer = Lexer()
    lexer.default_initialization()
    lexer.set_SQL_REGEX(rules)
    return lexer


def tokens(text: str, dialect: str) -> Iterator[tuple[Any, str]]:
    """(token type, text) pairs of `text` under `dialect`'s rules, whitespace and comments included:
    joining the texts gives `text` back, so a caller can rewrite some tokens and keep the rest verbatim."""
    return _lexer(dialect).get_tokens(text)


def split(
    text: str, *, first_line: int = 1, head_tokens: int = 12, dialect: str | None = None
) -> list[Statement]:
    """Statements of `text` (comment-only pieces dropped); `first_line` is the line `text` starts on.

    `dialect` ("postgres", "clickhouse") picks that server's string and comment rules."""
    if not _NEEDS_TOKENIZER.search(text):
        pieces = text.split(";")
        # a semicolon inside parentheses (CREATE RULE ... (a; b)) does not end a statement
        if all(piece.count("(") == piece.count(")") for piece in pieces):
            return _split_plain(pieces, first_line, head_tokens)
    return _split_tokenized(text, first_line, head_tokens, dialect)


def _split_plain(pieces: list[str], first_line: int, head_tokens: int) -> list[Statement]:
    statements = []
    line = first_line
    for n, piece in enumerate(pieces):
        body = piece.strip()
        if body:
            start = len(piece) - len(piece.lstrip())
            sql = (piece[start:] + (";" if n < len(pieces) - 1 else "")).rstrip()
            head = " ".join(w.upper() for w in _WORD.findall(body)[:head_tokens])
            statements.append(Statement(sql, line + piece.count("\n", 0, start), head))
        line += piece.count("\n")
    return statements


def _split_tokenized(text: str, first_line: int, head_tokens: int, dialect: str | None = None) -> list[Statement]:
    from sqlparse import tokens as T
    from sqlparse.engine import StatementSplitter

    statements: list[Statement] = []
    offset_line = first_line
    for piece in StatementSplitter().process(_lexer(dialect).get_tokens(text)):
        raw = str(piece)
        start = None
        words: list[str] = []
        consumed = 0
        for token in piece.flatten():
            if token.is_whitespace or token.ttype in T.Comment:
                if start is None:
                    consumed += len(token.value)
                continue
            if start is None:
                start = consumed
            if len(words) < head_tokens:
                words.append(token.value.upper())
        if start is not None and words != [";"]:  # a lone semicolon is an empty statement
            line = offset_line + raw.count("\n", 0, start)
            statements.append(Statement(raw[start:].rstrip(), line, " ".join(words)))
        offset_line += raw.count("\n")
    return statements


def progress_checksum(statements: Sequence[Statement], done: int) -> str:
    """Checksum of the first `done` statements: `--resume` refuses if they were edited."""
    digest = hashlib.sha256()
    for statement in statements[:done]:
        digest.update(statement.sql.encode())
        digest.update(b"\0")
    return digest.hexdigest()
