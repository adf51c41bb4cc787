"""Up/down sections are found by a search over the whole text; they must be what reading the file line by
line gives (the rule as written in the README), for any arrangement of marker-like lines.

The reference below reads every line in Python; `_sections` finds the marker-like lines with one
regex search. Both read each marker with the same strict reader (`_Markers`), so this checks which
lines count as markers, where sections start and end, and the statement checks around them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbtools.errors import MigrationFileError
from dbtools.migrations import _Markers, _sections, discover

Result = tuple[object, ...] | str


def line_by_line(text: str) -> Result:
    """The reference reading: each line whose stripped text is `--` then `migrate:` or `+goose` is a
    marker line; the up section is the text between the up and down marker lines."""
    lines = text.split("\n")
    markers = _Markers(Path("f.sql"))
    try:
        for i, line in enumerate(lines):
            stripped = line.strip()
            if stripped.startswith("--") and stripped[2:].lstrip().lower().startswith(("migrate:", "+goose")):
                markers.read(i, line)
        markers.finish(len(lines))
    except MigrationFileError as exc:
        return exc.message

    def has_statement(chunk: list[str]) -> bool:
        return any(line.strip() and not line.strip().startswith("--") for line in chunk)

    up_at, down_at = markers.up_at, markers.down_at
    if up_at is None:
        return text, 1, None, has_statement(lines), None, tuple(markers.envsub), ()
    for i, line in enumerate(lines[:up_at]):
        if line.strip() and not line.strip().startswith("--"):
            return f"f.sql:{i + 1}: statements before the up marker"
    end = len(lines) if down_at is None else down_at
    up = lines[up_at + 1 : end]
    down = None if down_at is None else ("\n".join(lines[down_at + 1 :]), down_at + 2, markers.down_tx)
    return (
        "\n".join(up),
        up_at + 2,
        markers.up_tx,
        has_statement(up),
        down,
        tuple(markers.envsub),
        tuple(markers.blocks),
    )


def sections(text: str) -> Result:
    try:
        parsed = _sections(Path("f.sql"), text)
    except MigrationFileError as exc:
        return exc.message
    up, down = parsed.up, parsed.down
    return (
        up.text,
        up.line,
        up.transactional,
        up.has_statement,
        None if down is None else (down.text, down.line, down.transactional),
        parsed.envsub,
        parsed.blocks,
    )


LINES = st.sampled_from(
    [
        "-- migrate:up", "-- migrate:down", "--migrate:up transaction:false", "  -- migrate:up  ",
        "\t--\tmigrate:down\t", "-- +goose Up", "-- +goose Down", "-- +goose up transaction:false",
        "--MIGRATE:UP", "-- migrate:upx", "-- migrate:up\u00a0", "\u00a0-- migrate:down", "x -- migrate:up",
        "--- migrate:up", "-- -- migrate:down", "  --x -- migrate:up", "-- migrate:up transaction : false",
        "\x0b-- migrate:up", "-- +goose\u00a0down", "--+goose up", "SELECT 1;", "", " ", "-- comment", "--",
        "CREATE TABLE t (a int); -- migrate:down", "'-- migrate:up'", "-- +goose StatementBegin",
        "-- +goose StatementEnd", "-- +goose ENVSUB ON", "-- +goose envsub off", "-- +goose NO TRANSACTION",
        "-- migrate:down transaction:false", "-- +goose Dwon", "- SELECT", "/* block */",
    ]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(LINES, max_size=9), st.booleans())
def test_sections_are_what_a_line_by_line_reading_finds(lines: list[str], newline_at_end: bool) -> None:
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    assert sections(text) == line_by_line(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-- migrate:up\nA;\n-- migrate:down\nB;\n", ("A;", 2, None, True, ("B;\n", 4, None), (), ())),
        ("-- migrate:up\n-- migrate:down\n", ("", 2, None, False, ("", 3, None), (), ())),
        ("-- migrate:up", ("", 2, None, False, None, (), ())),
        ("-- note\n\n  -- migrate:up transaction:false\nA;", ("A;", 4, False, True, None, (), ())),
        ("-- +goose Up\nA;\n-- +goose Down\nB;", ("A;", 2, None, True, ("B;", 4, None), (), ())),
        ("-- +goose Up transaction:false\nA;\n", "f.sql:1: unknown goose annotation `-- +goose Up transaction:false`"),
    ],
)
def test_sections_examples(text: str, expected: Result) -> None:
    assert sections(text) == expected


def test_a_large_file_splits_at_its_markers(tmp_path: Path) -> None:
    body = "".join(f"INSERT INTO t VALUES ({i}, '-- migrate:down inside a string');\n" for i in range(50_000))
    (tmp_path / "001_big.sql").write_text(f"-- migrate:up\n{body}\n-- migrate:down\nDELETE FROM t;\n")
    (m,) = discover(tmp_path, "postgres", ("sql",))
    assert m.up == body and m.down == "DELETE FROM t;\n" and m.down_line == 50_004


def _discovered(folder: Path) -> object:
    try:
        return discover(folder, "postgres", ("sql",))
    except MigrationFileError as exc:
        return exc.message


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(LINES, st.sampled_from(["DROP TABLE t;", "-- dbtools:no-transaction", "SELECT 'migrate:';"])),
             max_size=7),
    st.booleans(),
    st.booleans(),
)  # fmt: skip
def test_the_commonest_file_read_in_one_pass_is_what_the_general_reader_makes(
    lines: list[str], up_first: bool, newline_at_end: bool
) -> None:
    import tempfile
    from unittest import mock

    from dbtools import migrations

    text = "\n".join((["-- migrate:up"] if up_first else []) + lines) + ("\n" if newline_at_end else "")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "001_x.sql").write_text(text)
        fast = _discovered(folder)
        with mock.patch.object(migrations, "_read_common", lambda *a: None):
            general = _discovered(folder)
    assert fast == general


def test_the_commonest_file_takes_the_one_pass_reader(tmp_path: Path) -> None:
    from dbtools import migrations

    (tmp_path / "001_x.sql").write_text("-- migrate:up\nCREATE TABLE t (a int);\n\n-- migrate:down\nDROP TABLE t;\n")
    entry = migrations._Entry(tmp_path / "001_x.sql", str(tmp_path / "001_x.sql"), "x")
    m = migrations._read_common("postgres", 1, entry, (tmp_path / "001_x.sql").read_text())
    assert m is not None and m == discover(tmp_path, "postgres", ("sql",))[0]
    assert (m.up, m.down, m.down_line) == ("CREATE TABLE t (a int);\n", "DROP TABLE t;\n", 5)
