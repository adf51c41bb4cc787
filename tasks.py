"""Invoke tasks: `invoke migrate --db postgres`, `invoke status`, ... - each one is a `python -m dbtools` command.

Every task turns its options into the command line's arguments and runs `dbtools.cli.main` in this
process, so a task checks its options exactly as the command does (numbers, choices), prints errors
the same way (`error:` / `hint:`, no traceback) and exits with the same code. Options are taken as
text and checked there: invoke's own int conversion ends in a traceback on `--seed abc`.
"""

from __future__ import annotations

from pathlib import Path

from invoke import Context, Exit, task

from dbtools import backends

ENV_FILE = Path(__file__).parent / ".env"  # the project's settings, as onboarding wrote them; the shell wins

DB_HELP = f"{backends.names_text()}; repeatable (default: every store with a migrations folder)"


def _dbtools(*argv: str | None) -> None:
    """Run `python -m dbtools ARGV...` in-process (None items are dropped); a non-zero exit ends the task."""
    from dbtools.cli import main

    code = main([arg for arg in argv if arg is not None], default_env_file=ENV_FILE)
    if code:
        raise Exit(code=code)


def _stores(db: list[str]) -> list[str]:
    return [arg for store in db for arg in ("--db", store)]


def _option(name: str, value: object) -> list[str]:
    """`--name value` when a value was given (invoke hands values over as typed on the command line)."""
    return [] if value is None else [name, str(value)]


def _flag(name: str, on: bool) -> list[str]:
    return [name] if on else []


def _resume(resume: bool, rerun_step: bool, skip_step: bool) -> list[str]:
    """`--resume` and its `--rerun-step` / `--skip-step` choice, as given (the command checks them)."""
    return [*_flag("--resume", resume), *_flag("--rerun-step", rerun_step), *_flag("--skip-step", skip_step)]


RESUME_HELP = {
    "rerun_step": "with --resume: run the statement/step the run stopped inside again from its start "
    "(implies --resume)",
    "skip_step": "with --resume: count the statement/step the run stopped inside as done, go on after it "
    "(implies --resume)",
}


@task(
    iterable=["db"],
    help={
        "db": DB_HELP,
        "to": "stop after this version number (default: apply all pending)",
        "dry_run": "show what would run, change nothing",
        "create_db": "create the database if it does not exist",
        "resume": "continue a migration that stopped half-way (one stopped inside a statement: add --rerun-step "
        "or --skip-step)",
        **RESUME_HELP,
        "allow_out_of_order": "apply pending versions below the current one",
        "lock_timeout": "seconds to wait for another run's lock, a number (default: 60)",
        "backup": "back the store up into this folder first (default: no backup)",
        "json": "one JSON object per event",
    },
)
def migrate(
    c: Context,
    db: list[str],
    to: str | None = None,
    dry_run: bool = False,
    create_db: bool = False,
    resume: bool = False,
    rerun_step: bool = False,
    skip_step: bool = False,
    allow_out_of_order: bool = False,
    lock_timeout: str | None = None,
    backup: str | None = None,
    json: bool = False,
) -> None:
    """Apply pending migrations in version order."""
    _dbtools(
        "migrate",
        *_stores(db),
        *_option("--to", to),
        *_flag("--dry-run", dry_run),
        *_flag("--create-db", create_db),
        *_resume(resume, rerun_step, skip_step),
        *_flag("--allow-out-of-order", allow_out_of_order),
        *_option("--lock-timeout", lock_timeout),
        *_option("--backup", backup),
        *_flag("--json", json),
    )


@task(
    iterable=["db"],
    help={
        "db": DB_HELP,
        "json": "one JSON object keyed by store",
        "exit_code": "exit 1 when anything is pending, failed, changed or missing",
    },
)
def status(c: Context, db: list[str], json: bool = False, exit_code: bool = False) -> None:
    """Where each store was read, its version, and what is pending, failed, changed or missing."""
    _dbtools("status", *_stores(db), *_flag("--json", json), *_flag("--exit-code", exit_code))


@task(
    iterable=["db"],
    help={
        "db": DB_HELP,
        "steps": "revert the last N applied migrations, a number (default: 1 when --to is not given)",
        "to": "revert every migration above this version number",
        "dry_run": "show what would be reverted, change nothing",
        "resume": "continue a rollback that stopped part-way in a down section run without a transaction (that "
        "version counts as the first of --steps; one stopped inside a step: add --rerun-step or --skip-step)",
        **RESUME_HELP,
    },
)
def rollback(
    c: Context,
    db: list[str],
    steps: str | None = None,
    to: str | None = None,
    dry_run: bool = False,
    resume: bool = False,
    rerun_step: bool = False,
    skip_step: bool = False,
) -> None:
    """Revert applied migrations with their down sections, newest first."""
    if steps is None and to is None:
        steps = "1"
    _dbtools(
        "rollback",
        *_stores(db),
        *_option("--steps", steps),
        *_option("--to", to),
        *_flag("--dry-run", dry_run),
        *_resume(resume, rerun_step, skip_step),
    )


