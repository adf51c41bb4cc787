"""rehearse: a backup restored into a throwaway sandbox, pending migrations applied and measured there."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2

from dbtools import backends, backup, runner
from dbtools.settings import Settings
from tests.backup.conftest import (
    CH_MIGRATIONS,
    PG_MIGRATIONS,
    cli,
    pg_tables,
    write_migrations,
)
from tests.conftest import Servers, fresh_settings


def test_postgres_rehearsal_applies_pending_on_a_copy_and_leaves_the_source(servers: Servers, tmp_path: Path):
    migrations = write_migrations(tmp_path / "m", "postgres", PG_MIGRATIONS)
    source = fresh_settings(servers, "postgres")
    runner.migrate("postgres", migrations_dir=migrations, settings=source, target=2, create_db=True)
    with psycopg2.connect(source.url) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO accounts (name, balance) SELECT 'a' || g, g FROM generate_series(1, 20000) g")
    folder = backup.backup("postgres", tmp_path / "b", settings=source, migrations_dir=migrations)
    history_before = runner.status("postgres", migrations_dir=migrations, settings=source)
    data_before = pg_tables(source)

    done = cli("rehearse", "--from", str(folder), "--json", "--migrations-dir", str(migrations))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["from_version"] == 2 and report["to_version"] == 3 and report["sandbox"] == "local"
    [step] = report["migrations"]
    assert step["version"] == 3 and step["status"] == "applied" and step["duration_ms"] >= 0
    cost = step["cost"]
    assert cost["lock_timeout_hits"] == 0 and cost["lock_waits"] == []
    assert any(h["relation"] == "accounts" and h["mode"] == "AccessExclusiveLock" for h in cost["locks_held"])

    after = runner.status("postgres", migrations_dir=migrations, settings=source)
    assert after["current"] == 2 and after["applied"] == history_before["applied"] and after["pending"] == [3]
    assert pg_tables(source) == data_before

    human = cli("rehearse", "--db", "postgres", "--from", str(folder), "--migrations-dir", str(migrations))
    assert human.returncode == 0, human.stderr
    assert "003_add_column: applied in" in human.stdout and "lock_timeout hits 0" in human.stdout
    assert human.stdout.strip().splitlines()[-1].endswith("the source was not touched")


def test_clickhouse_rehearsal_reports_running_mutations(chdb_dir: Settings, tmp_path: Path):
    files = {**CH_MIGRATIONS, "004_fill_note.sql": "ALTER TABLE orders UPDATE note = 'x' WHERE id % 2 = 0"}
    migrations = write_migrations(tmp_path / "m", "clickhouse", files)
    source = chdb_dir.with_database("rehearse_src")
    runner.migrate("clickhouse", migrations_dir=migrations, settings=source, target=2, create_db=True)
    b = backends.load("clickhouse")(source)
    b.connect()
    b.query("INSERT INTO rehearse_src.orders (id, symbol, side) SELECT number, 'S', 1 FROM numbers(50000)")
    b.close()
    folder = backup.backup("clickhouse", tmp_path / "b", settings=source, migrations_dir=migrations)

    done = cli("rehearse", "--from", str(folder), "--json", "--migrations-dir", str(migrations))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["sandbox"] == "embedded" and [s["version"] for s in report["migrations"]] == [3, 4]
    assert all(isinstance(s["cost"]["mutations_running"], int) for s in report["migrations"])
    assert runner.status("clickhouse", migrations_dir=migrations, settings=source)["pending"] == [3, 4]


def test_postgres_rehearsal_names_a_relation_the_migration_created(servers: Servers, tmp_path: Path) -> None:
    """Locks on a table the migration creates are named (the sampling session cannot see it until the
    migration commits: it used to say 'AccessExclusiveLock on relation')."""
    from dbtools.backends.postgres import PostgresBackend
    from dbtools.migrations import discover

    settings = fresh_settings(servers, "postgres", create=True)
    folder = tmp_path / "postgres"
    folder.mkdir()
    (folder / "001_fresh.sql").write_text(
        "CREATE TABLE fresh (id int);\nINSERT INTO fresh SELECT generate_series(1, 300000);\n"
        "CREATE INDEX fresh_id ON fresh (id);\n"
    )
    [m] = discover(folder, "postgres", ("sql",))
    backend = PostgresBackend(settings)
    backend.connect()
    try:
        backend.ensure_history()
        with backend.rehearsal_cost() as cost:
            backend.apply(m, backend.split(m))
    finally:
        backend.close()
    names = {h["relation"] for h in cost["locks_held"]}
    assert "fresh" in names, cost["locks_held"]
    assert not any(n == "relation" or n.startswith("#") for n in names), cost["locks_held"]
