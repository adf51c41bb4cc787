"""The env-file loader: what the seed's `export $(grep ... | xargs)` habit gets wrong, read right."""

from __future__ import annotations

import subprocess
import sys
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
SINGLE='$HOME \\n not expanded' # comment
DOUBLE="tab\\there \\"quoted\\" \\$HOME"
SPACES="  keep my spaces  "
URL=postgres://u:p%40ss@h:5432/db?sslmode=disable
MULTI="first
second"
"""


def test_quotes_spaces_comments_and_export_prefix() -> None:
    values = envfile.parse(TRICKY)
    assert values == {
        "POSTGRES_HOST": "db.internal",
        "PLAIN": "spaced value",
        "HASH_IN_VALUE": "abc#def",
        "EMPTY": "",
        "SINGLE": "$HOME \\n not expanded",
        "DOUBLE": 'tab\there "quoted" $HOME',
        "SPACES": "  keep my spaces  ",
        "URL": "postgres://u:p%40ss@h:5432/db?sslmode=disable",
        "MULTI": "first\nsecond",
    }


def test_single_quotes_take_text_literally() -> None:
    assert envfile.parse("A='$HOME \\n $(rm -rf /)'") == {"A": "$HOME \\n $(rm -rf /)"}


def test_text_after_a_closing_quote_is_an_error_naming_the_line() -> None:
    with pytest.raises(ConfigError) as caught:
        envfile.parse("A=1\nB='x'y\n", source="docker/env.local")
    assert caught.value.message.startswith("docker/env.local line 2: unexpected text after the closing quote of B")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("JUST_A_NAME\n", "line 1: expected NAME=value"),
        ("1BAD=x\n", "line 1: expected NAME=value"),
        ('A=1\nB="never closed\n', 'line 2: the " quote opened here is never closed'),
    ],
)
def test_malformed_lines_are_one_line_errors(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        envfile.parse(text)
    assert needle in caught.value.message and "\n" not in caught.value.message


def test_crlf_and_bom_are_tolerated() -> None:
    assert envfile.parse("\ufeffA=1\r\nB='two'\r\n") == {"A": "1", "B": "two"}


def test_load_keeps_variables_already_set_unless_override(tmp_path: Path) -> None:
    path = tmp_path / "env.local"
    path.write_text("A=from_file\nB=from_file\n")
    environ = {"A": "from_shell"}
    assert envfile.load(path, environ=environ) == {"B": "from_file"}
    assert environ == {"A": "from_shell", "B": "from_file"}
    envfile.load(path, environ=environ, override=True)
    assert environ["A"] == "from_file"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        envfile.read(tmp_path / "nope.env")


def test_shell_exports_survive_a_real_shell_eval(tmp_path: Path) -> None:
    path = tmp_path / "env.local"
    path.write_text(TRICKY + "DANGER='$(touch " + str(tmp_path / "pwned") + ")'\n")
    script = (
        f'eval "$({sys.executable} -m dbtools.envfile {path})" && '
        'printf "%s|%s|%s|%s" "$PLAIN" "$DOUBLE" "$MULTI" "$DANGER"'
    )
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout == f'spaced value|tab\there "quoted" $HOME|first\nsecond|$(touch {tmp_path / "pwned"})'
    assert not (tmp_path / "pwned").exists()


def test_shell_eval_of_a_bad_file_fails_instead_of_exporting_nothing(tmp_path: Path) -> None:
    path = tmp_path / "env.local"
    path.write_text("NOT VALID\n")
    script = f'eval "$({sys.executable} -m dbtools.envfile {path})" && echo reached'
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and "reached" not in done.stdout
    assert "error: " in done.stderr and "line 1" in done.stderr


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


def test_command_line_keeps_shell_variables_unless_override(tmp_path: Path) -> None:
    path = tmp_path / "env.local"
    path.write_text("A=from_file\nB=from_file\n")
    script = (
        f'A=from_shell; export A; eval "$({sys.executable} -m dbtools.envfile {path})"; printf "%s " "$A" "$B"; '
        f'eval "$({sys.executable} -m dbtools.envfile --override {path})"; printf "%s" "$A"'
    )
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout == "from_shell from_file from_file"
