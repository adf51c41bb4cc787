"""A PostgreSQL session lost under a migration is one error line saying what happened and what history
shows, never a traceback (issue 13 item 8), and a statement that ran without a transaction is never
reported as "nothing applied" (item 2): the session ended from another session, by `unlock --force`
from another shell, the server killed, and a CREATE INDEX CONCURRENTLY that failed half-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dbtools.sandbox import start
from dbtools.settings import Settings
from tests.postgres.conftest import query

SLOW = "CREATE TABLE a (id int);\nSELECT pg_sleep(120);\n"


def env_for(settings: Settings) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POSTGRES_")}
    return {**clean, "POSTGRES_URL": settings.url, "DBTOOLS_AUDIT": "off"}


def argv(mdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), *args]


def cli(mdir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv(mdir, *args), env=env, capture_output=True, text=True, timeout=120)


def folder(tmp_path: Path, text: str) -> Path:
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "001_slow.sql").write_text(text)
    return tmp_path


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def sleeping(settings: Settings) -> list[tuple]:
    """The pid of the session running the migration's pg_sleep, once it runs."""
    return query(
        settings,
        "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid() "
        "AND datname = current_database()",
    )


def postmaster(settings: Settings) -> int:
    """The server's postmaster pid, as an operator finds it: the first line of postmaster.pid."""
    ((data,),) = query(settings, "SHOW data_directory")
    return int(Path(data, "postmaster.pid").read_text().split()[0])


def the_error(result: subprocess.CompletedProcess[str] | tuple[int, str]) -> str:
    code, err = (result.returncode, result.stderr) if not isinstance(result, tuple) else result
    assert code == 1, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    hints = [line for line in err.splitlines() if line.startswith("hint: ")]
    assert len(errors) == 1 and len(hints) == 1, err
    return errors[0]


def test_session_ended_from_another_session_inside_a_transactional_migration(pg: Settings, tmp_path: Path) -> None:
    mdir = folder(tmp_path, SLOW)
    run = subprocess.Popen(
        argv(mdir, "migrate", "--db", "postgres"), env=env_for(pg), stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: sleeping(pg), "the migration's second statement")
        query(pg, f"SELECT pg_terminate_backend({sleeping(pg)[0][0]})")
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
        run.wait()
    error = the_error((run.returncode, err))
    assert "the connection was lost while applying 001_slow (" in error
    assert "nothing of it was kept and history is as it was" in error
    assert query(pg, "SELECT to_regclass('a')") == [(None,)]
    status = json.loads(cli(mdir, "status", "--json", "--db", "postgres", env=env_for(pg)).stdout)["postgres"]
    assert status["pending"] == [1] and status["unfinished"] == []


def test_unlock_force_from_another_shell_inside_a_non_transactional_migration(pg: Settings, tmp_path: Path) -> None:
    mdir = folder(tmp_path, "-- dbtools:no-transaction\n" + SLOW)
    env = env_for(pg)
    run = subprocess.Popen(argv(mdir, "migrate", "--db", "postgres"), env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: sleeping(pg), "the migration's second statement")
        freed = cli(mdir, "unlock", "--force", "--db", "postgres", env=env)
        assert freed.returncode == 0 and "ended pid" in freed.stdout, freed.stderr
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
        run.wait()
    error = the_error((run.returncode, err))
    assert "the connection was lost while applying 001_slow (statement 2 of 2)" in error
    assert "history shows 001_slow interrupted in statement 2 of 2" in error
    status = json.loads(cli(mdir, "status", "--json", "--db", "postgres", env=env).stdout)["postgres"]
    (row,) = status["unfinished"]
    assert (row["state"], row["statements_done"], row["in_step"]) == ("interrupted", 1, 2)
    refused = cli(mdir, "migrate", "--db", "postgres", env=env)
    assert "interrupted in statement 2 of 2" in the_error(refused)
    assert "--rerun-step" in refused.stderr and "repair" in refused.stderr


