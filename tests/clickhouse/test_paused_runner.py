"""A runner paused (SIGSTOP) past its lease (issue 18): on a server, a lock broken with `unlock --force` and
taken by another run while it slept stops it at its next history write, before its next statement; on
chdb nobody else can open the directory while it sleeps, so nobody can break its lock (which is why its
history writes there carry no lock check) and it finishes when resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dbtools.backends.clickhouse import ClickHouseBackend
from dbtools.settings import Settings
from tests.conftest import run_query

from .conftest import clickhouse_env


def start(mdir: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), "migrate", "--db", "clickhouse"]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(done: Callable[[], object], run: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline and run.poll() is None, f"the migration never reached {what}"
        time.sleep(0.02)


def test_a_paused_runner_whose_lock_was_broken_and_taken_stops(native: Settings, tmp_path: Path) -> None:
    db = native.database
    (tmp_path / "clickhouse").mkdir()
    (tmp_path / "clickhouse" / "001_events.sql").write_text(
        f"SELECT sleep(1);\nCREATE TABLE {db}.after (n UInt8) ENGINE = Memory;\n"
    )
    run = start(tmp_path, clickhouse_env(native, CLICKHOUSE_LOCK_LEASE="1"))
    try:
        sleeping = "SELECT 1 FROM system.processes WHERE query LIKE 'SELECT sleep(1)%'"
        wait_for(lambda: run_query("clickhouse", native, sleeping), run, "its sleep")
        os.kill(run.pid, signal.SIGSTOP)
        other = ClickHouseBackend(native)
        other.connect()
        try:
            wait_for(lambda: "stale" in (other.lock_holder() or ""), run, "a stale lease")  # paused past it
            assert "removed the lock held by dbtools" in (other.break_lock() or "")  # `unlock --force`
            with other.lock(5):  # another run takes the lock while the first one sleeps
                os.kill(run.pid, signal.SIGCONT)
                _, err = run.communicate(timeout=60)
                assert other.lock_holder() is not None  # the first run did not drop our lock on its way out
        finally:
            other.close()
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGCONT)
        run.kill()
        run.wait()
    assert run.returncode == 1 and "Traceback" not in err, err
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "clickhouse: this run lost the migration lock" in error
    assert run_query("clickhouse", native, f"EXISTS TABLE {db}.after") == [(0,)]  # statement 2 never ran
    assert run_query("clickhouse", native, f"SELECT count() FROM {db}.migration_history") == [(0,)]


def test_a_paused_chdb_runner_keeps_its_lock_and_finishes(tmp_path: Path) -> None:
    folder, marker = tmp_path / "chdb", tmp_path / "marker.csv"
    (tmp_path / "clickhouse").mkdir()
    (tmp_path / "clickhouse" / "001_events.sql").write_text(
        f"INSERT INTO FUNCTION file('{marker}', 'CSV', 'n UInt8') VALUES (1);\nSELECT sleep(1);\n"
        "CREATE TABLE after (n UInt8) ENGINE = Memory;\n"
    )
    env = clickhouse_env(Settings("clickhouse", "chdb", "", 0, "", "", "", path=str(folder)), CLICKHOUSE_LOCK_LEASE="1")
    run = start(tmp_path, env)
    try:
        wait_for(marker.exists, run, "its first statement")
        os.kill(run.pid, signal.SIGSTOP)
        time.sleep(1.5)  # past the lease: a server would report the lock stale now
        argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(tmp_path), "unlock", "--force", "--db"]
        refused = subprocess.run([*argv, "clickhouse"], env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and f"the chdb directory is in use by pid {run.pid}" in refused.stderr
        os.kill(run.pid, signal.SIGCONT)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGCONT)
        run.kill()
        run.wait()
    assert run.returncode == 0, err
    assert "001_events" in out and "applied" in out
