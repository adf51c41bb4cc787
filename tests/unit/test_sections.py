"""Up/down sections are found by a search over the whole text; they must be what reading the file line by
line gives (the rule as written in the README), for any arrangement of marker-like lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbtools.errors import MigrationFileError
from dbtools.migrations import _sections, discover

UP = re.compile(r"^--\s*(?:migrate:up\b(?P<opts>.*)|\+goose\s+up\b.*)$", re.IGNORECASE)
DOWN = re.compile(r"^--\s*(?:migrate:down\b.*|\+goose\s+down\b.*)$", re.IGNORECASE)


def line_by_line(text: str) -> tuple[str, str | None, int, int, bool | None] | str:
    """The reference reading: the first line that is an up marker once stripped, the first down marker,
    text between them; an error as its message."""
    lines = text.split("\n")
    up_at = down_at = tx = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        up = UP.match(stripped)
        if up and up_at is None:
            up_at = i
            if "transaction:false" in (up["opts"] or "").replace(" ", "").lower():
                tx = False
        elif DOWN.match(stripped) and down_at is None:
            down_at = i
    if up_at is None:
        return f"f.sql:{down_at + 1}: a down marker without an up marker" if down_at is not None else (
            text, None, 1, 1, None)
    if down_at is not None and down_at < up_at:
        return f"f.sql:{down_at + 1}: the down marker comes before the up marker"
    for i, line in enumerate(lines[:up_at]):
        if line.strip() and not line.strip().startswith("--"):
            return f"f.sql:{i + 1}: statements before the up marker"
    if down_at is None:
        return "\n".join(lines[up_at + 1 :]), None, up_at + 2, 1, tx
    return "\n".join(lines[up_at + 1 : down_at]), "\n".join(lines[down_at + 1 :]), up_at + 2, down_at + 2, tx


def sections(text: str) -> tuple[str, str | None, int, int, bool | None] | str:
    try:
        return _sections(Path("f.sql"), text)
    except MigrationFileError as exc:
        return exc.message


LINES = st.sampled_from(
    [
        "-- migrate:up", "-- migrate:down", "--migrate:up transaction:false", "  -- migrate:up  ",
        "\t--\tmigrate:down\t", "-- +goose Up", "-- +goose Down", "-- +goose up transaction:false",
        "--MIGRATE:UP", "-- migrate:upx", "-- migrate:up\u00a0", "\u00a0-- migrate:down", "x -- migrate:up",
        "--- migrate:up", "-- -- migrate:down", "  --x -- migrate:up", "-- migrate:up transaction : false",
        "\x0b-- migrate:up", "-- +goose\u00a0down", "--+goose up", "SELECT 1;", "", " ", "-- comment", "--",
        "CREATE TABLE t (a int); -- migrate:down", "'-- migrate:up'",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(LINES, max_size=8), st.booleans())
def test_sections_are_what_a_line_by_line_reading_finds(lines: list[str], newline_at_end: bool) -> None:
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    assert sections(text) == line_by_line(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-- migrate:up\nA;\n-- migrate:down\nB;\n", ("A;", "B;\n", 2, 4, None)),
        ("-- migrate:up\n-- migrate:down\n", ("", "", 2, 3, None)),
        ("-- migrate:up", ("", None, 2, 1, None)),
        ("-- note\n\n  -- migrate:up transaction:false\nA;", ("A;", None, 4, 1, False)),
        ("-- +goose Up transaction:false\nA;\n-- +goose Down\nB;", ("A;", "B;", 2, 4, None)),
    ],
)
def test_sections_examples(text: str, expected: tuple[str, str | None, int, int, bool | None]) -> None:
    assert sections(text) == expected


def test_a_large_file_splits_at_its_markers(tmp_path: Path) -> None:
    body = "".join(f"INSERT INTO t VALUES ({i}, '-- migrate:down inside a string');\n" for i in range(50_000))
    (tmp_path / "001_big.sql").write_text(f"-- migrate:up\n{body}\n-- migrate:down\nDELETE FROM t;\n")
    (m,) = discover(tmp_path, "postgres", ("sql",))
    assert m.up == body and m.down == "DELETE FROM t;\n" and m.down_line == 50_004
