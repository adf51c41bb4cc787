"""ClickHouse on chdb (the current engine): langfuse's real golang-migrate history and dbmate's layout.
Neither tool can run against chdb (no port) nor installs here for ClickHouse, so a helper process applies
the files for real and fills the tool's table exactly as the tool's ClickHouse driver does (cited below);
dbtools then runs as a user would, one `python -m dbtools` process at a time (chdb opens a directory in
one process at a time)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.adopt.conftest import CORPUS, cli, write

pytest.importorskip("chdb")


def chdb(path: Path, script: str, **values: object) -> str:
    """Run `script` in a fresh process with `s`, a chdb session on `path`; return what it prints."""
    prelude = "from chdb import session\nimport json, sys\ns = session.Session(sys.argv[1])\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script), str(path), json.dumps(values)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def env(path: Path) -> dict[str, str]:
    return {"CLICKHOUSE_URL": f"chdb://{path}"}


# golang-migrate 18966c755f83de2b250dd8e766bad8b769cd0e25, database/clickhouse/clickhouse.go: ensureVersionTable
# (TinyLog by default) and SetVersion (one row per call, sequence = time.Now().UnixNano()); `migrate up`
# calls SetVersion(v, true), runs the file, then SetVersion(v, false).
GOLANG_MIGRATE_UP = """
values = json.loads(sys.argv[2])
s.query("CREATE TABLE schema_migrations (version Int64, dirty UInt8, sequence UInt64) Engine=TinyLog")
import pathlib, time
ups = sorted(pathlib.Path(values["folder"]).glob("*.up.sql"), key=lambda p: int(p.name.split("_")[0]))
for path in ups:
    version = int(path.name.split("_")[0])
    s.query(f"INSERT INTO schema_migrations (version, dirty, sequence) VALUES ({version}, 1, {time.time_ns()})")
    s.query(path.read_text())
    s.query(f"INSERT INTO schema_migrations (version, dirty, sequence) VALUES ({version}, 0, {time.time_ns()})")
"""


def test_langfuse_golang_migrate_history_is_adopted(tmp_path: Path) -> None:
    src = CORPUS / "langfuse" / "clickhouse"
    engine = tmp_path / "chdb"
    chdb(engine, GOLANG_MIGRATE_UP, folder=str(src))
    migrations = tmp_path / "migrations"
    laid = cli(
        "--migrations-dir", migrations, "adopt", "--from", "golang-migrate", "--files", src, "--db", "clickhouse"
    )
    assert laid.returncode == 0, laid.stderr
    assert len(list((migrations / "clickhouse").glob("*.sql"))) == 92

    done = cli(
        "--migrations-dir", migrations, "adopt", "--from", "golang-migrate", "--db", "clickhouse", env=env(engine)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("adopted from golang-migrate") == 46
    status = json.loads(
        cli("--migrations-dir", migrations, "status", "--json", "--db", "clickhouse", env=env(engine)).stdout
    )["clickhouse"]
    assert status["applied"] == list(range(1, 47)) and status["pending"] == []
    assert set(status["adopted"].values()) == {"golang-migrate"}
    assert cli("--migrations-dir", migrations, "validate", "--db", "clickhouse", env=env(engine)).returncode == 0

    (migrations / "clickhouse" / "0047_scores_comment.up.sql").write_text(
        "ALTER TABLE scores ADD COLUMN IF NOT EXISTS adopt_note String DEFAULT '';\n"
    )
    after = cli("--migrations-dir", migrations, "migrate", "--db", "clickhouse", env=env(engine))
    assert after.returncode == 0 and after.stdout.count("applied") == 1 and "047_scores_comment" in after.stdout, (
        after.stdout + after.stderr
    )
    assert (
        chdb(engine, "print(s.query('SELECT count(), max(version) FROM schema_migrations', 'CSV'))").strip() == "92,46"
    )


# dbmate f3e08f15e39d5b3f10ba014b470467fb484dfc54, pkg/driver/clickhouse/clickhouse.go: CreateMigrationsTable,
# InsertMigration (`insert into schema_migrations (version)`), DeleteMigration (`(version, applied) values (?, 0)`).
DBMATE_UP = """
values = json.loads(sys.argv[2])
s.query('''create table if not exists schema_migrations (
    version String,
    ts DateTime default now(),
    applied UInt8 default 1
) engine = ReplacingMergeTree(ts)
primary key version
order by version''')
for name, up in values["ups"]:
    s.query(up)
    s.query(f"insert into schema_migrations (version) values ('{name.split('_')[0]}')")
for name, down in values["downs"]:
    s.query(down)
    s.query(f"insert into schema_migrations (version, applied) values ('{name.split('_')[0]}', 0)")
"""

DBMATE_FILES = {
    "20240101000001_events.sql": "-- migrate:up\nCREATE TABLE events (id UInt64) ENGINE = MergeTree ORDER BY id;\n"
    "-- migrate:down\nDROP TABLE events;\n",
    "20240101000002_sessions.sql": "-- migrate:up\nCREATE TABLE sessions (id UInt64) ENGINE = MergeTree ORDER BY id;\n"
    "-- migrate:down\nDROP TABLE sessions;\n",
    "20240101000003_clicks.sql": "-- migrate:up\nCREATE TABLE clicks (id UInt64) ENGINE = MergeTree ORDER BY id;\n"
    "-- migrate:down\nDROP TABLE clicks;\n",
}


def test_dbmate_clickhouse_history_is_adopted_rolled_back_rows_excluded(tmp_path: Path) -> None:
    src = write(tmp_path / "src", DBMATE_FILES)
    sections = {n: t.split("-- migrate:down\n") for n, t in DBMATE_FILES.items()}
    ups = [(n, up.removeprefix("-- migrate:up\n")) for n, (up, _) in sections.items()]
    engine = tmp_path / "chdb"
    chdb(engine, DBMATE_UP, ups=ups, downs=[("20240101000003_clicks.sql", sections["20240101000003_clicks.sql"][1])])
    migrations = tmp_path / "migrations"
    assert (
        cli(
            "--migrations-dir", migrations, "adopt", "--from", "dbmate", "--files", src, "--db", "clickhouse"
        ).returncode
        == 0
    )
    done = cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--db", "clickhouse", env=env(engine))
    assert done.returncode == 0, done.stderr
    status = json.loads(
        cli("--migrations-dir", migrations, "status", "--json", "--db", "clickhouse", env=env(engine)).stdout
    )["clickhouse"]
    assert (status["applied"], status["pending"]) == ([20240101000001, 20240101000002], [20240101000003])
    after = cli("--migrations-dir", migrations, "migrate", "--db", "clickhouse", env=env(engine))
    assert after.returncode == 0 and after.stdout.count("applied") == 1, after.stdout + after.stderr
