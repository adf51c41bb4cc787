"""`python -m dbtools`: parse arguments, call the verbs, print results; the only place mapping errors to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any, NoReturn

from dbtools import __version__, backends, envfile, runner
from dbtools.audit import json_reporter, stdout_reporter
from dbtools.errors import ConnectionFailed, DbtoolsError, Interrupted, UsageError, ValidationFailed
from dbtools.migrations import INT64_MAX
from dbtools.values import SECONDS_TO_WAIT, Number, argument

EPILOG = """exit codes: 0 success, 1 a migration, validation or connection failed, 2 usage or configuration error.
environment: DBTOOLS_MIGRATIONS_DIR, and per store POSTGRES_URL or POSTGRES_HOST/PORT/DB/USER/PASSWORD,
CLICKHOUSE_URL or CLICKHOUSE_HOST/NATIVE_PORT/DB/USER/PASSWORD, MONGO_URL or MONGO_HOST/PORT/USER/PASSWORD/DATABASE,
REDIS_URL or REDIS_HOST/PORT/DB/PASSWORD; read from the environment, then from ./.env (written by
scripts/onboard.sh; variables already set win)."""


# what the numeric options accept (checked by argparse: junk is one usage-error line)
VERSION = Number(0, INT64_MAX, whole=True)
STEPS = Number(1, 2**31 - 1, whole=True)
SEED = Number(0, 2**32 - 1, whole=True)


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


def _command(sub: Any, name: str, help: str, parents: Sequence[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, parents=parents)
    return parser


BACKUP_COMMANDS = ("backup", "restore", "rehearse")  # added together by dbtools.cli_backup


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (also used to render `--help`). With `command`, only that command's subparser is
    built: all a run needs (building every one, and importing what `adopt --from` lists, costs about as much
    as a no-op run's own work)."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--migrations-dir",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="folder holding <store>/ subfolders (default: $DBTOOLS_MIGRATIONS_DIR or ./migrations)",
    )
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    common.add_argument(
        "--env-file",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="settings file to read; variables already set in the environment win (default: ./.env if present)",
    )
    common.add_argument(
        "--no-env-file", action="store_true", default=argparse.SUPPRESS, help="read no settings file at all"
    )
    stores = _Parser(add_help=False)
    stores.add_argument(
        "--db",
        action="append",
        metavar="STORE",
        dest="db",
        help=f"{backends.names_text()}; repeatable or comma-separated "
        "(default: every store with a folder under the migrations folder)",
    )
    events = _Parser(add_help=False)
    events.add_argument("--json", action="store_true", help="one JSON object per event instead of text (for CI logs)")
    locking = _Parser(add_help=False, parents=[events])
    locking.add_argument(
        "--lock-timeout",
        type=argument(SECONDS_TO_WAIT),
        default=runner.DEFAULT_LOCK_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for another run's migration lock",
    )
    writers = [common, stores, locking]

    parser = _Parser(
        prog="dbtools",
        description="Versioned migrations for ClickHouse, PostgreSQL, MongoDB and Redis.",
        epilog=EPILOG,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"dbtools {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    if command in (None, "migrate"):
        p = _command(sub, "migrate", "apply pending migrations in version order", writers)
        p.add_argument(
            "--to",
            type=argument(VERSION),
            metavar="VERSION",
            help="stop after this version (default: apply all pending)",
        )
        p.add_argument("--dry-run", action="store_true", help="show what would run, change nothing")
        p.add_argument("--allow-out-of-order", action="store_true", help="apply pending versions below the current one")
        p.add_argument(
            "--resume",
            action="store_true",
            help="continue a migration that stopped half-way (one that stopped inside a statement also needs "
            "--rerun-step or --skip-step)",
        )
        step = p.add_mutually_exclusive_group()
        step.add_argument(
            "--rerun-step",
            dest="step_choice",
            action="store_const",
            const="rerun",
            help="with --resume: run the statement/step the migration stopped inside again from its start "
            "(it ran without a transaction and may have partly run; implies --resume)",
        )
        step.add_argument(
            "--skip-step",
            dest="step_choice",
            action="store_const",
            const="skip",
            help="with --resume: count the statement/step the migration stopped inside as done and continue "
            "after it (implies --resume)",
        )
        p.add_argument("--create-db", action="store_true", help="create the database if it does not exist")
        p.add_argument(
            "--backup",
            metavar="DIR",
            help="back the store up into DIR first, under the lock; no migration if that fails (default: no backup)",
        )

    if command in (None, "status"):
        p = _command(
            sub,
            "status",
            "per store: where it looked, current version, applied, pending, failed, changed, missing, lock",
            [common, stores],
        )
        p.add_argument("--json", action="store_true", help="one JSON object keyed by store")
        p.add_argument(
            "--exit-code",
            action="store_true",
            help="exit 1 when anything is pending, failed, changed or missing (for CI scripts)",
        )

    if command in (None, "rollback"):
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

    if command in (None, "validate"):
        p = _command(sub, "validate", "check that files and history agree (exit 1 if not)", [common, stores])
        p.add_argument(
            "--allow-out-of-order", action="store_true", help="accept pending versions below the current one"
        )

    if command in (None, "baseline"):
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

    if command in (None, "repair"):
        _command(
            sub,
            "repair",
            "accept edited files, clear failed rows, forget rows whose file is gone (history only: the database "
            "keeps what was applied)",
            writers,
        )

    if command in (None, "unlock"):
        p = _command(sub, "unlock", "break a migration lock left by a dead or stuck run", [common, stores, events])
        p.add_argument("--force", action="store_true", required=True, help="confirms breaking the lock")

    if command in (None, "check"):
        _command(
            sub,
            "check",
            "for stores with a declared key layout (Redis: migrations/redis/layout.toml): check live keys against it "
            "(exit 1 on violations)",
            [common, stores, events],
        )

    if command in (None, "seed"):
        p = _command(
            sub, "seed", "load deterministic development data (a store already seeded is skipped)", [common, stores]
        )
        p.add_argument("--seed", type=argument(SEED), default=42, help="random seed: the same seed gives the same data")
        p.add_argument("--scale", choices=["small", "medium", "large"], default="small", help="how much data")
        p.add_argument("--until", metavar="DATE", help="UTC date market data ends at, YYYY-MM-DD (default: today)")
        p.add_argument("--reset", action="store_true", help="wipe the seeded tables first, then load")
        p.add_argument("--json", action="store_true", help="one JSON object per event instead of text")

    if command in (None, "verify"):
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

    if command in (None, "schema-docs"):
        p = _command(
            sub,
            "schema-docs",
            "write docs/schema.md from live catalogs of freshly migrated throwaway servers",
            [common, stores],
        )
        p.add_argument("--output", default="docs/schema.md", metavar="PATH", help="where to write")
        p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file is out of date")

    if command in (None, "new"):
        p = _command(sub, "new", "create the next-numbered migration file from the store's template", [common])
        p.add_argument("description", help="what the migration does, e.g. 'add users table' (becomes the file name)")
        p.add_argument("--db", required=True, metavar="STORE", help="the store to write the migration for")
        p.add_argument("--ext", help="file type where the store runs several: py or js (default: the store's first)")

    if command in (None, "adopt"):
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
            help="lay the tool's migration files from DIR into migrations/<store>/ "
            "(default: adopt its history instead)",
        )
        p.add_argument(
            "--table",
            metavar="NAME",
            help="the tool's history table or collection (default: the tool's own name for it)",
        )
        p.add_argument("--dry-run", action="store_true", help="show what would be recorded or laid, change nothing")
        p.add_argument("--skip-repeatable", action="store_true", help="leave Flyway's repeatable (R__) migrations out")

    if command in (None, "lint"):
        p = _command(sub, "lint", "flag risky migrations before they run (exit 1 on error)", [common, stores])
        p.add_argument("--json", action="store_true", help="print the findings as one JSON list")

    if command in (None, *BACKUP_COMMANDS):
        _add_backup_commands(sub, [common, stores])

    for listed in sub._choices_actions:  # `COMMAND --help` opens with the line `--help` lists it with
        chosen = sub.choices[listed.dest]
        chosen.description = chosen.description or listed.help
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """`argv` parsed by a parser holding only the command it names, or, when that does not apply (help
    asked for at the top, no command, or a parse error), by the full parser: the same result either way."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    command = _named_command(tokens)
    if command is not None:
        try:
            return build_parser(command).parse_args(tokens)
        except UsageError:
            pass  # say it as the full parser would (an option's value may have looked like a command)
    return build_parser().parse_args(tokens)


