"""PostgreSQL lock and rewrite checks by squawk (PyPI `squawk-cli`), its findings mapped to ours.

squawk knows which statements take ACCESS EXCLUSIVE locks, rewrite tables or break running clients;
we do not repeat its rules, only choose which ones matter here and how much (below). Each file's up
section goes to squawk on stdin, so its line numbers are offset by `Migration.up_line`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from dbtools.errors import MigrationFileError
from dbtools.lint.findings import SQUAWK_PREFIX, Finding, Severity, finding
from dbtools.migrations import Migration

ENV = "DBTOOLS_SQUAWK"  # path (or command name) of the squawk binary when it is not beside python / on PATH
PG_VERSION = "15"  # the PostgreSQL the platform runs (DESIGN.md); squawk's advice on defaults depends on it
INSTALL = "pip install 'squawk-cli>=2.70,<3'"

# Errors: the statement takes a heavy lock on a table that already holds rows, rewrites it, fails at
# run time, or breaks clients still running the old code. Everything else squawk says is a warning.
ERRORS = frozenset(
    {
        "adding-field-with-default",  # volatile default: rewrite under ACCESS EXCLUSIVE
        "adding-foreign-key-constraint",  # scans both tables under SHARE ROW EXCLUSIVE; add NOT VALID first
        "adding-not-nullable-field",  # full scan under ACCESS EXCLUSIVE
        "adding-required-field",  # NOT NULL without default: old clients' INSERTs fail
        "adding-serial-primary-key-field",  # builds the index under ACCESS EXCLUSIVE
        "ban-alter-domain-with-add-constraint",  # validates every row of every table using the domain
        "ban-concurrent-index-creation-in-transaction",  # fails outright
        "ban-drop-database",
        "ban-truncate-cascade",  # empties tables the statement does not name
        "ban-uncommitted-transaction",
        "changing-column-type",  # rewrite under ACCESS EXCLUSIVE
        "constraint-missing-not-valid",  # validates under ACCESS EXCLUSIVE
        "disallowed-unique-constraint",  # builds the index under ACCESS EXCLUSIVE
        "renaming-column",  # breaks running clients (backward compatibility, as the seed asks)
        "renaming-table",
        "require-concurrent-index-creation",  # blocks writes for the whole build
        "require-concurrent-index-deletion",
        "require-concurrent-partition-detach",
        "require-concurrent-reindex",
        "transaction-nesting",  # dbtools already wraps the migration in a transaction
    }
)

# Left out on purpose, with the reason:
EXCLUDED = {
    # our drop-without-deprecation rule decides these, knowing deprecations and same-migration tables
    "ban-drop-table": "drop-without-deprecation",
    "ban-drop-column": "drop-without-deprecation",
    # dbtools sets both per session from POSTGRES_LOCK_TIMEOUT / POSTGRES_STATEMENT_TIMEOUT (settings),
    # so repeating SET in every file would be noise that drifts from the configured values
    "require-lock-timeout": "session setting",
    "require-statement-timeout": "session setting",
    "require-timeout-settings": "session setting",
    # keys are bigint identity already; int / smallint are chosen for bounded values (attempts,
    # versions, cents), where the narrower type is a deliberate check, not an oversight
    "prefer-bigint-over-int": "deliberate narrow types",
    "prefer-bigint-over-smallint": "deliberate narrow types",
    "prefer-big-int": "deliberate narrow types",  # the name older squawk versions use
}


def binary() -> str | None:
    """The squawk executable: $DBTOOLS_SQUAWK, else beside this python (an unactivated venv), else PATH."""
    configured = os.environ.get(ENV)
    if configured is not None:
        return shutil.which(configured)
    beside = Path(sys.executable).parent / "squawk"
    return str(beside) if beside.is_file() else shutil.which("squawk")


def severity(rule: str) -> Severity:
    """How much a squawk rule matters here."""
    return "error" if rule in ERRORS else "warning"


def _in_transaction(m: Migration) -> bool:
    """Whether the store's backend runs this migration in one transaction (squawk then knows a table
    created earlier in the file is not visible to anyone, so indexing it needs no CONCURRENTLY)."""
    from dbtools import backends
    from dbtools.backends.base import TransactionChooser

    backend = backends.load(m.store)
    try:
        return not isinstance(backend, TransactionChooser) or backend.runs_in_transaction(m, backend.split(m))
    except MigrationFileError:  # the unreadable rule reports the file
        return True


def check(m: Migration, earlier: Sequence[Migration]) -> Iterator[Finding]:
    """squawk/<rule> findings for the up section of an SQL migration."""
    if m.kind != "sql" or not m.up.strip():
        return
    exe = binary()
    if exe is None:
        yield finding(
            "squawk-unavailable",
            m.store,
            m.path,
            1,
            "squawk is not installed, so PostgreSQL lock and rewrite checks did not run",
            f"install it: `{INSTALL}` (or point ${ENV} at the binary)",
        )
        return
    command = [exe, "--reporter", "json", "--pg-version", PG_VERSION, "--stdin-filepath", str(m.path)]
    if _in_transaction(m):
        command.append("--assume-in-transaction")
    try:
        done = subprocess.run(command, input=m.up, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        yield _failed(m, exe, str(exc))
        return
    try:
        reported = json.loads(done.stdout)
    except json.JSONDecodeError:
        reported = None
    if done.returncode not in (0, 1) or not isinstance(reported, list):  # 1 only means "found something"
        yield _failed(m, exe, (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[0])
        return
    for item in reported:
        rule = str(item.get("rule_name", "unknown"))
        if rule in EXCLUDED:
            continue
        message = str(item.get("message", "")).rstrip(".")
        if rule == "syntax-error":
            message = f"squawk cannot parse this, so it did not check the file: {message}"
        hint = item.get("help") or f"see https://squawkhq.com/docs/{rule}"
        yield Finding(
            m.store,
            str(m.path),
            m.up_line + int(item.get("line", 0)),  # squawk counts lines from 0
            SQUAWK_PREFIX + rule,
            severity(rule),
            message,
            str(hint),
        )


def _failed(m: Migration, exe: str, why: str) -> Finding:
    return finding(
        "squawk-unavailable",
        m.store,
        m.path,
        1,
        f"squawk failed, so PostgreSQL lock and rewrite checks did not run: {why}",
        f"run `{exe} {m.path}` to see why; reinstall with `{INSTALL}`",
    )
