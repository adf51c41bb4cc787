"""goose's ENVSUB regions: substituted at run time, refused when unset, never shown in messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtools.backends.postgres import PostgresBackend
from dbtools.envsub import resolve
from dbtools.errors import MigrationFileError
from dbtools.migrations import discover
from dbtools.sqltext import progress_checksum

GOOSE = (
    "-- +goose ENVSUB ON\n"
    "-- +goose Up\n"
    "CREATE TABLE ${REGION}post (id int, ${COLUMN:-body} text, $KIND text, note text DEFAULT '\\$KEEP');\n"
    "-- +goose ENVSUB OFF\n"
    "SELECT '${REGION} stays';\n"
    "-- +goose Down\n"
    "DROP TABLE ${REGION}post;\n"
)


def load(tmp_path: Path, text: str = GOOSE):
    (tmp_path / "001_x.sql").write_text(text)
    (m,) = discover(tmp_path, "postgres", ("sql",))
    return m


def test_variables_inside_the_region_are_substituted_and_the_file_text_kept(tmp_path: Path) -> None:
    m = load(tmp_path)
    statements = resolve(m, PostgresBackend.split(m), {"REGION": "us_east_", "KIND": "kind"})
    assert statements[0].sql == ("CREATE TABLE us_east_post (id int, body text, kind text, note text DEFAULT '$KEEP');")
    assert statements[0].shown.startswith("CREATE TABLE ${REGION}post") and statements[0].secrets == (
        "us_east_",
        "kind",
    )
    assert statements[1].sql == "SELECT '${REGION} stays';" and statements[1].shown is None
    assert "${REGION}" in statements[0].excerpt()


def test_the_down_section_is_substituted_too_and_defaults_apply(tmp_path: Path) -> None:
    m = load(tmp_path, GOOSE.replace("-- +goose ENVSUB OFF\n", ""))
    down = resolve(m, PostgresBackend.split(m, down=True), {"REGION": "eu_", "KIND": "", "COLUMN": ""}, down=True)
    assert down[0].sql == "DROP TABLE eu_post;"


def test_an_unset_variable_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    m = load(tmp_path)
    with pytest.raises(MigrationFileError, match=r"001_x\.sql:3: \$\{KIND\} is not set") as error:
        resolve(m, PostgresBackend.split(m), {"REGION": "us_east_"})
    assert "us_east_" not in error.value.message + (error.value.hint or "")


def test_checksums_are_over_the_file_text_not_the_values(tmp_path: Path) -> None:
    m = load(tmp_path)
    one = resolve(m, PostgresBackend.split(m), {"REGION": "a_", "KIND": "k1"})
    two = resolve(m, PostgresBackend.split(m), {"REGION": "b_", "KIND": "k2"})
    assert progress_checksum(one, 2) == progress_checksum(two, 2) == progress_checksum(PostgresBackend.split(m), 2)