@task(iterable=["db"], help={"db": DB_HELP})
def validate(c: Context, db: list[str]) -> None:
    """Check that files and history agree (fails on changed, missing, failed, out-of-order)."""
    _dbtools("validate", *_stores(db))


@task(iterable=["db"], help={"db": DB_HELP, "json": "print the findings as one JSON list"})
def lint(c: Context, db: list[str], json: bool = False) -> None:
    """Flag risky migrations before they run (fails on error-severity findings)."""
    _dbtools("lint", *_stores(db), *_flag("--json", json))


@task(
    help={
        "db": "the store to write the migration for (required)",
        "description": "what the migration does (required; becomes the file name)",
        "ext": "py or js where a store runs several (default: the store's first)",
    }
)
def new(c: Context, db: str | None = None, description: str | None = None, ext: str | None = None) -> None:
    """Create the next-numbered migration file from the store's template."""
    if description is None:
        _dbtools("new", *_option("--db", db))  # the command's own one-line error for the missing argument
    _dbtools("new", *_option("--db", db), *_option("--ext", ext), "--", str(description))


@task(
    iterable=["db"],
    help={
        "db": DB_HELP,
        "from_": "the tool to switch from: dbmate, flyway, golang-migrate, goose or migrate-mongo (required)",
        "files": "lay the tool's files from this folder into migrations/<store>/ (default: adopt its history)",
        "table": "the tool's history table or collection (default: the tool's own name for it)",
        "dry_run": "show what would be recorded or laid, change nothing",
        "skip_repeatable": "leave Flyway's repeatable (R__) migrations out",
    },
)
def adopt(
    c: Context,
    db: list[str],
    from_: str | None = None,
    files: str | None = None,
    table: str | None = None,
    dry_run: bool = False,
    skip_repeatable: bool = False,
) -> None:
    """Switch from another tool: record its history as applied (or lay its files) without running anything."""
    _dbtools(
        "adopt",
        *_stores(db),
        *_option("--from", from_),
        *_option("--files", files),
        *_option("--table", table),
        *_flag("--dry-run", dry_run),
        *_flag("--skip-repeatable", skip_repeatable),
    )


@task(iterable=["db"], help={"db": DB_HELP})
def repair(c: Context, db: list[str]) -> None:
    """Accept edited files, clear failed rows, forget rows whose file is gone (history only)."""
    _dbtools("repair", *_stores(db))


@task(
    iterable=["db"],
    help={
        "db": DB_HELP,
        "seed": "random seed, a number: the same seed gives the same data (default: 42)",
        "scale": "small, medium or large (default: small)",
        "until": "UTC date market data ends at, YYYY-MM-DD (default: today)",
        "reset": "wipe the seeded tables first, then load",
    },
)
def seed(
    c: Context,
    db: list[str],
    seed: str | None = None,
    scale: str | None = None,
    until: str | None = None,
    reset: bool = False,
) -> None:
    """Load deterministic development data into each store (skips stores already seeded)."""
    _dbtools(
        "seed",
        *_stores(db),
        *_option("--seed", seed),
        *_option("--scale", scale),
        *_option("--until", until),
        *_flag("--reset", reset),
    )


@task(
    iterable=["db"],
    help={
        "db": DB_HELP,
        "previous": "git ref of the previous release (default: newest v* tag)",
        "provider": "docker, local or embedded (default: the first that works here)",
    },
)
def verify(c: Context, db: list[str], previous: str | None = None, provider: str | None = None) -> None:
    """Migration tests on throwaway servers: from scratch, on top of the previous release, round trip."""
    _dbtools("verify", *_stores(db), *_option("--previous", previous), *_option("--provider", provider))


@task(help={"check": "write nothing; fail if docs/schema.md is out of date"})
def docs(c: Context, check: bool = False) -> None:
    """Write docs/schema.md from the live catalogs of freshly migrated throwaway servers."""
    _dbtools("schema-docs", *_flag("--check", check))


@task(iterable=["db"], help={"db": DB_HELP, "to": "folder to create the backup folder(s) in (default: backups)"})
def backup(c: Context, db: list[str], to: str = "backups") -> None:
    """Back each store up (schema, data, migration history) into a checksummed folder."""
    _dbtools("backup", *_stores(db), "--to", to)
