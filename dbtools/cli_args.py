"""The arguments of every command but migrate and status, added to the parser only when that command
is named (or for the full `--help`): `cli.build_parser` calls `ADD[name]` in listing order.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from dbtools.cli import SEED, STEPS, VERSION, _command
from dbtools.values import argument

Parent = argparse.ArgumentParser


def add_rollback(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`rollback`'s arguments."""
    writers = [common, stores, locking]
    p = _command(sub, "rollback", "revert applied migrations with their down sections, newest first", writers)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--steps",
        type=argument(STEPS),
        metavar="N",
        help="revert the last N applied migrations (this or --to is required)",
    )
    group.add_argument(
        "--to",
        type=argument(VERSION),
        metavar="VERSION",
        help="revert every migration above VERSION (this or --steps is required)",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be reverted, change nothing")


def add_validate(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`validate`'s arguments."""
    p = _command(sub, "validate", "check that files and history agree (exit 1 if not)", [common, stores])
    p.add_argument("--allow-out-of-order", action="store_true", help="accept pending versions below the current one")


def add_baseline(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`baseline`'s arguments."""
    writers = [common, stores, locking]
    p = _command(
        sub,
        "baseline",
        "adopt an existing database: record migrations up to VERSION as applied without running them",
        writers,
    )
    p.add_argument(
        "--version",
        type=argument(VERSION),
        required=True,
        metavar="VERSION",
        dest="baseline_version",
        help="the version the existing database corresponds to",
    )


def add_repair(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`repair`'s arguments."""
    writers = [common, stores, locking]
    _command(
        sub,
        "repair",
        "accept edited files, clear failed rows, forget rows whose file is gone (history only: the database "
        "keeps what was applied)",
        writers,
    )


def add_unlock(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`unlock`'s arguments."""
    p = _command(sub, "unlock", "break a migration lock left by a dead or stuck run", [common, stores, events])
    p.add_argument("--force", action="store_true", required=True, help="confirms breaking the lock")


def add_check(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`check`'s arguments."""
    _command(
        sub,
        "check",
        "for stores with a declared key layout (Redis: migrations/redis/layout.toml): check live keys against it "
        "(exit 1 on violations)",
        [common, stores, events],
    )


def add_seed(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`seed`'s arguments."""
    p = _command(
        sub, "seed", "load deterministic development data (a store already seeded is skipped)", [common, stores]
    )
    p.add_argument("--seed", type=argument(SEED), default=42, help="random seed: the same seed gives the same data")
    p.add_argument("--scale", choices=["small", "medium", "large"], default="small", help="how much data")
    p.add_argument("--until", metavar="DATE", help="UTC date market data ends at, YYYY-MM-DD (default: today)")
    p.add_argument("--reset", action="store_true", help="wipe the seeded tables first, then load")
    p.add_argument("--json", action="store_true", help="one JSON object per event instead of text")


def add_verify(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`verify`'s arguments."""
    p = _command(
        sub,
        "verify",
        "migration tests on a throwaway server: from scratch, on the previous release, round trip",
        [common, stores],
    )
    p.add_argument("--previous", metavar="REF", help="git ref of the previous release (default: newest v* tag)")
    p.add_argument(
        "--provider",
        metavar="KIND",
        help="throwaway server: docker, local, embedded, or a store's own (mongodb: secantusdb); "
        "default: $DBTOOLS_SANDBOX, else the first that works here",
    )
    p.add_argument(
        "--skipped-file",
        metavar="FILE",
        help="when no store could get a sandbox, write the reason here and exit 0, for nox to turn into a "
        "skip (default: exit 1)",
    )


def add_schema_docs(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`schema-docs`'s arguments."""
    p = _command(
        sub,
        "schema-docs",
        "write docs/schema.md from live catalogs of freshly migrated throwaway servers",
        [common, stores],
    )
    p.add_argument("--output", default="docs/schema.md", metavar="PATH", help="where to write")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file is out of date")


def add_new(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`new`'s arguments."""
    p = _command(sub, "new", "create the next-numbered migration file from the store's template", [common])
    p.add_argument("description", help="what the migration does, e.g. 'add users table' (becomes the file name)")
    p.add_argument("--db", required=True, metavar="STORE", help="the store to write the migration for")
    p.add_argument("--ext", help="file type where the store runs several: py or js (default: the store's first)")


def add_adopt(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`adopt`'s arguments."""
    p = sub.add_parser(
        "adopt",
        parents=[common, stores, locking],
        help="switch from another tool: record its history as ours (or, with --files, lay its files) "
        "without running anything",
    )
    p.add_argument(
        "--from",
        dest="tool",
        required=True,
        choices=_adopt_tools(),
        help="the tool whose files or history to adopt",
    )
    p.add_argument(
        "--files",
        metavar="DIR",
        help="lay the tool's migration files from DIR into migrations/<store>/ (default: adopt its history instead)",
    )
    p.add_argument(
        "--table",
        metavar="NAME",
        help="the tool's history table or collection (default: the tool's own name for it)",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be recorded or laid, change nothing")
    p.add_argument("--skip-repeatable", action="store_true", help="leave Flyway's repeatable (R__) migrations out")


def add_lint(sub: Any, common: Parent, stores: Parent, events: Parent, locking: Parent) -> None:
    """`lint`'s arguments."""
    p = _command(sub, "lint", "flag risky migrations before they run (exit 1 on error)", [common, stores])
    p.add_argument("--json", action="store_true", help="print the findings as one JSON list")


def _adopt_tools() -> list[str]:
    from dbtools.adopt import TOOLS

    return list(TOOLS)


ADD: dict[str, Callable[[Any, Parent, Parent, Parent, Parent], None]] = {
    "rollback": add_rollback,
    "validate": add_validate,
    "baseline": add_baseline,
    "repair": add_repair,
    "unlock": add_unlock,
    "check": add_check,
    "seed": add_seed,
    "verify": add_verify,
    "schema-docs": add_schema_docs,
    "new": add_new,
    "adopt": add_adopt,
    "lint": add_lint,
}
