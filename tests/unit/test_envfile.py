"""The settings file reader: python-dotenv's format, no interpolation, the shell wins, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtools import envfile
from dbtools.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

TRICKY = """\
# a comment line
   # an indented comment

export POSTGRES_HOST=db.internal
PLAIN = spaced value   # trailing comment
HASH_IN_VALUE=abc#def
EMPTY=
SINGLE='$HOME \\n $(rm -rf /) not expanded' # comment
DOUBLE="tab\\there \\"quoted\\" ${HOME}"
SPACES="  keep my spaces  "
URL=postgres://u:p%40ss@h:5432/db?sslmode=disable
MULTI="first
second"
JUST_A_NAME
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text)
    return path


def test_quotes_spaces_comments_and_export_prefix_nothing_expanded(tmp_path: Path) -> None:
    assert envfile.read(write(tmp_path, TRICKY)) == {
        "POSTGRES_HOST": "db.internal",
        "PLAIN": "spaced value",
        "HASH_IN_VALUE": "abc#def",
        "EMPTY": "",
        "SINGLE": "$HOME \\n $(rm -rf /) not expanded",
        "DOUBLE": 'tab\there "quoted" ${HOME}',  # interpolation is off: ${HOME} stays as written
        "SPACES": "  keep my spaces  ",
        "URL": "postgres://u:p%40ss@h:5432/db?sslmode=disable",
        "MULTI": "first\nsecond",
    }


def test_a_line_that_does_not_parse_is_one_error_naming_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'A=1\nB="never closed\n')
    with pytest.raises(ConfigError) as caught:
        envfile.read(path)
    assert caught.value.message == f"{path} line 2: expected NAME=value"


def test_crlf_and_bom_are_tolerated(tmp_path: Path) -> None:
    assert envfile.read(write(tmp_path, "\ufeffA=1\r\nB='two'\r\n")) == {"A": "1", "B": "two"}


def test_load_keeps_variables_already_set_unless_override(tmp_path: Path) -> None:
    path = write(tmp_path, "A=from_file\nB=from_file\n")
    environ = {"A": "from_shell"}
    assert envfile.load(path, environ=environ) == {"B": "from_file"}
    assert environ == {"A": "from_shell", "B": "from_file"}
    envfile.load(path, environ=environ, override=True)
    assert environ["A"] == "from_file"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        envfile.read(tmp_path / "nope.env")
    assert envfile.load_default(tmp_path / "nope.env") == {}  # the default file is optional


def test_shipped_env_local_defines_the_seed_variables() -> None:
    values = envfile.read(ROOT / "docker" / "env.local")
    for store, names in {
        "POSTGRES": ("HOST", "PORT", "DB", "USER", "PASSWORD"),
        "CLICKHOUSE": ("HOST", "NATIVE_PORT", "DB", "USER", "PASSWORD"),
        "MONGO": ("HOST", "PORT", "USER", "PASSWORD", "DATABASE"),
        "REDIS": ("HOST", "PORT", "DB", "PASSWORD"),
    }.items():
        for name in names:
            assert f"{store}_{name}" in values
    assert values["CLICKHOUSE_NATIVE_PORT"] == "9002"
    assert values["POSTGRES_DB"] == "trading_users" and values["MONGO_DATABASE"] == "trading_meta"
