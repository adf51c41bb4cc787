"""The migration linter: flags risky migrations before they run (`python -m dbtools lint`, `invoke lint`).

Pure: reads files (and runs the `squawk` program for PostgreSQL), talks to no store. Rules are
listed in `findings.RULES` (plus `squawk/<rule>` for squawk's); the common checks run for every store,
and each backend declares its own (`lint_checks()`), so a store declaring none gets the common ones only.

Silencing, per file: `-- dbtools:lint-ignore RULE_ID[,RULE_ID] reason in words` (`#` in scripts),
anywhere in the file (or its separate .down file). The reason must be at least two words: an
ignore is a decision someone will reread. A malformed ignore is itself an error and silences nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from dbtools import backends
from dbtools.errors import DbtoolsError, UsageError
from dbtools.lint import rules
from dbtools.lint.findings import RULES, SQUAWK_PREFIX, Finding, Rule, finding
from dbtools.migrations import SCRIPT_KINDS, Migration, discover, normalise

__all__ = ["RULES", "Finding", "Linted", "Rule", "lint", "lint_stores"]

Check = Callable[[Migration, Sequence[Migration]], Iterable[Finding]]

COMMON_CHECKS: tuple[Check, ...] = (rules.unreadable, rules.missing_down, rules.file_name)
_IGNORE = re.compile(r"^[ \t]*(?:--|#|//)[ \t]*dbtools:lint-ignore\b(?P<arg>[^\n]*)$", re.MULTILINE)
_WORD = re.compile(r"[^\W\d_]{2,}")


def lint(store: str, migrations_dir: str | os.PathLike[str] | None = None) -> list[Finding]:
    """Every finding for `store`'s migrations under `migrations_dir`, by file and line."""
    from dbtools.runner import migrations_root

    migrations = discover(migrations_root(migrations_dir) / store, store, _extensions(store))
    checks = COMMON_CHECKS + store_checks(store)
    found: list[Finding] = []
    for index, migration in enumerate(migrations):
        raw = [f for check in checks for f in check(migration, migrations[:index])]
        found += _apply_ignores(migration, raw)
    return sorted(found, key=lambda f: (f.path, f.line, f.rule))


def store_checks(store: str) -> tuple[Check, ...]:
    """The checks the store's backend declares (`lint_checks()`); none for a store declaring none."""
    from dbtools.backends.base import LintChecked

    try:
        cls = backends.load(store)
    except UsageError:
        if store in backends.registry():  # registered, not built yet: the common checks only
            return ()
        raise
    return tuple(cls.lint_checks()) if isinstance(cls, LintChecked) else ()


def _extensions(store: str) -> tuple[str, ...]:
    """The file types the store's backend runs; every known type for a registered store not built yet."""
    try:
        return tuple(backends.load(store).extensions)
    except UsageError:
        if store in backends.registry():  # its files can still be linted for names and down sections
            return ("sql", *SCRIPT_KINDS)
        raise


@dataclass(frozen=True)
class Ignore:
    """One `dbtools:lint-ignore` comment."""

    path: str
    line: int
    rules: tuple[str, ...]
    reason: str


def _ignores(m: Migration) -> Iterator[Ignore]:
    for path in (m.path, m.down_path):
        if path is None:
            continue
        text = normalise(path.read_text(encoding="utf-8"))
        for match in _IGNORE.finditer(text):
            arg = match["arg"].strip()
            ids, _, reason = arg.partition(" ")
            rule_ids = tuple(r.strip().rstrip(":") for r in ids.split(",") if r.strip().rstrip(":"))
            yield Ignore(str(path), text.count("\n", 0, match.start()) + 1, rule_ids, reason.strip(" :-\t"))


def _apply_ignores(m: Migration, raw: list[Finding]) -> list[Finding]:
    """Drop findings a well-formed ignore covers; add findings about the ignores themselves."""
    kept = list(raw)
    meta: list[Finding] = []
    squawk_ran = not any(f.rule == "squawk-unavailable" for f in raw)
    for ignore in _ignores(m):
        problem = _ignore_problem(ignore)
        if problem:
            meta.append(finding("invalid-ignore", m.store, ignore.path, ignore.line, problem[0], problem[1]))
            continue
        for rule_id in ignore.rules:
            if rule_id not in RULES and not rule_id.startswith(SQUAWK_PREFIX):
                meta.append(
                    finding(
                        "ignore-unknown-rule",
                        m.store,
                        ignore.path,
                        ignore.line,
                        f"lint-ignore names {rule_id!r}, which is not a rule, so it silences nothing",
                        f"rules: {', '.join(r for r, rule in RULES.items() if rule.ignorable)}, squawk/<squawk rule>",
                    )
                )
                continue
            before = len(kept)
            kept = [f for f in kept if f.rule != rule_id]
            if len(kept) == before and (squawk_ran or not rule_id.startswith(SQUAWK_PREFIX)):
                meta.append(
                    finding(
                        "unused-ignore",
                        m.store,
                        ignore.path,
                        ignore.line,
                        f"lint-ignore {rule_id} silences nothing in this file",
                        "delete the comment, so a future problem of that kind is not hidden",
                    )
                )
    return kept + meta


def _ignore_problem(ignore: Ignore) -> tuple[str, str] | None:
    """(message, hint) when an ignore comment is malformed, else None."""
    example = "-- dbtools:lint-ignore missing-down the data it loads cannot be unloaded"
    if not ignore.rules:
        return "lint-ignore names no rule", f"write the rule id and the reason, e.g. `{example}`"
    blocked = [r for r in ignore.rules if r in RULES and not RULES[r].ignorable]
    if blocked:
        return f"{', '.join(blocked)} cannot be silenced", "fix the lint-ignore comment itself"
    if len(_WORD.findall(ignore.reason)) < 2:
        return (
            f"lint-ignore {','.join(ignore.rules)} gives no reason, so it silences nothing",
            f"say why the rule does not apply to this file, in a few words, e.g. `{example}`",
        )
    return None


@dataclass(frozen=True)
class Linted:
    """The findings for several stores, and the errors of stores whose folder could not be read."""

    stores: tuple[str, ...]
    findings: list[Finding]
    problems: list[DbtoolsError]

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors

    @property
    def exit_code(self) -> int:
        """1 when any finding is an error; a store that could not be read counts with its own code."""
        return max([p.exit_code for p in self.problems] + [1 if self.errors else 0])


def lint_stores(stores: Sequence[str], migrations_dir: str | os.PathLike[str] | None = None) -> Linted:
    """Lint `stores`; a store whose folder cannot be read is one problem, the others are still linted."""
    found: list[Finding] = []
    problems: list[DbtoolsError] = []
    for store in stores:
        try:
            found += lint(store, migrations_dir)
        except DbtoolsError as exc:
            problems.append(exc)
    return Linted(tuple(stores), found, problems)
