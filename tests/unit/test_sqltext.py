"""The Statement value and the resume checksum (splitting is tested per dialect beside this file)."""

from __future__ import annotations

from dbtools.backends.postgres.dialect import split
from dbtools.sqltext import Statement, progress_checksum


def test_progress_checksum_depends_on_the_statements_done() -> None:
    a = split("SELECT 1; SELECT 2; SELECT 3;")
    b = split("SELECT 1; SELECT 2; SELECT 4;")
    assert progress_checksum(a, 2) == progress_checksum(b, 2) != progress_checksum(b, 3)
    assert progress_checksum(a, 3) == progress_checksum(list(a), 3)


def test_excerpt_is_one_short_line() -> None:
    statement = Statement("SELECT   1,\n  2,\n" + "x, " * 40 + "3", 7)
    assert "\n" not in statement.excerpt(40) and len(statement.excerpt(40)) == 40
    assert statement.excerpt(40).endswith("...")
