"""Markers and annotations as the tools that write them mean them, applied on a real PostgreSQL:
strict markers, per-section options, goose StatementBegin/End and ENVSUB, empty migrations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dbtools import runner
from dbtools.errors import MigrationFailed, MigrationFileError
from dbtools.migrations import checksum, discover
from dbtools.settings import Settings
from tests.postgres.conftest import query
from tests.postgres.test_statements import history, write

ROOT = Path(__file__).resolve().parents[2]


def test_a_misspelt_down_marker_never_runs_the_down_statements(pg: Settings, mdir: Path) -> None:
    write(mdir, "001_a.sql", "-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:dwon\nDROP TABLE a;\n")
    with pytest.raises(MigrationFileError, match=r"001_a\.sql:3: unknown marker `-- migrate:dwon`"):
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert query(pg, "SELECT to_regclass('migration_history')") == [(None,)]


def test_the_down_markers_option_governs_the_down_only(pg: Settings, mdir: Path) -> None:
    write(
        mdir,
        "001_idx.sql",
        "-- migrate:up transaction:false\nCREATE TABLE a (x int);\nCREATE INDEX CONCURRENTLY a_x ON a (x);\n"
        "-- migrate:down\nDROP INDEX a_x;\nSELECT broken;\n",
    )
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    with pytest.raises(MigrationFailed, match="statement 2 of 2"):
        runner.rollback("postgres", steps=1, migrations_dir=mdir, settings=pg)
    # the down runs in one transaction (its marker has no option): the failed rollback dropped nothing
    assert query(pg, "SELECT indexname FROM pg_indexes WHERE tablename = 'a'") == [("a_x",)]
    assert history(pg) == {1: ("applied", 2, 2)}


def test_goose_statement_blocks_are_one_statement_each_even_without_a_semicolon(pg: Settings, mdir: Path) -> None:
    write(
        mdir,
        "001_goose.sql",
        "-- +goose Up\n"
        "-- +goose StatementBegin\nCREATE TABLE a (x int)\n-- +goose StatementEnd\n"
        "-- +goose StatementBegin\nCREATE FUNCTION one() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND;\n"
        "$$\n-- +goose StatementEnd\n"
        "INSERT INTO a VALUES (one());\n"
        "-- +goose Down\n"
        "-- +goose StatementBegin\nDROP FUNCTION one()\n-- +goose StatementEnd\nDROP TABLE a;\n",
    )
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert history(pg) == {1: ("applied", 3, 3)}
    assert query(pg, "SELECT x FROM a") == [(1,)]
    runner.rollback("postgres", steps=1, migrations_dir=mdir, settings=pg)
    assert query(pg, "SELECT to_regclass('a'), to_regproc('one')") == [(None, None)]


ENVSUB = (
    "-- +goose Up\n"
    "-- +goose ENVSUB ON\n"
    "CREATE TABLE ${PREFIX}accounts (id int);\n"
    "COMMENT ON TABLE ${PREFIX}accounts IS 'token ${APP_TOKEN}';\n"
    "SELECT ${APP_TOKEN}_is_not_a_column FROM ${PREFIX}accounts;\n"
    "-- +goose ENVSUB OFF\n"
    "-- +goose Down\n"
    "DROP TABLE accounts;\n"
)


def test_envsub_fills_values_that_never_reach_history_or_output(pg: Settings, mdir: Path) -> None:
    path = write(mdir, "001_env.sql", ENVSUB)
    secret = "tok3n-s3cr3t"
    env = {**os.environ, "POSTGRES_URL": pg.url, "PREFIX": "app_", "APP_TOKEN": secret, "DBTOOLS_AUDIT": "off"}
    argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), "migrate", "--db", "postgres"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 1 and "is_not_a_column" in done.stderr and "***" in done.stderr
    assert secret not in done.stdout + done.stderr
    (error,) = query(pg, "SELECT error FROM migration_history")[0]
    assert secret not in error and "${APP_TOKEN}" in error

    path.write_text(ENVSUB.replace("SELECT ${APP_TOKEN}_is_not_a_column FROM ${PREFIX}accounts;\n", ""))
    status = subprocess.run([*argv, "--json"], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert status.returncode == 0, status.stderr
    assert secret not in status.stdout + status.stderr
    assert query(pg, "SELECT obj_description('app_accounts'::regclass)") == [(f"token {secret}",)]
    (recorded,) = query(pg, "SELECT checksum FROM migration_history WHERE version = 1")[0]
    (m,) = discover(mdir / "postgres", "postgres", ("sql",))
    assert recorded == m.checksum == checksum(m.up) and "${APP_TOKEN}" in m.up
    assert all(secret not in json.dumps(row, default=str) for row in query(pg, "SELECT * FROM migration_history"))


def test_envsub_with_an_unset_variable_refuses_before_anything_runs(pg: Settings, mdir: Path) -> None:
    write(mdir, "001_first.sql", "CREATE TABLE first (x int);\n")
    write(mdir, "002_env.sql", ENVSUB)
    os.environ.pop("APP_TOKEN", None)
    os.environ["PREFIX"] = "app_"
    try:
        with pytest.raises(MigrationFileError, match=r"002_env\.sql:4: \$\{APP_TOKEN\} is not set"):
            runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    finally:
        os.environ.pop("PREFIX")
    assert query(pg, "SELECT to_regclass('first')") == [(None,)]


def test_golang_migrates_empty_up_file_is_recorded_with_a_warning(pg: Settings, mdir: Path) -> None:
    write(mdir, "0001_init.up.sql", "CREATE TABLE a (x int);\n")
    write(mdir, "0001_init.down.sql", "DROP TABLE a;\n")
    write(mdir, "0002_mysql_only.up.sql", "")
    write(mdir, "0002_mysql_only.down.sql", "")
    events = []
    runner.migrate("postgres", migrations_dir=mdir, settings=pg, report=events.append)
    assert history(pg) == {1: ("applied", 1, 1), 2: ("applied", 0, 0)}
    (empty,) = [e for e in events if e.version == 2]
    assert empty.status == "applied" and empty.detail.startswith("warning: 0002_mysql_only.up.sql has no statements")
    runner.rollback("postgres", to=0, migrations_dir=mdir, settings=pg)
    assert history(pg) == {}


def test_a_dbtools_file_left_as_new_wrote_it_is_refused(pg: Settings, mdir: Path) -> None:
    path = runner.new("postgres", "add orders", migrations_dir=mdir)
    with pytest.raises(MigrationFileError, match="has no statements in its up section"):
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert path.exists()
