"""The arguments of every command but migrate, status and the backup commands, as data: `cli.build_parser`
adds a command from `COMMANDS` only when that command is named (or for the full `--help`).
"""

from __future__ import annotations

from dbtools.cli import SEED, STEPS, VERSION, resume_options
from dbtools.cli_commands import READS, WRITES, Command, OneOf, option, switch
from dbtools.values import argument


def _adopt_tools() -> list[str]:
    from dbtools.adopt import TOOLS

    return list(TOOLS)


COMMANDS: dict[str, Command] = {
    "rollback": Command(
        "revert applied migrations with their down sections, newest first",
        WRITES,
        (
            OneOf(
                (
                    option(
                        "--steps",
                        type=argument(STEPS),
                        metavar="N",
                        help="revert the last N applied migrations (this or --to is required)",
                    ),
                    option(
                        "--to",
                        type=argument(VERSION),
                        metavar="VERSION",
                        help="revert every migration above VERSION (this or --steps is required)",
                    ),
                ),
                required=True,
            ),
            switch("--dry-run", "show what would be reverted, change nothing"),
            *resume_options(
                "a rollback that stopped part-way in a down section run without a transaction (that version "
                "counts as the first of --steps)"
            ),
        ),
    ),
    "validate": Command(
        "check that files and history agree (exit 1 if not)",
        READS,
        (switch("--allow-out-of-order", "accept pending versions below the current one"),),
    ),
    "baseline": Command(
        "adopt an existing database: record migrations up to VERSION as applied without running them",
        WRITES,
        (
            option(
                "--version",
                type=argument(VERSION),
                required=True,
                metavar="VERSION",
                dest="baseline_version",
                help="the version the existing database corresponds to",
            ),
        ),
    ),
    "repair": Command(
        "accept edited files, clear failed rows (a rollback's unfinished row too: the version then counts as not "
        "applied), forget rows whose file is gone (history only: the database keeps what was applied)",
        WRITES,
    ),
    "unlock": Command(
        "break a migration lock left by a dead or stuck run",
        (*READS, "events"),
        (switch("--force", "confirms breaking the lock", required=True),),
    ),
    "check": Command(
        "for stores with a declared key layout (Redis: migrations/redis/layout.toml): check live keys against it "
        "(exit 1 on violations)",
        (*READS, "events"),
    ),
    "seed": Command(
        "load deterministic development data (a store already seeded is skipped)",
        READS,
        (
            option("--seed", type=argument(SEED), default=42, help="random seed: the same seed gives the same data"),
            option("--scale", choices=["small", "medium", "large"], default="small", help="how much data"),
            option("--until", metavar="DATE", help="UTC date market data ends at, YYYY-MM-DD (default: today)"),
            switch("--reset", "wipe the seeded tables first, then load"),
            switch("--json", "one JSON object per event instead of text"),
        ),
    ),
    "verify": Command(
        "migration tests on a throwaway server: from scratch, on the previous release, round trip",
        READS,
        (
            option("--previous", metavar="REF", help="git ref of the previous release (default: newest v* tag)"),
            option(
                "--provider",
                metavar="KIND",
                help="throwaway server: docker, local, embedded, or a store's own (mongodb: secantusdb); "
                "default: $DBTOOLS_SANDBOX, else the first that works here",
            ),
            option(
                "--skipped-file",
                metavar="FILE",
                help="when no store could get a sandbox, write the reason here and exit 0, for nox to turn into a "
                "skip (default: exit 1)",
            ),
        ),
    ),
    "schema-docs": Command(
        "write docs/schema.md from live catalogs of freshly migrated throwaway servers",
        READS,
        (
            option("--output", default="docs/schema.md", metavar="PATH", help="where to write"),
            switch("--check", "write nothing; exit 1 if the file is out of date"),
        ),
    ),
    "new": Command(
        "create the next-numbered migration file from the store's template",
        ("common",),
        (
            option("description", help="what the migration does, e.g. 'add users table' (becomes the file name)"),
            option("--db", required=True, metavar="STORE", help="the store to write the migration for"),
            option("--ext", help="file type where the store runs several: py or js (default: the store's first)"),
        ),
    ),
    "adopt": Command(
        "switch from another tool: record its history as ours (or, with --files, lay its files) "
        "without running anything",
        WRITES,
        (
            option(
                "--from",
                dest="tool",
                required=True,
                choices_from=_adopt_tools,
                help="the tool whose files or history to adopt",
            ),
            option(
                "--files",
                metavar="DIR",
                help="lay the tool's migration files from DIR into migrations/<store>/ "
                "(default: adopt its history instead)",
            ),
            option(
                "--table",
                metavar="NAME",
                help="the tool's history table or collection (default: the tool's own name for it)",
            ),
            switch("--dry-run", "show what would be recorded or laid, change nothing"),
            switch("--skip-repeatable", "leave Flyway's repeatable (R__) migrations out"),
        ),
    ),
    "lint": Command(
        "flag risky migrations before they run (exit 1 on error)",
        READS,
        (switch("--json", "print the findings as one JSON list"),),
    ),
}
