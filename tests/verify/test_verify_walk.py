"""verify walks the history once: one session on the scratch database whatever the number of migrations."""

from __future__ import annotations

from pathlib import Path

import psycopg2

from dbtools.verify import migration_tests
from tests.conftest import Servers


def sessions_by_database(url: str) -> dict[str, int]:
    """pg_stat_database.sessions (PostgreSQL 14+): sessions ever established, per database."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT datname, sessions FROM pg_stat_database WHERE datname IS NOT NULL")
            return dict(cur.fetchall())
    finally:
        conn.close()


def test_the_scratch_database_sees_one_session_for_the_whole_walk(tmp_path: Path, servers: Servers) -> None:
    settings = servers.get("postgres")
    folder = tmp_path / "migrations" / "postgres"
    folder.mkdir(parents=True)
    for i in range(1, 13):
        (folder / f"{i:03d}_t{i}.sql").write_text(
            f"-- migrate:up\nCREATE TABLE t{i} (id bigint PRIMARY KEY);\n-- migrate:down\nDROP TABLE t{i};\n"
        )
    before = sessions_by_database(settings.url)
    report = migration_tests("postgres", settings, migrations_dir=tmp_path / "migrations")
    assert report.ok, report.render()
    after = sessions_by_database(settings.url)
    scratch = [name for name in after if name.startswith("verify_scratch_") and name not in before]
    assert len(scratch) == 1
    # 12 migrations applied, rolled back and re-applied, 26 snapshots: one session did all of it
    assert after[scratch[0]] == 1, after[scratch[0]]


def commits_by_database(url: str) -> dict[str, int]:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT datname, xact_commit FROM pg_stat_database WHERE datname IS NOT NULL")
            return dict(cur.fetchall())
    finally:
        conn.close()


def test_without_down_sections_only_the_final_schema_is_snapshotted(tmp_path: Path, servers: Servers) -> None:
    settings = servers.get("postgres")
    folder = tmp_path / "migrations" / "postgres"
    folder.mkdir(parents=True)
    for i in range(1, 13):
        (folder / f"{i:03d}_t{i}.sql").write_text(f"CREATE TABLE t{i} (id bigint PRIMARY KEY);\n")
    before = sessions_by_database(settings.url)
    report = migration_tests("postgres", settings, migrations_dir=tmp_path / "migrations")
    assert report.ok and report.checks[-1].ok is None, report.render()
    commits = commits_by_database(settings.url)
    (scratch,) = [name for name in commits if name.startswith("verify_scratch_") and name not in before]
    # a snapshot is 9 catalog queries, each its own transaction: one per step would add 12 x 9 = 108
    assert commits[scratch] < 12 * 9, commits[scratch]
