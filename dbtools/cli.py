"""`python -m dbtools`: parse arguments, call the verbs, print results; the only place mapping errors to exit codes.

The commands are data (below, `cli_args` and `cli_backup`); a plain command line of a data-declared command
is read by `cli_quick` without argparse, anything else (help, errors, abbreviations, ...) by the argparse
parser of `cli_parser`, which gives the same result (property-tested).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from types import SimpleNamespace

from dbtools import backends, envfile, runner
from dbtools.audit import json_reporter, stdout_reporter
from dbtools.cli_commands import READS, SUPPRESS, WRITES, Command, OneOf, Option, option, switch
from dbtools.errors import DbtoolsError, Interrupted, UsageError, ValidationFailed
from dbtools.migrations import INT64_MAX
from dbtools.values import SECONDS_TO_WAIT, Number, argument

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    import argparse

EPILOG = """exit codes: 0 success, 1 a migration, validation or connection failed, 2 usage or configuration error.
environment: DBTOOLS_MIGRATIONS_DIR, and per store POSTGRES_URL or POSTGRES_HOST/PORT/DB/USER/PASSWORD,
CLICKHOUSE_URL or CLICKHOUSE_HOST/NATIVE_PORT/DB/USER/PASSWORD, MONGO_URL or MONGO_HOST/PORT/USER/PASSWORD/DATABASE,
REDIS_URL or REDIS_HOST/PORT/DB/PASSWORD; read from the environment, then from ./.env (written by
scripts/onboard.sh; variables already set win)."""


# what the numeric options accept (checked by argparse: junk is one usage-error line)
VERSION = Number(0, INT64_MAX, whole=True)
STEPS = Number(1, 2**31 - 1, whole=True)
SEED = Number(0, 2**32 - 1, whole=True)


class Arguments(SimpleNamespace):
    """A parsed command line: one attribute per option (what argparse's Namespace holds)."""


def shared_options() -> dict[str, tuple[Option, ...]]:
    """The option sets commands share (`Command.shared` names them): common to every command (also before
    the command), the stores to run on, JSON events, and the lock wait of the writing commands."""
    events = (switch("--json", "one JSON object per event instead of text (for CI logs)"),)
    return {
        "common": (
            option(
                "--migrations-dir",
                default=SUPPRESS,
                metavar="DIR",
                help="folder holding <store>/ subfolders (default: $DBTOOLS_MIGRATIONS_DIR or ./migrations)",
            ),
            option("--debug", action="store_true", default=SUPPRESS, help="show tracebacks"),
            option(
                "--env-file",
                default=SUPPRESS,
                metavar="PATH",
                help="settings file to read; variables already set in the environment win (default: ./.env if present)",
            ),
            option("--no-env-file", action="store_true", default=SUPPRESS, help="read no settings file at all"),
        ),
        "stores": (
            option(
                "--db",
                action="append",
                metavar="STORE",
                dest="db",
                help=f"{backends.names_text()}; repeatable or comma-separated "
                "(default: every store with a folder under the migrations folder)",
            ),
        ),
        "events": events,
        "locking": (
            *events,
            option(
                "--lock-timeout",
                type=argument(SECONDS_TO_WAIT),
                default=runner.DEFAULT_LOCK_TIMEOUT,
                metavar="SECONDS",
                help="how long to wait for another run's migration lock",
            ),
        ),
    }


_STEP_CHOICE_HELP = {  # what --rerun-step and --skip-step do with the statement/step a migration stopped inside
    "rerun": "run the statement/step the migration stopped inside again from its start "
    "(it ran without a transaction and may have partly run; implies --resume)",
    "skip": "count the statement/step the migration stopped inside as done and continue after it (implies --resume)",
}


def resume_options(what: str) -> tuple[Any, ...]:
    """`--resume` (continue `what`) and its `--rerun-step` / `--skip-step` choice: migrate's and rollback's."""
    return (
        switch(
            "--resume",
            f"continue {what} (one that stopped inside a statement also needs --rerun-step or --skip-step)",
        ),
        OneOf(
            tuple(
                option(
                    f"--{choice}-step",
                    dest="step_choice",
                    action="store_const",
                    const=choice,
                    help=f"with --resume: {_STEP_CHOICE_HELP[choice]}",
                )
                for choice in runner.STEP_CHOICES
            )
        ),
    )


_OWN_COMMANDS = {  # the commands declared here; the others are in cli_args (imported only when named)
    "migrate": Command(
        "apply pending migrations in version order",
        WRITES,
        (
            option(
                "--to",
                type=argument(VERSION),
                metavar="VERSION",
                help="stop after this version (default: apply all pending)",
            ),
            switch("--dry-run", "show what would run, change nothing"),
            switch("--allow-out-of-order", "apply pending versions below the current one"),
            *resume_options("a migration that stopped half-way"),
            switch("--create-db", "create the database if it does not exist"),
            option(
                "--backup",
                metavar="DIR",
                help="back the store up into DIR first, under the lock; no migration if that fails "
                "(default: no backup)",
            ),
        ),
    ),
    "status": Command(
        "per store: where it looked, current version, applied, pending, failed, changed, missing, lock",
        READS,
        (
            switch("--json", "one JSON object keyed by store"),
            switch(
                "--exit-code",
                "exit 1 when anything is pending, failed, changed or missing (for CI scripts)",
            ),
        ),
    ),
}


def declared(name: str) -> Command:
    """The declaration of command `name` (not a backup command)."""
    if name in _OWN_COMMANDS:
        return _OWN_COMMANDS[name]
    from dbtools.cli_args import COMMANDS as DECLARED

    return DECLARED[name]


BACKUP_COMMANDS = ("backup", "restore", "rehearse")  # added together by dbtools.cli_backup
COMMANDS = (
    "migrate", "status", "rollback", "validate", "baseline", "repair", "unlock", "check", "seed", "verify",
    "schema-docs", "new", "adopt", "lint", *BACKUP_COMMANDS,
)  # fmt: skip
_COMMANDS = COMMANDS  # the listing order of `--help`


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argparse parser (`cli_parser.build_parser`): with `command`, only that command's subparser."""
    from dbtools import cli_parser

    return cli_parser.build_parser(command)


def parse_args(argv: Sequence[str] | None = None) -> Arguments:
    """`argv` (default: sys.argv[1:]) parsed: by `cli_quick` when it reads every token of it with no doubt,
    else by argparse (help, errors and every unusual form), which gives the same attributes either way."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    from dbtools.cli_quick import read

    quick = read(tokens)
    if quick is not None:
        return Arguments(**quick)
    from dbtools import cli_parser

    return Arguments(**vars(cli_parser.parse_args(tokens)))


def options_taking_values(command: str) -> set[str]:
    """The option strings of `command` that take a value (`--to`, `--lock-timeout`), for fronts that pass
    flags through (migrations/migrate.py) and must tell a flag's value from a store name."""
    from dbtools import cli_parser

    return cli_parser.options_taking_values(command)


def main(argv: Sequence[str] | None = None, *, default_env_file: str | os.PathLike[str] = envfile.DEFAULT) -> int:
    """Run the command line; return the exit code. `default_env_file` is the settings file read when
    neither `--env-file` nor `--no-env-file` is given (the fronts pass the project's own `.env`)."""
    args = None
    try:
        args = parse_args(argv)
        _read_env_file(args, default_env_file)
        code = _dispatch(args)
        if _ctrl_c():  # it came as the last statement ended: nothing was cut short
            print("interrupted: Ctrl-C came as the work finished; nothing was left half-done", file=sys.stderr)
            return 130
        return code
    except DbtoolsError as exc:
        if args is not None and getattr(args, "debug", False):
            _print_traceback(exc)
        _print_error(exc)
        return 130 if _ctrl_c() else exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        interrupt = sys.modules.get("dbtools.interrupt")
        if interrupt is not None:
            interrupt.restore()


def _ctrl_c() -> bool:
    interrupt = sys.modules.get("dbtools.interrupt")
    return interrupt is not None and interrupt.requested()


def _read_env_file(args: Arguments, default: str | os.PathLike[str]) -> None:
    if getattr(args, "no_env_file", False):
        return
    chosen = getattr(args, "env_file", None)
    if chosen is not None:
        envfile.load(chosen)  # asked for by name: a missing file is an error
    else:
        envfile.load_default(default)


def _print_traceback(exc: BaseException) -> None:
    """`--debug`: the traceback, with the driver's exception the error was raised from, every secret masked
    (a driver's message may quote a URL with its password, or a statement with an ENVSUB value)."""
    import traceback

    from dbtools.errors import redact

    print(redact("".join(traceback.format_exception(exc))), end="", file=sys.stderr)


def _print_error(exc: DbtoolsError) -> None:
    for line in exc.lines():
        print(line, file=sys.stderr)


def _stores(args: Arguments) -> list[str]:
    if args.db:
        stores = []
        for value in args.db:
            stores += [s.strip() for s in value.split(",") if s.strip()]
        if not stores:
            raise UsageError(
                f"--db {' '.join(repr(v) for v in args.db)} names no store",
                hint=f"name one or more: --db {','.join(backends.registry())} (or --db all); "
                "leave --db out to use every store folder",
            )
        if stores == ["all"]:
            stores = runner.configured_stores(args.migrations_dir)
        for store in stores:
            if store not in backends.registry():
                backends.load(store)  # raises the one-line unknown-store error
        return stores
    found = runner.configured_stores(args.migrations_dir)
    if not found:
        raise UsageError(
            f"no store folders under {runner.migrations_root(args.migrations_dir)}",
            hint="pass --db STORE, or --migrations-dir pointing at a folder with postgres/, clickhouse/, ...",
        )
    return found


def _dispatch(args: Arguments) -> int:
    args.migrations_dir = getattr(args, "migrations_dir", None)
    command = args.command
    if command == "new":
        args.db = [args.db]
        stores = _stores(args)
        if len(stores) != 1:
            raise UsageError("new needs exactly one --db STORE", hint="e.g. `new --db postgres 'add users table'`")
        from dbtools import upkeep

        path = upkeep.new(stores[0], args.description, migrations_dir=args.migrations_dir, extension=args.ext)
        print(path)
        return 0
    if command == "adopt" and args.files is not None and not args.db:
        from dbtools.cli_tools import _ADOPT_FILES_EXAMPLE, _ADOPT_FILES_ONE_STORE

        raise UsageError(_ADOPT_FILES_ONE_STORE, hint=_ADOPT_FILES_EXAMPLE)
    stores = _stores(args)
    if command == "status":
        from dbtools import cli_status

        return cli_status.run_status(args, stores)
    if command in ("lint", "seed", "schema-docs", "verify", "adopt"):
        from dbtools import cli_tools
    if command == "lint":
        return cli_tools.run_lint(args, stores)
    if command == "seed":
        return cli_tools.run_seed(args, stores)
    if command == "schema-docs":
        return cli_tools.run_schema_docs(args, stores)
    if command == "verify":
        return cli_tools.run_verify(args, stores)
    if command == "adopt":
        return cli_tools.run_adopt(args, stores)
    if command in ("backup", "restore", "rehearse"):
        from dbtools import cli_backup

        return cli_backup.run(args)
    report = json_reporter() if getattr(args, "json", False) else stdout_reporter()
    common = passed(args, "migrations_dir")
    if command in ("baseline", "repair", "unlock", "check"):
        from dbtools import upkeep
    actions: dict[str, Callable[[str], Any]] = {
        "migrate": lambda s: runner.migrate(
            s,
            target=args.to,
            before_apply=_backup_first(args.backup),
            report=report,
            **passed(args, "dry_run", "allow_out_of_order", "resume", "step_choice", "lock_timeout", "create_db"),
            **common,
        ),
        "rollback": lambda s: runner.rollback(
            s,
            report=report,
            **passed(args, "steps", "to", "lock_timeout", "dry_run", "resume", "step_choice"),
            **common,
        ),
        "validate": lambda s: _validated(s, runner.validate(s, allow_out_of_order=args.allow_out_of_order, **common)),
        "baseline": lambda s: upkeep.baseline(
            s, args.baseline_version, lock_timeout=args.lock_timeout, report=report, **common
        ),
        "repair": lambda s: upkeep.repair(s, lock_timeout=args.lock_timeout, report=report, **common),
        "unlock": lambda s: upkeep.unlock(s, report=report, **common),
        "check": lambda s: _no_violations(
            s, upkeep.check_layout(s, report=report, **common), runner.migrations_root(args.migrations_dir) / s
        ),
    }
    return _each_store(stores, actions[command])


def passed(args: Arguments, *names: str) -> dict[str, Any]:
    """The parsed options `names` as keywords, for a library call whose parameters bear the options' names."""
    return {name: getattr(args, name) for name in names}


def _backup_first(folder: str | None) -> Callable[[runner.Context, Any], None] | None:
    """`migrate --backup DIR`: the runner's before-apply hook that backs the store up (None without it)."""
    if folder is None:
        return None
    from dbtools.backup import before_migrating

    return before_migrating(folder)


def _no_violations(store: str, count: int, folder: Any) -> None:
    if count:
        raise ValidationFailed(
            f"{store}: {count} violation(s) of the declared layout",
            hint=f"bring the keys in line (a migration), or declare their pattern in {folder / 'layout.toml'}",
        )
    print(f"{store}: ok, no violations")


def _validated(store: str, plan: Any) -> None:
    print(f"{store}: ok, {len(plan.applied)} applied, {len(plan.pending)} pending")


def _each_store(stores: list[str], action: Callable[[str], Any]) -> int:
    """Run `action` per store; one store's failure does not stop the others. Worst exit code wins."""
    code = 0
    for store in stores:
        try:
            action(store)
        except DbtoolsError as exc:
            if len(stores) == 1 or isinstance(exc, Interrupted) or _ctrl_c():
                raise
            _print_error(exc)
            code = max(code, exc.exit_code)
    return code
