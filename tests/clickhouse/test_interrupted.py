"""ClickHouse on the 18.16 server: a statement that failed or was cut off is never reported as "nothing
applied" (issue 13 item 2), a run whose lock was broken records nothing more (item 3: the lock row is
checked inside every history write), and a history table that cannot be written is one error line
saying what history shows (item 8)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from dbtools.backends.clickhouse import ClickHouseBackend
from dbtools.settings import Settings
from tests.conftest import run_query

from .conftest import clickhouse_env


def dbtools(mdir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def the_error(done: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), done.stderr
    return lines[0], lines[1]


def query(settings: Settings, sql: str) -> list[tuple]:
    return run_query("clickhouse", settings, sql)


def folder(tmp_path: Path, sql: str) -> Path:
    (tmp_path / "clickhouse").mkdir()
    (tmp_path / "clickhouse" / "001_events.sql").write_text(sql)
    return tmp_path


def test_a_first_statement_that_failed_is_not_nothing(native: Settings, tmp_path: Path) -> None:
    # an INSERT ... SELECT that fails part-way keeps the blocks it wrote: the statement may have done part
    query(native, f"CREATE TABLE {native.database}.t (n UInt64) ENGINE = MergeTree ORDER BY n")
    mdir = folder(
        tmp_path,
        f"INSERT INTO {native.database}.t SELECT throwIf(number = 300000) + number FROM numbers(400000)"
        " SETTINGS max_block_size = 65536;\nSELECT 1;\n",
    )
    env = clickhouse_env(native)
    error, hint = the_error(dbtools(mdir, "migrate", "--db", "clickhouse", env=env))
    assert "statement 1 of 2" in error
    assert "nothing of it was applied" not in hint and "may have left part of its work" in hint
    assert "--rerun-step" in hint and "repair" in hint
    status = json.loads(dbtools(mdir, "status", "--json", "--db", "clickhouse", env=env).stdout)["clickhouse"]
    (row,) = status["unfinished"]
    assert (row["state"], row["statements_done"], row["in_step"]) == ("failed", 0, 1)
    text = dbtools(mdir, "status", "--db", "clickhouse", env=env).stdout
    assert "failed in statement 1 of 2, which may have partly run" in text and "statement 0" not in text
    refused, _ = the_error(dbtools(mdir, "migrate", "--db", "clickhouse", env=env))
    assert "failed in statement 1 of 2" in refused


def test_unlock_force_stops_the_run_before_its_next_history_write(native: Settings, tmp_path: Path) -> None:
    mdir = folder(tmp_path, f"SELECT sleep(3);\nCREATE TABLE {native.database}.after (n UInt8) ENGINE = Memory;\n")
    env = clickhouse_env(native)
    run = subprocess.Popen(
        [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), "migrate", "--db", "clickhouse"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not query(native, "SELECT 1 FROM system.processes WHERE query LIKE 'SELECT sleep(3)%'"):
            assert time.monotonic() < deadline and run.poll() is None, "the migration never reached its sleep"
            time.sleep(0.02)
        other = ClickHouseBackend(native)
        other.connect()
        assert "removed the lock held by dbtools" in (other.break_lock() or "")  # `unlock --force`, elsewhere
        other.close()
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == 1 and "Traceback" not in err, err
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "clickhouse: this run lost the migration lock" in error and "`unlock --force` broke it" in error
    assert "001_events was not recorded as applied (history shows 001_events interrupted in step 1 of 2)" in error
    assert query(native, f"EXISTS TABLE {native.database}.after") == [(0,)]  # statement 2 never ran


def test_history_that_cannot_be_written_is_one_line(native: Settings, tmp_path: Path) -> None:
    # the table a run writes its rows to goes away under it (a full disk, a broken replica, a hand DETACH
    # look alike): "statement 2 started" is written before, the `applied` row cannot be
    mdir = folder(tmp_path, f"SELECT 1;\nDETACH TABLE {native.database}.dbtools_migration_progress;\n")
    env = clickhouse_env(native)
    error, hint = the_error(dbtools(mdir, "migrate", "--db", "clickhouse", env=env))
    assert "clickhouse: migration 001_events stopped: could not write the history row: " in error
    assert "history shows 001_events interrupted in step 2 of 2" in hint and "status --db clickhouse" in hint


def test_a_history_that_cannot_take_the_runs_rows_is_one_line(native: Settings, tmp_path: Path) -> None:
    # the run's rows go to the progress log and are copied into migration_history when it lets go of the
    # lock (issue 18); a history that cannot take them then is one error, and the rows are not lost
    db = native.database
    mdir = folder(tmp_path, f"DETACH TABLE {db}.migration_history;\nSELECT 1;\n")
    env = clickhouse_env(native)
    error, hint = the_error(dbtools(mdir, "migrate", "--db", "clickhouse", env=env))
    assert "could not copy this run's rows into migration_history" in error and "doesn't exist" in error
    assert "kept in dbtools_migration_progress" in hint and "ATTACH" in hint
    # while it is detached, history is not read as empty (every migration would run again): refused
    for command in ("status", "migrate"):
        error, hint = the_error(dbtools(mdir, command, "--db", "clickhouse", env=env))
        assert "the history table migration_history is missing, but dbtools_migration_progress holds" in error
        assert "ATTACH TABLE" in hint and db in hint and "migration_history" in hint
    assert query(native, f"EXISTS TABLE {db}.migration_history") == [(0,)]  # not made again, empty
    query(native, f"ATTACH TABLE {db}.migration_history")
    status = json.loads(dbtools(mdir, "status", "--json", "--db", "clickhouse", env=env).stdout)["clickhouse"]
    assert status["applied"] == [1] and status["unfinished"] == []
    (tmp_path / "clickhouse" / "002_more.sql").write_text("SELECT 2;\n")
    done = dbtools(mdir, "migrate", "--db", "clickhouse", env=env)
    assert done.returncode == 0, done.stderr
    assert query(native, f"SELECT version, status FROM {db}.migration_history FINAL ORDER BY version") == [
        (1, "applied"),
        (2, "applied"),
    ]
