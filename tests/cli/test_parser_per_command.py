"""A run builds only the subparser of its command; what it parses is what the full parser parses."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from dbtools import cli
from dbtools.errors import UsageError


def full_parse(argv: list[str]) -> dict[str, object] | str:
    try:
        return vars(cli.build_parser().parse_args(argv))
    except UsageError as exc:
        return exc.message


def run_parse(argv: list[str]) -> dict[str, object] | str:
    try:
        return vars(cli.parse_args(argv))
    except UsageError as exc:
        return exc.message


def test_every_command_of_the_full_parser_is_known() -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == set(cli._COMMANDS)


@pytest.mark.parametrize(
    "argv",
    [
        ["migrate", "--db", "postgres", "--to", "3"],
        ["--migrations-dir", "x", "status", "--json"],
        ["--migrations-dir", "status", "migrate"],  # an option's value that names another command
        ["--migrations-dir", "status", "status"],
        ["rollback", "--steps", "1", "--db", "redis"],
        ["rollback", "--steps", "0"],
        ["rollback"],
        ["migrate", "--to", "junk"],
        ["new", "--db", "postgres", "add users"],
        ["backup", "--to", "dir"],
        ["adopt", "--from", "dbmate", "--db", "postgres"],
        ["adopt", "--from", "nothing"],
        ["migrat"],
        ["seed", "--scale", "bogus"],
        [],
    ],
)
def test_a_run_parses_as_the_full_parser_does(argv: list[str]) -> None:
    assert run_parse(argv) == full_parse(argv)


def loaded_by_parsing(argv: list[str], modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a new interpreter has loaded once `cli.parse_args(argv)` returned."""
    code = (
        f"import json, sys; from dbtools import cli; cli.parse_args({argv!r}); "
        f"print(json.dumps(sorted(m for m in {modules!r} if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names: list[str] = json.loads(done.stdout)
    return names


def test_a_run_imports_nothing_for_the_commands_it_does_not_run() -> None:
    others = ("dbtools.adopt", "dbtools.cli_backup", "dbtools.cli_args", "dbtools.cli_tools", "dbtools.cli_status")
    assert loaded_by_parsing(["migrate", "--db", "postgres"], (*others, "dbtools.upkeep", "shutil")) == []


def test_help_at_the_top_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["--help", "migrate"])
    listing = capsys.readouterr().out
    assert all(command in listing for command in cli._COMMANDS)
