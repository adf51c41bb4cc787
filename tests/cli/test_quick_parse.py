"""A plain command line is read without argparse (`cli_quick`, issue 18); what it reads is what argparse's
parser reads, attribute for attribute, and everything else is left to argparse."""

from __future__ import annotations

import argparse
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbtools import cli
from dbtools.cli_commands import OneOf, Option
from dbtools.cli_quick import read
from dbtools.errors import UsageError
from tests.cli.test_parser_per_command import loaded_by_parsing

DECLARED = [name for name in cli.COMMANDS if name not in cli.BACKUP_COMMANDS]
VALUES = ["postgres", "redis,postgres", "", "3", "0", "-1", "1.5", "junk", "migrate", "status", "--json", "small",
          "dbmate", "x=y", "a b", "20240101", "9" * 25, "²", " 7 "]  # fmt: skip
ODD = ["-h", "--help", "--version", "--", "--d", "--dr", "--lock", "-x", "extra", "--no-such", "--db=", "--json=1"]


def _flags(command: str) -> list[str]:
    """Every option string `command` takes (its shared sets and its own), as declared."""
    shared = cli.shared_options()
    items: list[Any] = [o for key in cli.declared(command).shared for o in shared[key]]
    items += cli.declared(command).arguments
    options = [o for item in items for o in (item.options if isinstance(item, OneOf) else (item,))]
    return [flag for o in options if isinstance(o, Option) for flag in o.flags]


def full(tokens: list[str]) -> dict[str, Any] | None:
    try:
        return vars(cli.build_parser().parse_args(tokens))
    except (UsageError, SystemExit):
        return None


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(DECLARED))
    common = [f for f in _flags("migrate") if f in ("--migrations-dir", "--debug", "--env-file", "--no-env-file")]
    flags = _flags(command)
    word = st.one_of(
        st.sampled_from(flags),
        st.builds(lambda f, v: f"{f}={v}", st.sampled_from(flags), st.sampled_from(VALUES)),
        st.sampled_from(VALUES),
        st.sampled_from(ODD),
    )
    before = draw(st.lists(st.one_of(st.sampled_from(common), st.sampled_from(VALUES[:3])), max_size=3))
    return [*before, command, *draw(st.lists(word, max_size=7))]


@settings(max_examples=800, deadline=None)  # every option form is also tried one by one below
@given(command_lines())
def test_what_the_quick_reader_reads_is_what_argparse_reads(tokens: list[str]) -> None:
    quick = read(tokens)
    if quick is not None:
        assert quick == full(tokens), tokens


@pytest.mark.parametrize("command", DECLARED)
def test_every_plain_form_of_every_option_reads_as_argparse_reads_it(command: str) -> None:
    """Each option alone, spelt `--opt value`, `--opt=value` and twice, with every value above."""
    for flag in _flags(command):
        for value in VALUES:
            for tokens in (
                [command, flag],
                [command, flag, value],
                [command, f"{flag}={value}"],
                [command, flag, value, flag, value],
                ["--migrations-dir", value, command, flag, value, "--migrations-dir", "other"],
            ):
                quick = read(tokens)
                assert quick is None or quick == full(tokens), tokens


@pytest.mark.parametrize(
    "tokens",
    [
        ["migrate", "--db", "postgres"],
        ["--migrations-dir", "m", "migrate", "--db", "postgres"],
        ["migrate", "--db=postgres", "--to", "3", "--lock-timeout", "2.5", "--json"],
        ["migrate", "--db", "postgres", "--resume", "--rerun-step"],
        ["status", "--db", "postgres", "--json", "--exit-code"],
        ["--debug", "status", "--db", "redis,postgres", "--db", "mongodb"],
        ["--no-env-file", "validate", "--db", "postgres"],
        ["rollback", "--steps", "1", "--db", "postgres"],
    ],
)
def test_the_runs_people_and_scripts_type_are_read_without_argparse(tokens: list[str]) -> None:
    quick = read(tokens)
    assert quick is not None and quick == full(tokens)


@pytest.mark.parametrize(
    "tokens",
    [
        ["migrate", "--dry", "--db", "postgres"],  # an abbreviation argparse accepts
        ["migrate", "--help"],
        ["--help", "migrate"],
        ["--version"],
        ["migrate", "--to", "junk"],
        ["migrate", "--rerun-step", "--skip-step"],
        ["rollback", "--db", "postgres"],  # --steps or --to is required
        ["new", "--db", "postgres", "add users"],  # a positional argument
        ["backup", "--to", "dir"],  # declared by code, not data
        ["migrate", "--db", "-x"],
        [],
    ],
)
def test_anything_unusual_is_left_to_argparse(tokens: list[str]) -> None:
    assert read(tokens) is None


@pytest.mark.parametrize("command", cli.COMMANDS)
def test_a_commands_own_parser_says_what_the_full_parser_says(command: str) -> None:
    """The parser built for one command (every run that argparse reads) prints the same help and usage."""

    def subparser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        chosen: argparse.ArgumentParser = commands.choices[command]
        return chosen

    os.environ.setdefault("COLUMNS", "100")
    lazy, whole = subparser(cli.build_parser(command)), subparser(cli.build_parser())
    assert lazy.format_help() == whole.format_help()
    assert lazy.format_usage() == whole.format_usage()


def test_a_plain_migrate_run_imports_no_argparse() -> None:
    argv = ["--migrations-dir", "m", "migrate", "--db", "postgres"]
    assert loaded_by_parsing(argv, ("argparse", "gettext", "locale", "dbtools.cli_parser")) == []