_COMMANDS = (
    "migrate", "status", "rollback", "validate", "baseline", "repair", "unlock", "check", "seed", "verify",
    "schema-docs", "new", "adopt", "lint", *BACKUP_COMMANDS,
)  # fmt: skip


def _named_command(tokens: list[str]) -> str | None:
    """The first token naming a command, unless a top-level --help or --version (or an abbreviation of
    them) comes before it."""
    for token in tokens:
        if token in _COMMANDS:
            return token
        if token == "-h" or (len(token) > 2 and ("--help".startswith(token) or "--version".startswith(token))):
            return None
    return None


def _adopt_tools() -> list[str]:
    from dbtools.adopt import TOOLS

    return list(TOOLS)


def _add_backup_commands(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    from dbtools.cli_backup import add_commands

    add_commands(sub, parents)


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


def _read_env_file(args: argparse.Namespace, default: str | os.PathLike[str]) -> None:
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


def _stores(args: argparse.Namespace) -> list[str]:
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


def _dispatch(args: argparse.Namespace) -> int:
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
        raise UsageError(_ADOPT_FILES_ONE_STORE, hint=_ADOPT_FILES_EXAMPLE)
    stores = _stores(args)
    if command == "status":
        return _status(args, stores)
    if command == "lint":
        return _lint(args, stores)
    if command == "seed":
        return _seed(args, stores)
    if command == "schema-docs":
        return _schema_docs(args, stores)
    if command == "verify":
        return _verify(args, stores)
    if command == "adopt":
        return _adopt(args, stores)
    if command in ("backup", "restore", "rehearse"):
        from dbtools import cli_backup

        return cli_backup.run(args)
    report = json_reporter() if getattr(args, "json", False) else stdout_reporter()
    common = {"migrations_dir": args.migrations_dir}
    if command in ("baseline", "repair", "unlock", "check"):
        from dbtools import upkeep
    actions: dict[str, Callable[[str], Any]] = {
        "migrate": lambda s: runner.migrate(
            s,
            target=args.to,
            dry_run=args.dry_run,
            allow_out_of_order=args.allow_out_of_order,
            resume=args.resume,
            step_choice=args.step_choice,
            lock_timeout=args.lock_timeout,
            create_db=args.create_db,
            report=report,
            before_apply=_backup_first(args.backup),
            **common,
        ),
        "rollback": lambda s: runner.rollback(
            s,
            steps=args.steps,
            to=args.to,
            lock_timeout=args.lock_timeout,
            dry_run=args.dry_run,
            report=report,
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


def _backup_first(folder: str | None) -> Callable[[runner.Context, Any], None] | None:
    """`migrate --backup DIR`: the runner's before-apply hook that backs the store up (None without it)."""
    if folder is None:
        return None
    from dbtools.backup import before_migrating

    return before_migrating(folder)


_ADOPT_FILES_ONE_STORE = "adopt --files needs exactly one --db STORE (the folder migrations/<store>/ to fill)"
_ADOPT_FILES_EXAMPLE = "e.g. `adopt --from dbmate --files db/migrations --db postgres`"


def _adopt(args: argparse.Namespace, stores: list[str]) -> int:
    from dbtools import adopt

    report = json_reporter() if args.json else stdout_reporter()
    if args.files is not None:
        if len(stores) != 1:
            raise UsageError(_ADOPT_FILES_ONE_STORE, hint=_ADOPT_FILES_EXAMPLE)
        adopt.files(
            stores[0],
            args.tool,
            args.files,
            migrations_dir=args.migrations_dir,
            dry_run=args.dry_run,
            skip_repeatable=args.skip_repeatable,
            report=report,
        )
        return 0
    return _each_store(
        stores,
        lambda s: adopt.history(
            s,
            args.tool,
            migrations_dir=args.migrations_dir,
            table=args.table,
            dry_run=args.dry_run,
            skip_repeatable=args.skip_repeatable,
            lock_timeout=args.lock_timeout,
            report=report,
        ),
    )


def _seed(args: argparse.Namespace, stores: list[str]) -> int:
    from datetime import datetime

    from dbtools.seed import dataset, load, rows_progress

    try:
        until = datetime.fromisoformat(args.until).replace(tzinfo=UTC) if args.until else None
    except ValueError:
        raise UsageError(f"--until {args.until!r} is not a date", hint="write it as YYYY-MM-DD") from None
    shown = sys.stderr.isatty()
    with rows_progress(shown, f"generating {args.scale} data for {', '.join(stores)}") as progress:
        data = dataset.build(args.seed, args.scale, until, stores=stores, progress=progress)
    report = json_reporter() if args.json else stdout_reporter()
    return _each_store(
        stores,
        lambda s: load(s, data, reset=args.reset, migrations_dir=args.migrations_dir, report=report, progress=shown),
    )


def _lint(args: argparse.Namespace, stores: list[str]) -> int:
    """The findings as lines and a count (or one JSON list); unreadable stores as `error:`/`hint:` lines."""
    from dbtools.lint import lint_stores

    linted = lint_stores(stores, args.migrations_dir)
    for problem in linted.problems:
        _print_error(problem)
    if args.json:
        import json

        print(json.dumps([f.as_dict() for f in linted.findings], indent=2))
    else:
        for f in linted.findings:
            print(f.render())
        print(f"lint: {', '.join(stores)}: {linted.errors} error(s), {linted.warnings} warning(s)")
    return linted.exit_code


def _verify(args: argparse.Namespace, stores: list[str]) -> int:
    """Each store's migration tests on a sandbox, its report printed as it ends; exit 1 when one failed, or
    when none could be verified (0 with --skipped-file, which then says why)."""
    from pathlib import Path

    from dbtools import verify

    if args.previous:
        verify.check_ref(verify.repository(runner.migrations_root(args.migrations_dir)), args.previous)
    outcomes: dict[str, list[str]] = {"ok": [], "failed": [], "skipped": []}
    for store in stores:
        outcome = verify.verify_store(
            store,
            migrations_dir=args.migrations_dir,
            previous=args.previous,
            provider=args.provider,
            on_ready=lambda line: print(line, flush=True),
        )
        if outcome.error is not None:
            _print_error(outcome.error)
        if outcome.report is not None:
            print(outcome.report.render(), flush=True)
        outcomes[outcome.kind].append(f"{store}: {outcome.why}")
    failed, skipped, verified = outcomes["failed"], outcomes["skipped"], outcomes["ok"]
    if skipped:
        print("skipped: " + "; ".join(skipped))
    if failed:
        return 1
    if not verified:
        if args.skipped_file:
            Path(args.skipped_file).write_text("; ".join(skipped) + "\n")
            return 0
        print("error: no store could be verified on this machine", file=sys.stderr)
        return 1
    return 0


def _schema_docs(args: argparse.Namespace, stores: list[str]) -> int:
    from pathlib import Path

    from dbtools import docs

    output = Path(args.output)
    existing = output.read_text() if output.exists() else ""
    text, outcome = docs.generate(args.migrations_dir, existing, stores)
    for store, how in outcome.items():
        print(f"{store}: {how}")
    if args.check:
        if text != existing:
            raise ValidationFailed(f"{output} is out of date", hint="run `python -m dbtools schema-docs` and commit it")
        print(f"{output}: up to date")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(f"wrote {output}")
    return 0


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


def _status(args: argparse.Namespace, stores: list[str]) -> int:
    """Every store's status; an unreachable store is one row of its own and exit 1, the others in full."""
    results: dict[str, Any] = {}
    code = 0
    for store in stores:
        try:
            # a person's summary names a few versions: no row per version to build for it
            results[store] = runner.status(store, migrations_dir=args.migrations_dir, listing=args.json)
        except DbtoolsError as exc:
            if len(stores) == 1 and not args.json:
                raise
            results[store] = {
                "where": _where(store),
                "error": exc.message,
                "hint": exc.hint,
                "reachable": not isinstance(exc, ConnectionFailed),  # a file or history problem: the server answered
            }
            code = max(code, exc.exit_code)
    if args.json:
        import json

        print(json.dumps(results, indent=2))
    else:
        print_status(results)
    if args.exit_code and any(_needs_attention(r) for r in results.values()):
        code = max(code, 1)
    return code


def _where(store: str) -> str:
    try:
        return runner.where(runner.settings_for(store))
    except DbtoolsError:
        return "-"


def _needs_attention(r: dict[str, Any]) -> bool:
    return "error" not in r and any(r[k] for k in ("pending", "failed", "changed", "missing"))


def print_status(results: dict[str, dict[str, Any]]) -> None:
    """Print `runner.status` results for people: one table row per store, then what needs attention."""
    header = ("store", "where", "current", "applied", "pending", "failed", "changed", "missing", "lock")
    rows = [header]
    for store, r in results.items():
        if "error" in r:
            state = "error" if r.get("reachable") else "unreachable"
            rows.append((store, r.get("where", "-"), state, "-", "-", "-", "-", "-", "-"))
            continue
        current = _label_of(r, r["current"])
        counts = [str(len(r[k])) for k in ("applied", "pending", "failed", "changed", "missing")]
        rows.append((store, r["where"], current, *counts, "held" if r["lock"] else "free"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = [cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells).rstrip())
    for store, r in results.items():
        for line in _details(r):
            print(f"{store}: {line}")


def _labels(r: dict[str, Any]) -> dict[int, str]:
    if "labels" in r:  # runner.status without the listing
        return dict(r["labels"])
    return {m["version"]: m["label"] for m in r["migrations"]}


def _label_of(r: dict[str, Any], version: int | None) -> str:
    """The label of one version (the current one: found from the end, where it usually is), "none" for None."""
    if "labels" in r:
        return str(r["labels"].get(version, "none"))
    for m in reversed(r["migrations"]):
        if m["version"] == version:
            return str(m["label"])
    return "none"


def _details(r: dict[str, Any]) -> list[str]:
    if "error" in r:
        return [f"error: {r['error']}"] + ([f"hint: {r['hint']}"] if r.get("hint") else [])
    if not any(r.get(k) for k in ("adopted", "pending", "unfinished", "changed", "missing", "lock")):
        return []  # nothing needs attention: no labels to look up
    labels = _labels(r)
    lines = [f"applied   {labels[int(v)]}  adopted from {tool}" for v, tool in r.get("adopted", {}).items()]
    failed, out_of_order = set(r["failed"]), set(r["out_of_order"])
    for v in r["pending"]:
        if v in failed:
            continue  # said below, with where it stopped
        lines.append(f"pending   {labels[v]}" + ("  (out of order)" if v in out_of_order else ""))
    lines += [_unfinished(row) for row in r["unfinished"]]
    lines += [f"changed   {labels[v]}  (file edited after it was applied)" for v in r["changed"]]
    lines += [f"missing   {labels[v]}  (applied, file gone)" for v in r["missing"]]
    if r["lock"]:
        lines.append(f"lock      held by {r['lock']}")
    return lines


def _unfinished(row: dict[str, Any]) -> str:
    """One line for a failed, interrupted or running migration: where it stopped, what stayed, the error."""
    done, total, step = row["statements_done"], row["statements_total"], row.get("in_step", 0)
    state = row.get("state", row["status"])
    of = f" of {total}" if total else ""
    if done:
        kept = f"statements 1-{done}{of} stayed applied" if done > 1 else f"statement 1{of} stayed applied"
    else:
        kept = "nothing before it stayed applied" if step else "nothing of it stayed applied"
    if state == "running":
        where = f"running now, in statement {step}{of}" if step else "running now"
        return f"{'running':<9} {row['label']}: {where}; {kept}"
    if step:
        where = "interrupted in" if state == "interrupted" else "failed in"
        kept = f"{where} statement {step}{of}, which may have partly run (no transaction); {kept}"
    reason = row["error"] or "the run stopped (killed, or its connection or lease was lost)"
    return f"{state:<9} {row['label']}: {kept}; {reason}"


def options_taking_values(command: str) -> set[str]:
    """The option strings of `command` that take a value (`--to`, `--lock-timeout`), for fronts that pass
    flags through (migrations/migrate.py) and must tell a flag's value from a store name."""
    parser = build_parser(command)
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        option for action in commands.choices[command]._actions if action.nargs != 0 for option in action.option_strings
    }
