"""Waiting for the PostgreSQL migration lock never breaks the run that holds it.

A waiter polls `pg_try_advisory_lock` from an idle session, so it holds no snapshot that the holder's
`CREATE INDEX CONCURRENTLY` would wait for (blocking in `pg_advisory_lock()` inside a statement did:
the holder died with "deadlock detected" and left an INVALID index). The wait is bounded by
`--lock-timeout` only, never by POSTGRES_STATEMENT_TIMEOUT, and says once who holds the lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from dbtools.settings import Settings
from tests.postgres.conftest import query

RUNNERS = 16


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POSTGRES_")}
    return {**clean, "POSTGRES_URL": settings.url, "DBTOOLS_AUDIT": "off", **extra}


def _migrate(mdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), "migrate", "--db", "postgres", *extra]


def test_sixteen_runners_and_a_concurrent_index_build_all_succeed(pg: Settings, tmp_path: Path) -> None:
    """What dbtools guarantees: concurrent `migrate` runs apply each version once, and waiting for the lock
    never breaks the holder (no deadlock, no INVALID index from CREATE INDEX CONCURRENTLY)."""
    folder = tmp_path / "postgres"
    folder.mkdir()
    (folder / "001_big.sql").write_text(
        "CREATE TABLE big AS SELECT g AS id, g % 1000 AS bucket FROM generate_series(1, 3000000) AS g;\n"
    )
    (folder / "002_bucket_index.sql").write_text("CREATE INDEX CONCURRENTLY big_bucket ON big (bucket);\n")
    (folder / "003_after.sql").write_text("CREATE TABLE after_index (id int);\n")
    runs = [
        subprocess.Popen(
            _migrate(tmp_path, "--lock-timeout", "300"),
            env=_env(pg),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RUNNERS)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, (out, err)
        assert "Traceback" not in out + err and "deadlock" not in out + err, (out, err)
        assert sum("waiting" in line for line in out.splitlines()) <= 1, out
    applied = [line for out, _ in outputs for line in out.splitlines() if ": applied" in line]
    for name in ("001_big", "002_bucket_index", "003_after"):
        assert sum(name in line for line in applied) == 1, applied
    assert query(pg, "SELECT version, status FROM migration_history ORDER BY version") == [
        (1, "applied"),
        (2, "applied"),
        (3, "applied"),
    ]
    assert query(pg, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_bucket'::regclass") == [(True,)]
    waits = [line for out, _ in outputs for line in out.splitlines() if "waiting" in line]
    assert waits and all("held by pid" in line and "up to 300 s" in line for line in waits), waits


HOLD = textwrap.dedent(
    """
    import sys, time
    from dbtools.backends.postgres import PostgresBackend
    from dbtools.runner import settings_for
    backend = PostgresBackend(settings_for("postgres"))
    backend.connect()
    with backend.lock(5):
        print("locked", flush=True)
        time.sleep(float(sys.argv[1]))
    """
)


def test_statement_timeout_does_not_cut_the_lock_wait_short(pg: Settings, tmp_path: Path) -> None:
    """The wait is bounded by --lock-timeout only; it prints one line naming the holder, as JSON with --json."""
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "001_a.sql").write_text("CREATE TABLE a (id int);\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, "3"], env=_env(pg), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        done = subprocess.run(
            _migrate(tmp_path, "--lock-timeout", "60", "--json"),
            env=_env(pg, POSTGRES_STATEMENT_TIMEOUT="300"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    waiting = [e for e in events if e["status"] == "waiting"]
    assert len(waiting) == 1, events
    assert "held by pid" in waiting[0]["detail"] and f"pid {holder.pid} " in waiting[0]["detail"]
    assert "since" in waiting[0]["detail"] and "up to 60 s" in waiting[0]["detail"]
    assert [e["status"] for e in events if e.get("version") == 1] == ["applied"]


def test_lock_timeout_names_the_holder_and_how_long_it_waited(pg: Settings, tmp_path: Path) -> None:
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "001_a.sql").write_text("CREATE TABLE a (id int);\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, "30"], env=_env(pg), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        done = subprocess.run(
            _migrate(tmp_path, "--lock-timeout", "1"),
            env=_env(pg, POSTGRES_STATEMENT_TIMEOUT="100"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), done.stderr
    assert "held by pid" in lines[0] and "waited 1." in lines[0]
