"""What the tool commands do once parsed - seed, lint, verify, schema-docs, adopt: call the library,
print, return the exit code. Imported by `cli._dispatch` only when one of them runs.
"""

from __future__ import annotations

import sys
from datetime import UTC
from typing import TYPE_CHECKING

from dbtools import runner
from dbtools.audit import json_reporter, stdout_reporter
from dbtools.cli import _each_store, _print_error, passed
from dbtools.errors import UsageError, ValidationFailed

if TYPE_CHECKING:
    from dbtools.cli import Arguments

_ADOPT_FILES_ONE_STORE = "adopt --files needs exactly one --db STORE (the folder migrations/<store>/ to fill)"
_ADOPT_FILES_EXAMPLE = "e.g. `adopt --from dbmate --files db/migrations --db postgres`"
_ADOPT_OPTIONS = ("migrations_dir", "dry_run", "skip_repeatable")  # what both adopt.files and adopt.history take


def run_adopt(args: Arguments, stores: list[str]) -> int:
    from dbtools import adopt

    report = json_reporter() if args.json else stdout_reporter()
    if args.files is not None:
        if len(stores) != 1:
            raise UsageError(_ADOPT_FILES_ONE_STORE, hint=_ADOPT_FILES_EXAMPLE)
        adopt.files(stores[0], args.tool, args.files, report=report, **passed(args, *_ADOPT_OPTIONS))
        return 0
    history_options = passed(args, *_ADOPT_OPTIONS, "table", "lock_timeout")
    return _each_store(stores, lambda s: adopt.history(s, args.tool, report=report, **history_options))


def run_seed(args: Arguments, stores: list[str]) -> int:
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


def run_lint(args: Arguments, stores: list[str]) -> int:
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


def run_verify(args: Arguments, stores: list[str]) -> int:
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


def run_schema_docs(args: Arguments, stores: list[str]) -> int:
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
