"""The Statement value every store's dialect produces, and the checksum `--resume` compares.

Splitting is dialect work and lives with each store: `backends/postgres/dialect.py` (PostgreSQL's
own lexer, through pglast) and `backends/clickhouse/dialect.py` (ClickHouse's lexer rules).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

from dbtools.errors import MigrationFileError


class Statement(NamedTuple):
    """One statement to send: its text and the file line where it starts."""

    sql: str
    line: int
    head: str = ""  # a label for the step (a script step: its function name)
    kind: str = ""  # what the store's dialect says about it ("" ordinary; e.g. "no-transaction", "copy-in")
    data: str | None = None  # input that travels with it (COPY ... FROM STDIN: the rows after it in the file)
    shown: str | None = None  # the file's text when `sql` had variables substituted (ENVSUB): what messages show
    secrets: tuple[str, ...] = ()  # the substituted values, masked in any message about this statement

    @property
    def text(self) -> str:
        """The statement as written in the file: what messages and checksums use."""
        return self.sql if self.shown is None else self.shown

    def mask(self, text: str) -> str:
        """`text` (a server's message about this statement) with the substituted values hidden: each value,
        and every word of three or more characters that is part of one (a server may quote a fragment)."""
        if not self.secrets:
            return text
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return re.sub(r"\w{3,}", lambda m: "***" if any(m.group() in s for s in self.secrets) else m.group(), text)

    def excerpt(self, width: int = 80) -> str:
        """The statement on one line, shortened for messages."""
        flat = " ".join(self.text.split())
        return flat if len(flat) <= width else flat[: width - 3] + "..."


def progress_checksum(statements: Sequence[Statement], done: int) -> str:
    """Checksum of the first `done` statements: `--resume` refuses if they were edited."""
    digest = hashlib.sha256()
    for statement in statements[:done]:
        digest.update(statement.text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


Splitter = Callable[..., Sequence[Statement]]  # a dialect's split(text, *, first_line, source)


def split_blocks(
    text: str, first_line: int, source: str, blocks: Sequence[tuple[int, int]], splitter: Splitter
) -> Sequence[Statement]:
    """The statements of a section where goose's StatementBegin/End blocks (file lines, first and last of
    each body) are one statement each, whatever the lexer would cut there; the rest is cut by `splitter`."""
    statements = _split_blocks(text, first_line, source, blocks, splitter)
    if "+goose" not in text and "+GOOSE" not in text.upper():
        return statements
    # goose leaves its annotation lines out of the statements it sends, even inside a literal or a body
    return [
        s._replace(sql=re.sub(_GOOSE_ANNOTATION, "", s.sql)) if re.search(_GOOSE_ANNOTATION, s.sql) else s
        for s in statements
    ]


_GOOSE_ANNOTATION = r"(?im)^[^\S\n]*--[^\S\n]*\+goose\b[^\n]*\n?"  # compiled on first use (by `re`)


def _split_blocks(
    text: str, first_line: int, source: str, blocks: Sequence[tuple[int, int]], splitter: Splitter
) -> Sequence[Statement]:
    last_line = first_line + text.count("\n")
    inside = sorted((a, b) for a, b in blocks if first_line <= a and b <= last_line)
    if not inside:
        return splitter(text, first_line=first_line, source=source)
    lines = text.split("\n")
    out: list[Statement] = []
    cursor = 0
    for a, b in inside:
        begin, end = a - first_line, b - first_line + 1
        out += splitter("\n".join(lines[cursor:begin]), first_line=first_line + cursor, source=source)
        body = lines[begin:end]
        pieces = splitter("\n".join(body), first_line=a, source=source)
        if pieces:
            if any(p.data is not None for p in pieces):
                raise MigrationFileError(
                    f"{source}:{pieces[0].line}: COPY ... FROM STDIN inside a StatementBegin/StatementEnd block",
                    hint="put the COPY and its data outside the block",
                )
            kinds = [p.kind for p in pieces if p.kind]
            sql = "\n".join(body[pieces[0].line - a :]).strip()
            out.append(Statement(sql, pieces[0].line, kind=kinds[0] if kinds else ""))
        cursor = end
    out += splitter("\n".join(lines[cursor:]), first_line=first_line + cursor, source=source)
    return out
