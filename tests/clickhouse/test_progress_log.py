"""ClickHouse's progress log (issue 18): "statement k started" rows go to a StripeLog table beside the
MergeTree history, and a run killed with SIGKILL inside a statement still reads as interrupted there
(issue 13 item 2); a history written before the log existed keeps working and gains it on its next run.
Finished rows go to the log too and reach the MergeTree history once per run (issue 18): a run killed
before its end leaves them in the log, where reads find them, and the next run copies them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dbtools.settings import Settings
from tests.conftest import run_query

from .conftest import clickhouse_env


def dbtools(mdir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def query(settings: Settings, sql: str) -> list[tuple]:
    return run_query("clickhouse", settings, sql)


def unfinished(mdir: Path, env: dict[str, str]) -> list[dict]:
    done = dbtools(mdir, "status", "--json", "--db", "clickhouse", env=env)
    return json.loads(done.stdout)["clickhouse"]["unfinished"]


def killed_in_sleep(native: Settings, mdir: Path, env: dict[str, str]) -> None:
    """`migrate` of `mdir`, killed (SIGKILL) while the server runs its `SELECT sleep(3)` statement."""
    argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), "migrate", "--db", "clickhouse"]
    run = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not query(native, "SELECT 1 FROM system.processes WHERE query LIKE 'SELECT sleep(3)%'"):
            assert time.monotonic() < deadline and run.poll() is None, "the migration never reached its sleep"
            time.sleep(0.02)
        os.kill(run.pid, signal.SIGKILL)
    finally:
        run.wait()


def test_sigkill_inside_a_statement_reads_as_interrupted_there(native: Settings, tmp_path: Path) -> None:
    db = native.database
    (tmp_path / "clickhouse").mkdir()
    (tmp_path / "clickhouse" / "001_events.sql").write_text(
        f"CREATE TABLE {db}.events (n UInt8) ENGINE = Memory;\nSELECT sleep(3);\n"
        f"CREATE TABLE IF NOT EXISTS {db}.after (n UInt8) ENGINE = Memory;\n"
    )
    env = clickhouse_env(native)
    killed_in_sleep(native, tmp_path, env)
    (row,) = unfinished(tmp_path, env)
    assert (row["state"], row["statements_done"], row["in_step"]) == ("interrupted", 1, 2), row
    # the row that says so is in the progress log; the MergeTree history has no row of this run yet
    assert query(native, f"SELECT in_step, status FROM {db}.dbtools_migration_progress ORDER BY revision") == [
        (1, "running"),
        (2, "running"),
    ]
    assert query(native, f"SELECT count() FROM {db}.migration_history") == [(0,)]
    query(native, f"DROP TABLE {db}.dbtools_migration_lock")  # the killed run's lock (`unlock --force`)
    done = dbtools(tmp_path, "migrate", "--resume", "--rerun-step", "--db", "clickhouse", env=env)
    assert done.returncode == 0, done.stderr
    assert unfinished(tmp_path, env) == []
    assert query(native, f"SELECT version, status, statements_done FROM {db}.migration_history FINAL") == [
        (1, "applied", 3)
    ]


def test_a_history_without_the_progress_log_keeps_working(native: Settings, tmp_path: Path) -> None:
    db = native.database
    (tmp_path / "clickhouse").mkdir()
    (tmp_path / "clickhouse" / "001_a.sql").write_text(f"CREATE TABLE {db}.a (n UInt8) ENGINE = Memory;\n")
    env = clickhouse_env(native)
    assert dbtools(tmp_path, "migrate", "--db", "clickhouse", env=env).returncode == 0
    query(native, f"DROP TABLE {db}.dbtools_migration_progress")  # what an install before the log has
    status = json.loads(dbtools(tmp_path, "status", "--json", "--db", "clickhouse", env=env).stdout)["clickhouse"]
    assert status["current"] == 1 and status["applied"] == [1] and status["unfinished"] == []
    (tmp_path / "clickhouse" / "002_b.sql").write_text(f"CREATE TABLE {db}.b (n UInt8) ENGINE = Memory;\nSELECT 1;\n")
    done = dbtools(tmp_path, "migrate", "--db", "clickhouse", env=env)
    assert done.returncode == 0, done.stderr
    assert query(native, f"EXISTS TABLE {db}.dbtools_migration_progress") == [(1,)]  # made again, idempotently
    status = json.loads(dbtools(tmp_path, "status", "--json", "--db", "clickhouse", env=env).stdout)["clickhouse"]
    assert status["current"] == 2 and status["applied"] == [1, 2] and status["unfinished"] == []


def test_a_killed_runs_applied_rows_are_read_from_the_log_and_copied_by_the_next_run(
    native: Settings, tmp_path: Path
) -> None:
    db = native.database
    (tmp_path / "clickhouse").mkdir()
    (tmp_path / "clickhouse" / "001_a.sql").write_text(f"CREATE TABLE {db}.a (n UInt8) ENGINE = Memory;\n")
    (tmp_path / "clickhouse" / "002_b.sql").write_text(
        f"CREATE TABLE {db}.b (n UInt8) ENGINE = Memory;\nSELECT sleep(3);\n"
    )
    env = clickhouse_env(native)
    killed_in_sleep(native, tmp_path, env)
    # 001's applied row is in the progress log only: the run died before copying it into the history
    assert query(native, f"SELECT count() FROM {db}.migration_history") == [(0,)]
    ((logged,),) = query(native, f"SELECT revision FROM {db}.dbtools_migration_progress WHERE status = 'applied'")
    status = json.loads(dbtools(tmp_path, "status", "--json", "--db", "clickhouse", env=env).stdout)["clickhouse"]
    assert status["applied"] == [1]
    (row,) = status["unfinished"]
    assert (row["version"], row["state"], row["statements_done"], row["in_step"]) == (2, "interrupted", 1, 2), row
    query(native, f"DROP TABLE {db}.dbtools_migration_lock")  # the killed run's lock (`unlock --force`)
    done = dbtools(tmp_path, "migrate", "--resume", "--rerun-step", "--db", "clickhouse", env=env)
    assert done.returncode == 0, done.stderr
    # the next run copied 001's row as it was (same revision) and wrote 002's: both in the history now
    rows = query(native, f"SELECT version, status, revision FROM {db}.migration_history FINAL ORDER BY version")
    assert [(v, s) for v, s, _ in rows] == [(1, "applied"), (2, "applied")] and rows[0][2] == logged
