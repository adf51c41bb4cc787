"""A plain command line read from the commands as data, without argparse (issue 18: argparse, gettext and
locale, with building and running the parser, were a tenth of a no-op run).

`read` takes only what it can read with no doubt: the common options, then a data-declared command without
positional arguments, then that command's options, each option spelt out in full (`--db x` or `--db=x`),
every value one that cannot be taken for an option. Anything else - help, `--version`, an abbreviation, an
unknown or repeated-exclusive option, a value starting with `-`, a value its type or choices refuse, a
missing required option - is None, and argparse parses it (and says what is wrong). What it returns is
what argparse's parser makes of the same tokens, attribute for attribute (tests/cli/test_quick_parse.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dbtools import cli
from dbtools.cli_commands import SUPPRESS, OneOf, Option

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any

_ACTIONS = (None, "store", "store_true", "store_const", "append")
_KEYWORDS = {"action", "dest", "default", "type", "const", "metavar", "help", "required", "choices"}


class _Spec:
    """One option as argparse reads it: where its value goes, what it takes, its default."""

    def __init__(self, declared: Option, group: int | None) -> None:
        keywords = dict(declared.keywords)
        if not set(keywords) <= _KEYWORDS or keywords.get("action") not in _ACTIONS:
            raise LookupError("an option this reader does not know")  # the command is left to argparse
        if declared.choices_from is not None:
            keywords["choices"] = declared.choices_from()
        self.action = keywords.get("action") or "store"
        self.dest = keywords.get("dest") or declared.flags[0].lstrip("-").replace("-", "_")
        self.default = keywords.get("default", False if self.action == "store_true" else None)
        self.takes_value = self.action in ("store", "append")
        self.type = keywords.get("type")
        self.const = keywords.get("const")
        self.choices = keywords.get("choices")
        self.required = bool(keywords.get("required"))
        self.group = group


def _specs(items: Iterable[Option | OneOf], groups: list[bool]) -> dict[str, _Spec] | None:
    """Flag -> spec of `items`; None when one is positional or not a plain long option."""
    found: dict[str, _Spec] = {}
    for item in items:
        group = None
        if isinstance(item, OneOf):
            group = len(groups)
            groups.append(item.required)
            members: tuple[Option, ...] = item.options
        else:
            members = (item,)
        for each in members:
            if not all(flag.startswith("--") and len(flag) > 2 for flag in each.flags):
                return None
            spec = _Spec(each, group)
            for flag in each.flags:
                found[flag] = spec
    return found


def _command_specs(name: str) -> tuple[dict[str, _Spec], list[bool]] | None:
    if name in cli.BACKUP_COMMANDS or name not in cli.COMMANDS:
        return None
    command = cli.declared(name)
    shared = cli.shared_options()
    groups: list[bool] = []
    try:
        specs = _specs([each for key in command.shared for each in shared[key]] + list(command.arguments), groups)
    except LookupError:
        return None
    return (specs, groups) if specs is not None else None


def _take(specs: Mapping[str, _Spec], tokens: list[str], at: int, into: dict[str, Any], given: list[_Spec]) -> int:
    """Read the option at `tokens[at]` into `into`; the index after it, or -1 when it is not plain."""
    token = tokens[at]
    flag, equals, inline = token.partition("=")
    spec = specs.get(flag)
    if spec is None or not token.startswith("--"):
        return -1
    if not spec.takes_value:
        if equals:
            return -1
        into[spec.dest] = True if spec.action == "store_true" else spec.const
        given.append(spec)
        return at + 1
    if equals:
        raw, after = inline, at + 1
    elif at + 1 < len(tokens):
        raw, after = tokens[at + 1], at + 2
    else:
        return -1
    if raw.startswith("-"):
        return -1  # argparse may read it as an option, a negative number, ...: left to it
    value: Any = raw
    if spec.type is not None:
        try:
            value = spec.type(raw)
        except Exception:
            return -1
    if (spec.choices is not None and value not in spec.choices) or value is spec.default:
        return -1
    if spec.action == "append":
        into[spec.dest] = [*(into.get(spec.dest) or []), value]
    else:
        into[spec.dest] = value
    given.append(spec)
    return after


def read(tokens: list[str]) -> dict[str, Any] | None:
    """The attributes argparse's parser gives `tokens`, when they are a plain command line; else None."""
    top = _specs(cli.shared_options()["common"], []) or {}
    found: dict[str, Any] = {}
    at = 0
    while at < len(tokens) and tokens[at] not in cli.COMMANDS:
        at = _take(top, tokens, at, found, [])
        if at < 0:
            return None
    if at >= len(tokens):
        return None
    command = tokens[at]
    known = _command_specs(command)
    if known is None:
        return None
    specs, groups = known
    values: dict[str, Any] = {}
    for spec in specs.values():
        if spec.default != SUPPRESS and spec.dest not in values:
            values[spec.dest] = spec.default
    given: list[_Spec] = []
    at += 1
    while at < len(tokens):
        at = _take(specs, tokens, at, values, given)
        if at < 0:
            return None
    for spec in set(specs.values()):
        if spec.required and spec not in given:
            return None
        if isinstance(spec.default, str) and spec.type is not None and spec not in given:
            return None  # argparse would convert the default: left to it
    for group, required in enumerate(groups):
        chosen = {id(spec) for spec in given if spec.group == group}
        if len(chosen) > 1 or (required and not chosen):
            return None
    return {**found, "command": command, **values}
