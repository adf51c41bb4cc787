"""ClickHouse on the 18.16 server: a down section whose 2nd statement fails leaves history saying "rollback
failed in down step 2" (issue 13: partial work is never reported as none), not "applied"; a plain
rollback refuses, and `rollback --resume --rerun-step` after the fix finishes it without re-running step 1."""

from __future__ import annotations

import json
from pathlib import Path

from dbtools.settings import Settings

from .conftest import clickhouse_env
from .test_interrupted import dbtools, folder, query, the_error


def test_a_down_statement_that_failed_is_recorded_and_the_rollback_resumed(native: Settings, tmp_path: Path) -> None:
    db = native.database
    up = f"CREATE TABLE {db}.a (n UInt8) ENGINE = Memory;\nCREATE TABLE {db}.b (n UInt8) ENGINE = Memory;\n"
    down = f"DROP TABLE {db}.a;\nSELECT throwIf(1);\n"
    mdir = folder(tmp_path, f"-- migrate:up\n{up}\n-- migrate:down\n{down}")
    env = clickhouse_env(native)
    assert dbtools(mdir, "migrate", "--db", "clickhouse", env=env).returncode == 0
    error, hint = the_error(dbtools(mdir, "rollback", "--steps", "1", "--db", "clickhouse", env=env))
    assert "statement 2 of 2" in error and "rollback --steps 1 --resume --rerun-step" in hint

    status = json.loads(dbtools(mdir, "status", "--json", "--db", "clickhouse", env=env).stdout)["clickhouse"]
    (row,) = status["unfinished"]
    assert (row["state"], row["statements_done"], row["in_step"], row["direction"]) == ("failed", 1, 2, "down")
    assert status["applied"] == []
    text = dbtools(mdir, "status", "--db", "clickhouse", env=env).stdout
    assert "001_events: rollback failed in down step 2 of 2; down step 1 ran" in text
    refused, _ = the_error(dbtools(mdir, "migrate", "--db", "clickhouse", env=env))
    assert "the rollback of 001_events failed in down step 2 of 2" in refused
    the_error(dbtools(mdir, "rollback", "--steps", "1", "--db", "clickhouse", env=env))

    # the fix: step 2 drops b; step 1 (DROP TABLE a, which would now fail) is not run again
    (mdir / "clickhouse" / "001_events.sql").write_text(
        f"-- migrate:up\n{up}\n-- migrate:down\n{down.replace('SELECT throwIf(1)', f'DROP TABLE {db}.b')}"
    )
    done = dbtools(mdir, "rollback", "--steps", "1", "--resume", "--rerun-step", "--db", "clickhouse", env=env)
    assert done.returncode == 0, done.stderr
    assert "resumed at down step 2" in done.stdout
    assert query(native, f"SELECT name FROM system.tables WHERE database = '{db}' AND name IN ('a', 'b')") == []
    status = json.loads(dbtools(mdir, "status", "--json", "--db", "clickhouse", env=env).stdout)["clickhouse"]
    assert (status["unfinished"], status["applied"], status["pending"]) == ([], [], [1])
