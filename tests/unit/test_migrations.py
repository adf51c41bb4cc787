"""File discovery and parsing rules: names, versions, sections, directives, checksums."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbtools.errors import MigrationFileError
from dbtools.migrations import checksum, discover, new_file

SQL = ("sql",)


def make(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def test_versions_sort_numerically_and_non_migrations_are_ignored(tmp_path: Path) -> None:
    folder = make(
        tmp_path,
        {
            "10_ten.sql": "SELECT 10;",
            "9_nine.sql": "SELECT 9;",
            "README.md": "# notes",
            ".gitkeep": "",
            "_helpers.sql": "x",
        },
    )
    assert [(m.version, m.name) for m in discover(folder, "postgres", SQL)] == [(9, "nine"), (10, "ten")]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"001_a.sql": "SELECT 1;", "1_b.sql": "SELECT 2;"}, "both have version 1"),
        ({"001-x.sql": "SELECT 1;"}, "not a valid migration name"),
        ({"1a_x.sql": "SELECT 1;"}, "not a valid migration name"),
        ({"001_x.txt": "SELECT 1;"}, "extension .txt, which postgres does not run"),
        ({"001_x.sql": "  \n\n"}, "is empty"),
        ({"create_users.sql": "SELECT 1;"}, "has no version number"),
        ({"002_x.down.sql": "SELECT 1;"}, "down migration without an up file"),
        ({"001_x.sql": "-- migrate:down\nDROP TABLE x;\n"}, "down marker without an up marker"),
        ({"001_x.sql": "CREATE TABLE x();\n-- migrate:up\nSELECT 1;\n"}, "statements before the up marker"),
        ({"001_x.sql": "-- dbtools:no-transactoin\nSELECT 1;\n"}, "unknown directive dbtools:no-transactoin"),
        ({"001_x.sql": b"SELECT '\xff';"}, "not UTF-8"),
    ],
)
def test_malformed_folders_raise_one_clear_error(tmp_path: Path, files: dict[str, str | bytes], message: str) -> None:
    folder = make(tmp_path, files)
    with pytest.raises(MigrationFileError, match=message) as error:
        discover(folder, "postgres", SQL)
    assert error.value.hint


def test_missing_folder_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MigrationFileError, match="does not exist") as error:
        discover(tmp_path / "nope", "postgres", SQL)
    assert "dbtools new" in error.value.hint


def test_dbmate_markers_split_up_and_down_with_line_numbers(tmp_path: Path) -> None:
    folder = make(
        tmp_path,
        {"001_x.sql": "-- header\n-- migrate:up\nCREATE TABLE x (id int);\n\n-- migrate:down\nDROP TABLE x;\n"},
    )
    (m,) = discover(folder, "postgres", SQL)
    assert m.up.strip() == "CREATE TABLE x (id int);"
    assert m.down.strip() == "DROP TABLE x;"
    assert (m.up_line, m.down_line) == (3, 6)
    assert m.transactional is None


def test_goose_markers_and_no_transaction(tmp_path: Path) -> None:
    folder = make(
        tmp_path,
        {
            "001_x.sql": "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t(x);\n"
            "-- +goose Down\nDROP INDEX i;\n"
        },
    )
    (m,) = discover(folder, "postgres", SQL)
    assert m.transactional is False and m.down.strip() == "DROP INDEX i;"


def test_golang_migrate_pairs_and_plain_files(tmp_path: Path) -> None:
    folder = make(
        tmp_path, {"1_a.up.sql": "CREATE TABLE a();", "1_a.down.sql": "DROP TABLE a;", "2_b.sql": "CREATE TABLE b();"}
    )
    first, second = discover(folder, "postgres", SQL)
    assert first.down == "DROP TABLE a;" and first.down_path.name == "1_a.down.sql"
    assert second.down is None


def test_directives_and_dbmate_transaction_option(tmp_path: Path) -> None:
    folder = make(
        tmp_path,
        {
            "1_a.sql": "-- dbtools:no-transaction\nVACUUM;",
            "2_b.sql": "-- migrate:up transaction:false\nVACUUM;\n-- migrate:down\n",
        },
    )
    first, second = discover(folder, "postgres", SQL)
    assert first.transactional is False and ("no-transaction", "") in first.directives
    assert second.transactional is False


def test_bom_and_line_endings_do_not_change_the_checksum(tmp_path: Path) -> None:
    folder = make(tmp_path, {"1_a.sql": b"\xef\xbb\xbfCREATE TABLE a();\r\nSELECT 1;\r\n"})
    (m,) = discover(folder, "postgres", SQL)
    assert m.checksum == checksum("CREATE TABLE a();\nSELECT 1;\n")
    assert not m.up.startswith("\ufeff")


def test_checksum_covers_the_up_section_only(tmp_path: Path) -> None:
    a = make(tmp_path / "a", {"1_a.sql": "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n"})
    b = make(tmp_path / "b", {"1_a.sql": "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 3;\n"})
    c = make(tmp_path / "c", {"1_a.sql": "-- migrate:up\nSELECT 9;\n-- migrate:down\nSELECT 2;\n"})
    sums = [discover(f, "postgres", SQL)[0].checksum for f in (a, b, c)]
    assert sums[0] == sums[1] != sums[2]


def test_scripts_have_a_down_when_they_define_one(tmp_path: Path) -> None:
    folder = make(
        tmp_path, {"1_a.py": "def up(db):\n    pass\n\ndef down(db):\n    pass\n", "2_b.py": "def up(db):\n    pass\n"}
    )
    first, second = discover(folder, "redis", ("py",))
    assert first.down is not None and second.down is None


def test_new_file_takes_the_next_number_and_width(tmp_path: Path) -> None:
    make(tmp_path, {"0007_a.sql": "SELECT 1;"})
    path = new_file(tmp_path, "postgres", "Add users table!", "sql", "-- {description}\n")
    assert path.name == "0008_add_users_table.sql"
    assert path.read_text() == "-- Add users table!\n"


def _dangling(folder: Path) -> None:
    (folder / "002_b.sql").symlink_to(folder / "gone.sql")


def _loop(folder: Path) -> None:
    (folder / "002_b.sql").symlink_to(folder / "002_b.sql")


def _directory(folder: Path) -> None:
    (folder / "002_b.sql").mkdir()


def _fifo(folder: Path) -> None:
    import os

    os.mkfifo(folder / "002_b.sql")


def _device(folder: Path) -> None:
    (folder / "002_b.sql").symlink_to("/dev/null")


@pytest.mark.parametrize(
    ("make_entry", "kind"),
    [
        (_dangling, "which does not exist"),
        (_loop, "loops back on itself"),
        (_directory, "is a directory"),
        (_fifo, "FIFO"),
        (_device, "a device"),
    ],
)
def test_entries_named_like_migrations_that_are_not_files_are_refused(tmp_path: Path, make_entry, kind: str) -> None:
    folder = make(tmp_path / "postgres", {"001_a.sql": "SELECT 1;"})
    make_entry(folder)
    with pytest.raises(MigrationFileError, match=f"002_b.sql .*{kind}") as error:
        discover(folder, "postgres", SQL)
    assert error.value.hint


def test_symlinked_files_and_unrelated_folders_are_fine(tmp_path: Path) -> None:
    real = make(tmp_path / "elsewhere", {"x.sql": "SELECT 2;"})
    folder = make(tmp_path / "postgres", {"001_a.sql": "SELECT 1;"})
    (folder / "002_b.sql").symlink_to(real / "x.sql")
    (folder / "03_prisma_style").mkdir()  # another tool's layout, not named like a runnable file
    (folder / "_old").mkdir()
    assert [m.version for m in discover(folder, "postgres", SQL)] == [1, 2]


def test_a_nul_byte_is_refused_with_its_line(tmp_path: Path) -> None:
    folder = make(tmp_path, {"001_a.sql": b"SELECT 1;\nSELECT 'a\x00b';\n"})
    with pytest.raises(MigrationFileError, match=r"001_a.sql:2: a NUL byte"):
        discover(folder, "postgres", SQL)


def test_versions_beyond_the_history_column_are_refused_when_read(tmp_path: Path) -> None:
    from dbtools.backends import load
    from dbtools.migrations import INT64_MAX

    ok = make(tmp_path / "ok", {f"{INT64_MAX}_last.sql": "SELECT 1;"})
    assert [m.version for m in discover(ok, "postgres", SQL)] == [INT64_MAX]
    big = make(tmp_path / "big", {f"{INT64_MAX + 1}_over.sql": "SELECT 1;"})
    for store in ("postgres", "clickhouse", "mongodb", "redis"):
        cls = load(store)
        with pytest.raises(MigrationFileError, match=r"larger than .* history can hold"):
            discover(big, store, ("sql", "py"), max_version=cls.max_version)
    assert load("postgres").max_version == load("clickhouse").max_version == INT64_MAX


# -- markers are strict ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        (
            "-- migrate:up\nCREATE TABLE x (id int);\n-- migrate:dwon\nDROP TABLE x;\n",
            "unknown marker `-- migrate:dwon`",
            3,
        ),
        ("-- +goose Up\nCREATE TABLE x (id int);\n-- +goose Dwon\nDROP TABLE x;\n", "unknown goose annotation", 3),
        ("-- migrate:up extra-junk-option\nCREATE TABLE x (id int);\n", "unknown option 'extra-junk-option'", 1),
        ("-- migrate:up transaction:maybe\nSELECT 1;\n", "unknown option 'transaction:maybe'", 1),
        ("-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n-- migrate:up\nSELECT 3;\n", "a second up marker", 5),
        ("-- +goose Up\nSELECT 1;\n-- +goose Up\nSELECT 3;\n", "a second up marker (the first is on line 1)", 3),
        ("-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n-- migrate:down\nSELECT 3;\n", "a second down", 5),
        ("-- migrate:up\nSELECT 1;\n-- +goose Down\nSELECT 2;\n", "a goose marker in a file that uses dbmate", 3),
        ("-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose Down\n", "inside a StatementBegin block", 4),
        ("-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n", "StatementBegin without its StatementEnd", 2),
        ("-- +goose Up\nSELECT 1;\n-- +goose StatementEnd\n", "StatementEnd without a StatementBegin", 3),
        ("-- +goose StatementBegin\nSELECT 1;\n-- +goose StatementEnd\n", "StatementBegin before `-- +goose Up`", 1),
    ],
)
def test_a_line_that_looks_like_a_marker_must_be_one(tmp_path: Path, text: str, needle: str, line: int) -> None:
    folder = make(tmp_path, {"001_x.sql": text})
    with pytest.raises(MigrationFileError) as error:
        discover(folder, "postgres", SQL)
    assert error.value.message.startswith(f"001_x.sql:{line}: ") and needle in error.value.message
    assert error.value.hint


def test_markers_are_read_case_insensitively_and_comments_mentioning_them_are_comments(tmp_path: Path) -> None:
    folder = make(
        tmp_path,
        {
            "001_a.sql": "-- we migrate the users table here\n-- +GOOSE UP\nSELECT 1;\n-- +goose down\nSELECT 2;\n",
            "002_b.sql": "-- Migrate:Up\nSELECT 1; -- not -- migrate:down\n-- MIGRATE:DOWN\nSELECT 2;\n",
        },
    )
    first, second = discover(folder, "postgres", SQL)
    assert (first.up.strip(), first.down.strip()) == ("SELECT 1;", "SELECT 2;")
    assert second.down.strip() == "SELECT 2;"


def test_marker_options_govern_their_own_section(tmp_path: Path) -> None:
    folder = make(
        tmp_path,
        {
            "1_a.sql": "-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down transaction:false\nDROP TABLE a;\n",
            "2_b.sql": "-- migrate:up transaction:false\nVACUUM;\n-- migrate:down\nSELECT 1;\n",
            "3_c.sql": "-- migrate:up\nSELECT 1;\n-- migrate:down\n-- dbtools:no-transaction\nVACUUM;\n",
            "4_d.sql": "-- +goose Up\n-- +goose NO TRANSACTION\nVACUUM;\n-- +goose Down\nVACUUM;\n",
        },
    )
    a, b, c, d = discover(folder, "postgres", SQL)
    assert (a.transactional, a.down_transactional) == (None, False)
    assert (b.transactional, b.down_transactional) == (False, None)
    assert (c.transactional, c.down_transactional) == (None, False)
    assert (d.transactional, d.down_transactional) == (False, False)


def test_goose_statement_blocks_and_envsub_regions_are_recorded_by_file_line(tmp_path: Path) -> None:
    folder = make(
        tmp_path,
        {
            "001_x.sql": "-- +goose ENVSUB ON\n-- +goose Up\nCREATE TABLE ${T} (x int);\n"
            "-- +goose ENVSUB OFF\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int\nAS 'SELECT 1'\n"
            "LANGUAGE sql\n-- +goose StatementEnd\n-- +goose Down\nDROP TABLE ${T};\n"
        },
    )
    (m,) = discover(folder, "postgres", SQL)
    assert m.envsub == ((2, 3),) and m.blocks == ((6, 8),)
    assert m.checksum == checksum(m.up) and "${T}" in m.up


# -- empty migrations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t\n",
        "-- migrate:up\n-- migrate:down\n",
        "-- add orders\n-- migrate:up\n\n\n-- migrate:down\n\n",  # `new`'s template, never filled in
        "-- +goose Up\n-- +goose Down\nDROP TABLE x;\n",
        "-- nothing here yet\n",
    ],
)
def test_a_dbtools_file_without_statements_is_an_error(tmp_path: Path, text: str) -> None:
    folder = make(tmp_path, {"001_x.sql": text})
    with pytest.raises(MigrationFileError, match=r"001_x\.sql (is empty|has no statements)"):
        discover(folder, "postgres", SQL)


def test_golang_migrate_allows_an_empty_up_file(tmp_path: Path) -> None:
    folder = make(tmp_path, {"0021_other_engine.up.sql": "", "0021_other_engine.down.sql": ""})
    (m,) = discover(folder, "postgres", SQL)
    assert m.empty_ok and m.up == "" and m.down == ""


_NAME_PARTS = ["001", "12", "0", "٣", "²", "1a", "", "_", "x", ".", ".up", ".down", "..", "\n", "é", "-", " ", "sql"]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_NAME_PARTS), max_size=6), st.sampled_from(["sql", "SQL", "py", "up.sql", "", "s-q"]))
def test_a_plain_name_reads_as_the_name_pattern_reads_it(parts: list[str], ext: str) -> None:
    """The string fast path of `discover` for `NNN_name.ext` gives what `_NAME` gives, or leaves it to it."""
    from dbtools import migrations

    name = "".join(parts) + ("." + ext if ext else "")
    quick = migrations._plain_name(name, ("sql", "s-q"))
    if quick is None:
        return
    match = migrations._NAME.match(name)
    assert match is not None and match["ext"] in ("sql", "s-q")
    assert quick == (match["version"], match["name"], match["direction"])


@pytest.mark.parametrize("name", ["001_a.sql", "20240101120000_add_users_table.sql", "7_x-y z.sql"])
def test_the_commonest_names_take_the_string_fast_path(name: str) -> None:
    from dbtools import migrations

    assert migrations._plain_name(name, ("sql",)) is not None
