"""A no-op `migrate --db postgres` imports only what its path needs (issue 18: the no-op run's time is
mostly start-up). Asserted as module names, not times, so a gain cannot silently go away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dbtools import runner
from dbtools.settings import Settings

# Neither the no-op nor its lock-free history read needs any of these: other stores' drivers, the SQL
# readers, the lease engine (PostgreSQL's lock is not taken on a no-op), uuid (and platform with it),
# signal (Ctrl-C handling and the sandbox), the sections reader, the interrupt handler, and dataclasses
# (with inspect, ast, dis and tokenize: its import and the methods it compiles per class were a tenth of
# the run; the records on the path are NamedTuples or plain classes), and PostgreSQL's file reader (its
# dialect, reader, kinds and words modules: a no-op splits no file), nor sqltext (statements and their
# checksums), nor the backend's concerns a migrate run never calls: describe, load (seeding), rehearse,
# audit (a no-op writes no event) and the sandbox recipes; nor argparse (with gettext and locale: a plain
# command line is read from the commands as data, by cli_quick), nor typing (the records are dbtools.records'
# NamedTuples, the backend contract and capabilities typing Protocols loaded on first use), nor getpass (termios).
NOT_ON_THE_NO_OP_PATH = (
    "chdb",
    "clickhouse_driver",
    "pymongo",
    "redis",
    "sqlparse",
    "pglast",
    "testcontainers",
    "dbtools.leases",
    "dbtools.sections",
    "dbtools.interrupt",
    "dbtools.sandbox",
    "uuid",
    "platform",
    "signal",
    "dataclasses",
    "inspect",
    "dbtools.backends.postgres.dialect",
    "dbtools.backends.postgres.reader",
    "dbtools.backends.postgres.kinds",
    "dbtools.backends.postgres.words",
    "dbtools.sqltext",
    "dbtools.backends.postgres.describe",
    "dbtools.backends.postgres.load",
    "dbtools.backends.postgres.rehearse",
    "dbtools.backends.postgres.audit",
    "dbtools.backends.postgres.sandbox",
    "argparse",
    "gettext",
    "locale",
    "dbtools.cli_parser",
    "typing",
    "dbtools.backends.capabilities",
    "getpass",
    "termios",
)

_RUN = (
    "import runpy, sys\n"
    "unwanted = sys.argv[2:]\n"
    "sys.argv = ['dbtools', '--migrations-dir', sys.argv[1], 'migrate', '--db', 'postgres']\n"
    "try:\n"
    "    runpy.run_module('dbtools', run_name='__main__')\n"
    "except SystemExit as exit:\n"
    "    print('EXIT', exit.code, sorted(m for m in unwanted if m in sys.modules))\n"
)


def test_a_no_op_migrate_imports_nothing_off_its_path(pg: Settings, mdir: Path) -> None:
    for version in range(1, 4):
        (mdir / "postgres" / f"{version:03d}_t{version}.sql").write_text(
            f"-- migrate:up\nCREATE TABLE t{version} (id int);\n\n-- migrate:down\nDROP TABLE t{version};\n"
        )
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(mdir), *NOT_ON_THE_NO_OP_PATH],
        env={**os.environ, "POSTGRES_URL": pg.url},
        capture_output=True,
        text=True,
    )
    assert "up-to-date" in done.stdout, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "EXIT 0 []", done.stdout + done.stderr
