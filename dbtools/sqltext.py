"""The Statement value every store's dialect produces, and the checksum `--resume` compares.

Splitting is dialect work and lives with each store: `backends/postgres_dialect.py` (PostgreSQL's
own lexer, through pglast) and `backends/clickhouse_dialect.py` (ClickHouse's lexer rules).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement to send: its text and the file line where it starts."""

    sql: str
    line: int
    head: str = ""  # a label for the step (a script step: its function name)
    kind: str = ""  # what the store's dialect says about it ("" ordinary; e.g. "no-transaction", "copy-in")
    data: str | None = None  # input that travels with it (COPY ... FROM STDIN: the rows after it in the file)

    def excerpt(self, width: int = 80) -> str:
        """The statement on one line, shortened for messages."""
        flat = " ".join(self.sql.split())
        return flat if len(flat) <= width else flat[: width - 3] + "..."


def progress_checksum(statements: Sequence[Statement], done: int) -> str:
    """Checksum of the first `done` statements: `--resume` refuses if they were edited."""
    digest = hashlib.sha256()
    for statement in statements[:done]:
        digest.update(statement.sql.encode())
        digest.update(b"\0")
    return digest.hexdigest()
