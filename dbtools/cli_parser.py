"""The command line's argparse parser: built from the commands as data (`cli_commands`, `cli_args`,
`cli.OWN_COMMANDS`), for `--help`, errors and every command line `cli_quick` does not read itself.

Imported only when needed: argparse brings gettext and locale, a tenth of a no-op run (issue 18).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from dbtools import __version__
from dbtools.cli import BACKUP_COMMANDS, COMMANDS, EPILOG, declared, shared_options
from dbtools.cli_commands import SUPPRESS, add_command, add_option
from dbtools.errors import UsageError

assert SUPPRESS == argparse.SUPPRESS  # the data spells argparse's marker without importing argparse


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help lines that always say what an option defaults to, and which options are required."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        # argparse makes a formatter for every add_argument; its own default width imports shutil (and the
        # compression modules shutil imports) on every run, for help text that is rarely printed
        width = _terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.required and action.option_strings and "required" not in text:
            return f"{text} (required)"
        shown = action.default not in (None, False, argparse.SUPPRESS) and "default" not in text
        if shown and action.option_strings and action.nargs != 0:
            return f"{text} (default: %(default)s)"
        return text


def _terminal_columns() -> int:
    """`shutil.get_terminal_size().columns`, without importing shutil: $COLUMNS, else the terminal's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # one line and exit 2, as for every usage error
        raise UsageError(message, hint=f"see `{self.prog} --help`")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (also used to render `--help`). With `command`, only that command's subparser is
    built: all a run needs (building every one, and importing what `adopt --from` lists, costs about as much
    as a no-op run's own work)."""
    shared: dict[str, argparse.ArgumentParser] = {}
    for key, options in shared_options().items():
        shared[key] = _Parser(add_help=False)
        for each in options:
            add_option(shared[key], each)

    parser = _Parser(
        prog="dbtools",
        description="Versioned migrations for ClickHouse, PostgreSQL, MongoDB and Redis.",
        epilog=EPILOG,
        parents=[shared["common"]],
    )
    parser.add_argument("--version", action="version", version=f"dbtools {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    for name in COMMANDS[: -len(BACKUP_COMMANDS)]:  # in listing order
        if command in (None, name):
            add_command(sub, name, declared(name), shared)

    if command in (None, *BACKUP_COMMANDS):
        from dbtools.cli_backup import add_commands

        add_commands(sub, [shared["common"], shared["stores"]])

    for listed in sub._choices_actions:  # `COMMAND --help` opens with the line `--help` lists it with
        chosen = sub.choices[listed.dest]
        chosen.description = chosen.description or listed.help
    return parser


def parse_args(tokens: Sequence[str]) -> argparse.Namespace:
    """`tokens` parsed by a parser holding only the command they name, or, when that does not apply (help
    asked for at the top, no command, or a parse error), by the full parser: the same result either way."""
    tokens = list(tokens)
    command = _named_command(tokens)
    if command is not None:
        try:
            return build_parser(command).parse_args(tokens)
        except UsageError:
            pass  # say it as the full parser would (an option's value may have looked like a command)
    return build_parser().parse_args(tokens)


def _named_command(tokens: list[str]) -> str | None:
    """The first token naming a command, unless a top-level --help or --version (or an abbreviation of
    them) comes before it."""
    for token in tokens:
        if token in COMMANDS:
            return token
        if token == "-h" or (len(token) > 2 and ("--help".startswith(token) or "--version".startswith(token))):
            return None
    return None


def options_taking_values(command: str) -> set[str]:
    """The option strings of `command` that take a value (`--to`, `--lock-timeout`), for fronts that pass
    flags through (migrations/migrate.py) and must tell a flag's value from a store name."""
    parser = build_parser(command)
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        option for action in commands.choices[command]._actions if action.nargs != 0 for option in action.option_strings
    }
