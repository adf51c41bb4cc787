"""`python -m dbtools lint` and `invoke lint` as users and CI run them: output lines, JSON, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from dbtools.backends.postgres.squawk import binary
from tests.lint.conftest import Write

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None, invoke: bool = False) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DBTOOLS_")}
    front = ["invoke", "lint"] if invoke else ["dbtools", "lint"]
    return subprocess.run(
        [sys.executable, "-m", *front, *args],
        env={**base, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_platform_migrations_lint_clean() -> None:
    done = run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert " error: " not in done.stdout
    assert done.stdout.rstrip().endswith(": 0 error(s), 0 warning(s)") or not binary()
    as_json = run("--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == [] or not binary()


def test_an_error_finding_prints_path_line_rule_and_exits_1(write: Write, tmp_path: Path) -> None:
    write("clickhouse", "001_events.sql", "-- migrate:up\nALTER TABLE events DELETE WHERE 1;\n-- migrate:down\n")
    done = run("--db", "clickhouse", "--migrations-dir", str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r".*/clickhouse/001_events\.sql:2: ch-mutation error: ALTER TABLE events DELETE .*", lines[0])
    assert lines[1].startswith("    hint: ")
    assert lines[-1] == "lint: clickhouse: 1 error(s), 0 warning(s)"
    assert done.stderr == ""


def test_warnings_alone_exit_0(write: Write, tmp_path: Path) -> None:
    write("clickhouse", "001_events.sql", "CREATE TABLE IF NOT EXISTS events (ts DateTime) ENGINE = Log;\n")
    done = run("--db", "clickhouse", "--migrations-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert ": missing-down warning: " in done.stdout


def test_json_is_one_list_of_findings_and_keeps_the_exit_code(write: Write, tmp_path: Path) -> None:
    write("clickhouse", "001_events.sql", "CREATE TABLE events (ts DateTime) ENGINE = Log;\n")
    done = run("--db", "clickhouse", "--migrations-dir", str(tmp_path), "--json")
    assert done.returncode == 1
    found = json.loads(done.stdout)
    assert [(f["rule"], f["severity"], f["line"]) for f in found] == [
        ("ch-not-idempotent", "error", 1),
        ("missing-down", "warning", 1),
    ]
    assert set(found[0]) == {"store", "path", "line", "rule", "severity", "message", "hint"}


def test_an_unreadable_folder_is_one_clear_error_and_other_stores_still_lint(write: Write, tmp_path: Path) -> None:
    write("postgres", "001_users.sql", "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n")
    write("clickhouse", "users.sql", "SELECT 1;\n")  # no version number: discovery refuses the folder
    done = run("--db", "clickhouse", "--db", "postgres", "--migrations-dir", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.startswith("error: clickhouse: users.sql has no version number\nhint: ")
    assert "Traceback" not in done.stderr
    assert "lint: clickhouse, postgres: 0 error(s)" in done.stdout


def test_an_unknown_store_is_a_usage_error() -> None:
    done = run("--db", "oracle")
    assert done.returncode == 2
    assert done.stderr.startswith("error: unknown store 'oracle'")


def test_invoke_lint_uses_the_same_linter(write: Write, tmp_path: Path) -> None:
    assert run(invoke=True).returncode == 0
    write("clickhouse", "001_events.sql", "-- migrate:up\nALTER TABLE events UPDATE x = 1 WHERE 1;\n-- migrate:down\n")
    done = run("--db", "clickhouse", env={"DBTOOLS_MIGRATIONS_DIR": str(tmp_path)}, invoke=True)
    assert done.returncode == 1
    assert "001_events.sql:2: ch-mutation error: " in done.stdout