def test_server_killed_under_a_migration(tmp_path: Path) -> None:
    mdir = folder(tmp_path, "-- dbtools:no-transaction\n" + SLOW)
    box = start("postgres", "local")
    settings = box.__enter__()
    try:
        env = env_for(settings)
        run = subprocess.Popen(
            argv(mdir, "migrate", "--db", "postgres", "--create-db"), env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_for(lambda: sleeping(settings), "the migration's second statement")
            os.kill(postmaster(settings), signal.SIGKILL)  # every session dies with it
            _, err = run.communicate(timeout=60)
        finally:
            run.kill()
            run.wait()
    finally:
        box.__exit__(None, None, None)
    error = the_error((run.returncode, err))
    assert "the connection was lost while applying 001_slow" in error
    assert "history shows 001_slow interrupted in statement 2 of 2" in error


def test_a_concurrent_index_that_failed_half_way_is_not_nothing(pg: Settings, tmp_path: Path) -> None:
    query(pg, "CREATE TABLE t (k int); INSERT INTO t VALUES (1), (1)")
    mdir = folder(tmp_path, "CREATE UNIQUE INDEX CONCURRENTLY t_k ON t (k);\n")
    env = env_for(pg)
    result = cli(mdir, "migrate", "--db", "postgres", env=env)
    error = the_error(result)
    assert "statement 1 of 1" in error and "could not create unique index" in error
    assert "nothing of it was applied" not in result.stderr and "may have left part of its work" in result.stderr
    # what it left: an INVALID index, which a silent re-run would trip over
    assert query(pg, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_k'::regclass") == [(False,)]
    (row,) = json.loads(cli(mdir, "status", "--json", "--db", "postgres", env=env).stdout)["postgres"]["unfinished"]
    assert (row["state"], row["statements_done"], row["in_step"]) == ("failed", 0, 1)
    assert "--rerun-step" in cli(mdir, "migrate", "--db", "postgres", env=env).stderr
    # the user drops the invalid index and fixes the data, then runs the statement again
    query(pg, "DROP INDEX t_k; DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t)")
    rerun = cli(mdir, "migrate", "--resume", "--rerun-step", "--db", "postgres", env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert query(pg, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_k'::regclass") == [(True,)]


def test_a_rollback_killed_in_a_non_transactional_down_statement_is_recorded(pg: Settings, tmp_path: Path) -> None:
    # the down section runs without a transaction: killed (SIGKILL) in its pg_sleep, history must say the
    # rollback stopped in down step 2 (DROP TABLE a ran), not "applied" (a plain re-run would fail on it)
    up = "-- migrate:up\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"
    down = "-- migrate:down\n-- dbtools:no-transaction\nDROP TABLE a;\nSELECT pg_sleep(120);\nDROP TABLE b;\n"
    mdir = folder(tmp_path, up + down)
    env = env_for(pg)
    assert cli(mdir, "migrate", "--db", "postgres", env=env).returncode == 0
    run = subprocess.Popen(argv(mdir, "rollback", "--steps", "1", "--db", "postgres"), env=env, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: sleeping(pg), "the down section's second statement")
        os.kill(run.pid, signal.SIGKILL)
        run.wait(30)
        query(pg, f"SELECT pg_terminate_backend({sleeping(pg)[0][0]})")  # its session (and lock) end with it
    finally:
        run.kill()
        run.wait()
    status = json.loads(cli(mdir, "status", "--json", "--db", "postgres", env=env).stdout)["postgres"]
    (row,) = status["unfinished"]
    assert (row["state"], row["statements_done"], row["in_step"], row["direction"]) == ("interrupted", 1, 2, "down")
    text = cli(mdir, "status", "--db", "postgres", env=env).stdout
    assert "001_slow: rollback interrupted in down step 2 of 3; down step 1 ran" in text
    for command in (("migrate",), ("rollback", "--steps", "1")):
        refused = cli(mdir, *command, "--db", "postgres", env=env)
        assert "the rollback of 001_slow was interrupted in down step 2 of 3" in the_error(refused)
        assert "--resume --rerun-step" in refused.stderr and "repair" in refused.stderr
    (mdir / "postgres" / "001_slow.sql").write_text(up + down.replace("pg_sleep(120)", "pg_sleep(0)"))
    done = cli(mdir, "rollback", "--steps", "1", "--resume", "--rerun-step", "--db", "postgres", env=env)
    assert done.returncode == 0, done.stderr
    assert query(pg, "SELECT to_regclass('a'), to_regclass('b')") == [(None, None)]
    status = json.loads(cli(mdir, "status", "--json", "--db", "postgres", env=env).stdout)["postgres"]
    assert (status["unfinished"], status["pending"]) == ([], [1])
