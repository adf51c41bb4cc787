"""Invoke tasks: `invoke migrate --db postgres`, `invoke status`, ... - thin calls into dbtools."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from invoke import Context, Exit, task

from dbtools import envfile, runner
from dbtools.audit import stdout_reporter
from dbtools.cli import print_status
from dbtools.errors import DbtoolsError, UsageError

# Where the stores live: the shell's environment wins, then the servers onboarding started
# (.sandbox/env), then the project's defaults (docker/env.local). Read safely, no shell evaluation.
for _env_file in (Path(__file__).parent / ".sandbox/env", Path(__file__).parent / "docker/env.local"):
    if _env_file.exists():
        envfile.load(_env_file)

DB_HELP = "clickhouse, postgres, mongodb or redis (repeatable; default: every store with a migrations folder)"


@contextmanager
def _errors_exit() -> Iterator[None]:
    """Turn an expected failure into invoke's Exit: `error:`/`hint:` lines and the CLI's exit code."""
    try:
        yield
    except DbtoolsError as exc:
        raise Exit("\n".join(exc.lines()), code=exc.exit_code) from None


def _each(db: list[str], action: Callable[[str], Any]) -> None:
    with _errors_exit():
        for store in db or runner.configured_stores():
            action(store)


@task(
    iterable=["db"],
    help={
        "db": DB_HELP,
        "to": "stop after this version",
        "dry_run": "show, change nothing",
        "create_db": "create a missing database",
        "resume": "continue a half-done migration",
    },
)
def migrate(
    c: Context,
    db: list[str],
    to: int | None = None,
    dry_run: bool = False,
    create_db: bool = False,
    resume: bool = False,
) -> None:
    """Apply pending migrations."""
    report = stdout_reporter()
    _each(
        db, lambda s: runner.migrate(s, target=to, dry_run=dry_run, create_db=create_db, resume=resume, report=report)
    )


@task(iterable=["db"], help={"db": DB_HELP})
def status(c: Context, db: list[str]) -> None:
    """Show applied, pending, failed, changed and missing migrations per store."""
    with _errors_exit():
        print_status({s: runner.status(s) for s in db or runner.configured_stores()})


@task(iterable=["db"], help={"db": DB_HELP, "steps": "revert the last N migrations", "to": "revert above VERSION"})
def rollback(c: Context, db: list[str], steps: int | None = None, to: int | None = None) -> None:
    """Revert applied migrations (--steps N or --to VERSION)."""
    if steps is None and to is None:
        steps = 1
    report = stdout_reporter()
    _each(db, lambda s: runner.rollback(s, steps=steps, to=to, report=report))


@task(iterable=["db"], help={"db": DB_HELP})
def validate(c: Context, db: list[str]) -> None:
    """Check that files and history agree (fails on changed, missing, failed, out-of-order)."""
    _each(db, lambda s: print(f"{s}: ok, {len(runner.validate(s).applied)} applied"))


@task(iterable=["db"], help={"db": DB_HELP, "json": "print the findings as one JSON list"})
def lint(c: Context, db: list[str], json: bool = False) -> None:
    """Flag risky migrations before they run (fails on error-severity findings)."""
    from dbtools.lint import run

    with _errors_exit():
        code = run(db or runner.configured_stores(), as_json=json)
    if code:
        raise Exit(code=code)


@task(help={"db": "the store", "description": "what the migration does", "ext": "py or js where a store runs several"})
def new(c: Context, db: str, description: str, ext: str | None = None) -> None:
    """Create the next-numbered migration file."""
    with _errors_exit():
        print(runner.new(db, description, extension=ext))


@task(
    iterable=["db"],
    help={
        "db": DB_HELP,
        "from_": "the tool to switch from: dbmate, flyway, golang-migrate, goose or migrate-mongo",
        "files": "lay the tool's files from this folder into migrations/<store>/ (instead of adopting history)",
        "table": "the tool's history table or collection, if not its default",
        "dry_run": "show what would be recorded or laid, change nothing",
        "skip_repeatable": "leave Flyway's repeatable (R__) migrations out",
    },
)
def adopt(
    c: Context,
    db: list[str],
    from_: str,
    files: str | None = None,
    table: str | None = None,
    dry_run: bool = False,
    skip_repeatable: bool = False,
) -> None:
    """Switch from another tool: record its history as applied (or lay its files) without running anything."""
    from dbtools import adopt as adoption

    report = stdout_reporter()
    if files is not None:
        with _errors_exit():
            if len(db) != 1:
                raise UsageError("adopt --files needs exactly one --db STORE", hint="e.g. --db postgres")
            adoption.files(db[0], from_, files, dry_run=dry_run, skip_repeatable=skip_repeatable, report=report)
        return
    _each(
        db,
        lambda s: adoption.history(
            s, from_, table=table, dry_run=dry_run, skip_repeatable=skip_repeatable, report=report
        ),
    )


@task(iterable=["db"], help={"db": DB_HELP})
def repair(c: Context, db: list[str]) -> None:
    """Accept changed checksums, clear failed rows, forget missing files."""
    report = stdout_reporter()
    _each(db, lambda s: runner.repair(s, report=report))


@task(
    iterable=["db"],
    help={
        "db": DB_HELP,
        "seed": "random seed: the same seed gives the same data (default 42)",
        "scale": "small, medium or large",
        "reset": "wipe the seeded tables first, then load",
    },
)
def seed(c: Context, db: list[str], seed: int = 42, scale: str = "small", reset: bool = False) -> None:
    """Load deterministic development data into each store (skips stores already seeded)."""
    from dbtools.seed import dataset, load

    data = dataset.build(seed, scale)
    report = stdout_reporter()
    _each(db, lambda s: load(s, data, reset=reset, report=report, progress=True))


@task(iterable=["db"], help={"db": DB_HELP, "previous": "git ref of the previous release (default: newest v* tag)"})
def verify(c: Context, db: list[str], previous: str | None = None) -> None:
    """Migration tests on throwaway servers: from scratch, on top of the previous release, round trip."""
    from dbtools import verify as verification

    argv = [a for s in db for a in ("--db", s)] + (["--previous", previous] if previous else [])
    code = verification.main(argv)
    if code:
        raise Exit(code=code)


@task(help={"check": "write nothing; fail if docs/schema.md is out of date"})
def docs(c: Context, check: bool = False) -> None:
    """Write docs/schema.md from the live catalogs of freshly migrated throwaway servers."""
    from dbtools.cli import main

    code = main(["schema-docs", *(["--check"] if check else [])])
    if code:
        raise Exit(code=code)


@task(iterable=["db"], help={"db": DB_HELP, "to": "folder to create the backup folder(s) in (default: backups)"})
def backup(c: Context, db: list[str], to: str = "backups") -> None:
    """Back each store up (schema, data, migration history) into a checksummed folder."""
    from dbtools.backup import backup as take

    _each(db, lambda s: print(take(s, to)))
