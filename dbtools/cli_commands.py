"""Commands as data for the CLI's parser: a `Command` holds its help line, the shared option sets it takes
and its own `Option`s (some in a `OneOf` group); `add_command` turns one into its argparse subparser."""

from __future__ import annotations

from collections.abc import Callable, Mapping

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from dbtools.records import NamedTuple

if TYPE_CHECKING:  # argparse is imported only where a parser is built (cli_parser): not on a plain run's path
    import argparse

SUPPRESS = "==SUPPRESS=="  # argparse.SUPPRESS (checked in cli_parser): a default that leaves the option unset


class Option(NamedTuple):
    """One `add_argument` call: the flags (or a positional's name) and the keywords. `choices_from`, when set,
    gives `choices` as the parser is built, so a run of another command imports nothing for them."""

    flags: tuple[str, ...]
    keywords: Mapping[str, Any]
    choices_from: Callable[[], list[str]] | None = None


def option(*flags: str, choices_from: Callable[[], list[str]] | None = None, **keywords: Any) -> Option:
    """An `Option`, written as the `add_argument` call it stands for."""
    return Option(flags, keywords, choices_from)


def switch(flag: str, help: str, **keywords: Any) -> Option:
    """An on/off option (`store_true`): off unless given."""
    return option(flag, action="store_true", help=help, **keywords)


class OneOf(NamedTuple):
    """Options of which at most one may be given (with `required`, exactly one)."""

    options: tuple[Option, ...]
    required: bool = False


class Command(NamedTuple):
    """A command as data: its line in `--help`, the shared option sets it takes (keys of the `shared`
    mapping `build_parser` makes: common, stores, events, locking) and its own arguments, in help order."""

    help: str
    shared: tuple[str, ...]
    arguments: tuple[Option | OneOf, ...] = ()


READS = ("common", "stores")  # the shared option sets of a command that reads a store
WRITES = ("common", "stores", "locking")  # ... and of one that writes under the migration lock


def add_command(sub: Any, name: str, command: Command, shared: Mapping[str, argparse.ArgumentParser]) -> None:
    """Add `command` to the subparsers `sub` as `name`."""
    parser = sub.add_parser(name, help=command.help, parents=[shared[key] for key in command.shared])
    for item in command.arguments:
        if isinstance(item, OneOf):
            group = parser.add_mutually_exclusive_group(required=item.required)
            for each in item.options:
                add_option(group, each)
        else:
            add_option(parser, item)


def add_option(container: Any, declared: Option) -> None:
    """`declared` added to a parser or group (its `add_argument` call)."""
    import argparse

    keywords = dict(declared.keywords)
    if keywords.get("default") == SUPPRESS:  # argparse tells its marker by identity
        keywords["default"] = argparse.SUPPRESS
    if declared.choices_from is not None:
        keywords["choices"] = declared.choices_from()
    container.add_argument(*declared.flags, **keywords)
