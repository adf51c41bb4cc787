"""PostgreSQL specifics: transactions, statements that refuse them, timeouts, kill -9, a real history."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbtools import runner
from dbtools.backends.postgres import PostgresBackend
from dbtools.errors import HistoryMismatch, MigrationFailed
from dbtools.settings import Settings
from tests import corpus
from tests.conftest import Servers, fresh_settings
from tests.postgres.conftest import query


def rows(settings: Settings) -> dict[int, tuple]:
    return {r[0]: r[1:] for r in query(settings, "SELECT version, status, statements_done FROM migration_history")}


def test_sql_error_mid_migration_leaves_nothing(pg: Settings, mdir: Path) -> None:
    (mdir / "postgres" / "001_a.sql").write_text(
        "CREATE TABLE kept_out (id int);\nINSERT INTO kept_out VALUES (1);\n\nSELECT nope FROM kept_out;\n"
    )
    with pytest.raises(MigrationFailed) as failure:
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    message = failure.value.message
    assert "001_a.sql line 4, statement 3 of 3" in message and 'column "nope" does not exist' in message
    assert query(pg, "SELECT to_regclass('kept_out')") == [(None,)]
    assert rows(pg) == {1: ("failed", 0)}
    assert "nothing of it was applied" in failure.value.hint


def test_concurrent_index_runs_outside_a_transaction_and_resumes(pg: Settings, mdir: Path) -> None:
    path = mdir / "postgres" / "001_idx.sql"
    path.write_text(
        "CREATE TABLE t (x int);\nCREATE INDEX CONCURRENTLY t_x ON t (x);\nSELECT broken;\n"
        "CREATE INDEX CONCURRENTLY t_x2 ON t (x);\n"
    )
    with pytest.raises(MigrationFailed, match="statement 3 of 4"):
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert rows(pg) == {1: ("failed", 2)}
    assert query(pg, "SELECT count(*) FROM pg_indexes WHERE tablename = 't'") == [(1,)]
    path.write_text(path.read_text().replace("SELECT broken;", "SELECT 1;"))
    with pytest.raises(HistoryMismatch, match="failed after statement 2 of 4"):
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    runner.migrate("postgres", migrations_dir=mdir, settings=pg, resume=True)
    assert rows(pg) == {1: ("applied", 4)}
    assert query(pg, "SELECT count(*) FROM pg_indexes WHERE tablename = 't'") == [(2,)]


def test_resume_refuses_when_done_statements_were_edited(pg: Settings, mdir: Path) -> None:
    path = mdir / "postgres" / "001_idx.sql"
    path.write_text("CREATE TABLE t (x int);\nCREATE INDEX CONCURRENTLY t_x ON t (x);\nSELECT broken;\n")
    with pytest.raises(MigrationFailed):
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    path.write_text("CREATE TABLE t (x bigint);\nCREATE INDEX CONCURRENTLY t_x ON t (x);\nSELECT 1;\n")
    with pytest.raises(HistoryMismatch, match="were edited since"):
        runner.migrate("postgres", migrations_dir=mdir, settings=pg, resume=True)


def test_file_with_its_own_transaction_runs_as_written(pg: Settings, mdir: Path) -> None:
    (mdir / "postgres" / "001_own.sql").write_text(
        "BEGIN;\nSET TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nCREATE TABLE own (id int);\nCOMMIT;\n"
    )
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert rows(pg) == {1: ("applied", 4)}
    assert query(pg, "SELECT to_regclass('own')::text") == [("own",)]


def test_statement_timeout_is_settable(pg: Settings, mdir: Path) -> None:
    (mdir / "postgres" / "001_slow.sql").write_text("SELECT pg_sleep(3);\n")
    with pytest.raises(MigrationFailed, match="statement timeout"):
        runner.migrate("postgres", migrations_dir=mdir, settings=pg._replace(options={"statement_timeout": "200ms"}))


def test_dry_run_changes_nothing(pg: Settings, mdir: Path) -> None:
    (mdir / "postgres" / "001_a.sql").write_text("CREATE TABLE a (id int);\n")
    events = []
    runner.migrate("postgres", migrations_dir=mdir, settings=pg, dry_run=True, report=events.append)
    assert [(e.status, e.version) for e in events] == [("would-apply", 1)]
    assert query(pg, "SELECT to_regclass('migration_history')") == [(None,)]


def test_create_db_creates_a_missing_database(servers: Servers, mdir: Path) -> None:
    settings = fresh_settings(servers, "postgres")
    (mdir / "postgres" / "001_a.sql").write_text("CREATE TABLE a (id int);\n")
    runner.migrate("postgres", migrations_dir=mdir, settings=settings, create_db=True)
    assert rows(settings) == {1: ("applied", 1)}


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "POSTGRES_URL": settings.url}


def _wait_for_query(settings: Settings, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if query(settings, f"SELECT 1 FROM pg_stat_activity WHERE query LIKE '%{text}%' AND pid <> pg_backend_pid()"):
            return
        time.sleep(0.05)
    raise AssertionError(f"no session ran {text!r}")


@pytest.mark.parametrize("transactional", [True, False])
def test_kill_9_inside_a_long_migration_leaves_a_clean_state(pg: Settings, mdir: Path, transactional: bool) -> None:
    path = mdir / "postgres" / "001_long.sql"
    index = "CREATE INDEX CONCURRENTLY long_i ON long_t (id);\n" if not transactional else ""
    path.write_text(f"CREATE TABLE long_t (id int);\n{index}SELECT pg_sleep(30);\n")
    argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), "migrate", "--db", "postgres"]
    run = subprocess.Popen(argv, env=_env(pg), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_query(pg, "pg_sleep(30)")
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    path.write_text(path.read_text().replace("pg_sleep(30)", "pg_sleep(0)"))
    done = subprocess.run(argv, env=_env(pg), capture_output=True, text=True, timeout=60)
    if transactional:
        assert done.returncode == 0, done.stderr
        assert rows(pg) == {1: ("applied", 2)}
    else:
        # two statements had committed and the third had started: the next run says so, and --resume
        # runs the third again once the user says so
        assert done.returncode == 1 and "was interrupted in statement 3 of 3" in done.stderr
        resumed = subprocess.run([*argv, "--resume"], env=_env(pg), capture_output=True, text=True, timeout=60)
        assert resumed.returncode == 1 and "--rerun-step" in resumed.stderr
        resumed = subprocess.run(
            [*argv, "--resume", "--rerun-step"], env=_env(pg), capture_output=True, text=True, timeout=60
        )
        assert resumed.returncode == 0, resumed.stderr
        assert rows(pg) == {1: ("applied", 3)}


def test_langfuse_history_applies_from_scratch(pg: Settings, tmp_path: Path) -> None:
    expected = corpus.entry("langfuse/postgres")
    corpus.lay_out("langfuse/postgres", tmp_path, "postgres")
    done = runner.migrate("postgres", migrations_dir=tmp_path, settings=pg)
    assert len(done) == expected["versions"] == 434
    tables = query(
        pg, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migration_history'"
    )
    assert tables == [(expected["objects"]["tables"],)]
    assert runner.migrate("postgres", migrations_dir=tmp_path, settings=pg) == []
    state = runner.validate("postgres", migrations_dir=tmp_path, settings=pg)
    assert len(state.applied) == 434 and not state.pending


def test_umami_history_applies_from_scratch(pg: Settings, tmp_path: Path) -> None:
    expected = corpus.entry("umami/postgres")
    corpus.lay_out("umami/postgres", tmp_path, "postgres")
    done = runner.migrate("postgres", migrations_dir=tmp_path, settings=pg)
    assert len(done) == expected["versions"]
    tables = query(
        pg, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migration_history'"
    )
    assert tables == [(expected["objects"]["tables"],)]


@pytest.mark.parametrize("name", ["authelia/postgres", "openfga/postgres"])
def test_corpus_round_trip_restores_the_empty_schema(pg: Settings, tmp_path: Path, name: str) -> None:
    """Every file as it is: authelia's empty up files (versions that only touch MySQL) are recorded as
    applied with a warning, and its downs restore the empty schema."""
    expected = corpus.entry(name)
    corpus.lay_out(name, tmp_path, "postgres")
    backend = PostgresBackend(pg)
    backend.connect()
    empty = backend.snapshot()
    events = []
    done = runner.migrate("postgres", migrations_dir=tmp_path, settings=pg, report=events.append)
    assert len(done) == expected["versions"] and all(row.status == "applied" for row in done)
    warned = [e.version for e in events if e.detail.startswith("warning:")]
    assert warned == ([21, 25, 26] if name.startswith("authelia") else [])
    tables = query(
        pg, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migration_history'"
    )
    assert tables == [(expected["objects"]["tables"],)]
    assert backend.snapshot() != empty
    runner.rollback("postgres", to=0, migrations_dir=tmp_path, settings=pg)
    assert backend.snapshot() == empty
    backend.close()
