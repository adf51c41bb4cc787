"""dbmate on PostgreSQL, with dbmate's own binary: lay its files, adopt its history, carry on with dbtools."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from dbtools.settings import Settings
from tests.adopt.conftest import assert_refused, cli, pg_env, sql, table_exists, write

DBMATE_FILES = {
    "20240101000001_create_accounts.sql": (
        "-- migrate:up\nCREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL);\n\n"
        "-- migrate:down\nDROP TABLE accounts;\n"
    ),
    "20240101000002_create_orders.sql": (
        "-- migrate:up\nCREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts);\n\n"
        "-- migrate:down\nDROP TABLE orders;\n"
    ),
    # dbmate reads any <digits>...sql; dbtools needs `_` after the version, so this one is renamed
    "20240101000003-index-orders.sql": (
        "-- migrate:up\nCREATE INDEX orders_account ON orders (account_id);\n\n"
        "-- migrate:down\nDROP INDEX orders_account;\n"
    ),
}


def dbmate_migrate(dbmate: Path, settings: Settings, folder: Path) -> None:
    subprocess.run(
        [dbmate, "--url", f"{settings.url}?sslmode=disable", "--migrations-dir", folder, "--no-dump-schema", "migrate"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_dbmate_files_and_history_are_adopted_and_dbtools_carries_on(
    pg: Settings, dbmate: Path, tmp_path: Path
) -> None:
    src = write(tmp_path / "db" / "migrations", DBMATE_FILES)
    dbmate_migrate(dbmate, pg, src)
    migrations = tmp_path / "migrations"
    env = pg_env(pg)

    laid = cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--files", src, "--db", "postgres")
    assert laid.returncode == 0, laid.stderr
    folder = migrations / "postgres"
    for name, _text in DBMATE_FILES.items():
        target = name if "_" in name[:15] else name.replace("-", "_", 1)
        assert (folder / target).read_bytes() == (src / name).read_bytes()  # byte for byte
    assert "20240101000003-index-orders.sql -> 20240101000003_index-orders.sql" in laid.stdout
    assert (
        "| 20240101000003_index-orders.sql | 20240101000003-index-orders.sql |" in (folder / "ADOPTED.md").read_text()
    )

    dry = cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--db", "postgres", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("would-adopt") == 3 and "checksum " in dry.stdout and "adopted from dbmate" in dry.stdout
    assert not table_exists(pg, "migration_history")  # a dry run writes nothing

    done = cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--db", "postgres", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("adopted from dbmate") == 3

    status = json.loads(cli("--migrations-dir", migrations, "status", "--json", "--db", "postgres", env=env).stdout)
    versions = [20240101000001, 20240101000002, 20240101000003]
    assert status["postgres"]["applied"] == versions and status["postgres"]["pending"] == []
    assert status["postgres"]["adopted"] == {str(v): "dbmate" for v in versions}
    human = cli("--migrations-dir", migrations, "status", "--db", "postgres", env=env).stdout
    assert "applied   20240101000002_create_orders  adopted from dbmate" in human
    assert cli("--migrations-dir", migrations, "validate", "--db", "postgres", env=env).returncode == 0

    # dbmate's table is as dbmate left it: the team can go back
    assert sql(pg, "SELECT version FROM schema_migrations ORDER BY version") == [(str(v),) for v in versions]

    (folder / "20240101000004_add_status.sql").write_text(
        "-- migrate:up\nALTER TABLE orders ADD COLUMN status text;\n"
        "-- migrate:down\nALTER TABLE orders DROP COLUMN status;\n"
    )
    after = cli("--migrations-dir", migrations, "migrate", "--db", "postgres", env=env)
    assert after.returncode == 0, after.stderr
    assert after.stdout.count("applied") == 1 and "20240101000004_add_status" in after.stdout
    assert (
        sql(
            pg, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'status'"
        )[0][0]
        == 1
    )

    again = cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--db", "postgres", env=env)
    assert again.returncode == 0 and "already agrees" in again.stdout  # a second run records nothing


def test_adoption_reaches_the_audit_trail(pg: Settings, dbmate: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "src", dict(list(DBMATE_FILES.items())[:2]))
    dbmate_migrate(dbmate, pg, src)
    migrations = tmp_path / "migrations"
    assert (
        cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--files", src, "--db", "postgres").returncode
        == 0
    )
    # the columns PostgresBackend.write_log fills (the platform's audit_logs has more)
    sql(
        pg,
        "CREATE TABLE audit_logs (id bigserial, actor text, action text, entity_type text, entity_id text, "
        "outcome text, details jsonb)",
    )
    done = cli(
        "--migrations-dir",
        migrations,
        "adopt",
        "--from",
        "dbmate",
        "--db",
        "postgres",
        env=pg_env(pg, DBTOOLS_AUDIT="postgres"),
    )
    assert done.returncode == 0, done.stderr
    rows = sql(pg, "SELECT action, entity_id, details->>'detail' FROM audit_logs ORDER BY id")
    assert rows == [
        ("adopt.recorded", "20240101000001", "adopted from dbmate"),
        ("adopt.recorded", "20240101000002", "adopted from dbmate"),
    ]


def test_a_hole_in_dbmate_history_is_refused_and_nothing_written(pg: Settings, dbmate: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "src", DBMATE_FILES)
    dbmate_migrate(dbmate, pg, src)
    sql(pg, "DELETE FROM schema_migrations WHERE version = '20240101000002'")  # as if 2 never ran
    migrations = tmp_path / "migrations"
    assert (
        cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--files", src, "--db", "postgres").returncode
        == 0
    )
    done = cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--db", "postgres", env=pg_env(pg))
    assert_refused(done, "20240101000002_create_orders.sql", "out-of-order hole")
    assert not table_exists(pg, "migration_history")


def test_a_version_without_its_file_is_refused(pg: Settings, dbmate: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "src", DBMATE_FILES)
    dbmate_migrate(dbmate, pg, src)
    migrations = tmp_path / "migrations"
    write(migrations / "postgres", dict(list(DBMATE_FILES.items())[:2]))  # the third file was never copied
    done = cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--db", "postgres", env=pg_env(pg))
    assert_refused(done, "version 20240101000003", "no file")
    assert not table_exists(pg, "migration_history")


def test_dbtools_history_that_disagrees_is_refused(pg: Settings, dbmate: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "src", dict(list(DBMATE_FILES.items())[:1]))
    dbmate_migrate(dbmate, pg, src)
    migrations = tmp_path / "migrations"
    assert (
        cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--files", src, "--db", "postgres").returncode
        == 0
    )
    assert (
        cli(
            "--migrations-dir",
            migrations,
            "baseline",
            "--version",
            "20240101000001",
            "--db",
            "postgres",
            env=pg_env(pg),
        ).returncode
        == 0
    )
    sql(pg, "UPDATE migration_history SET checksum = 'edited'")
    done = cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--db", "postgres", env=pg_env(pg))
    assert_refused(done, "dbtools history already holds", "another checksum")
    assert sql(pg, "SELECT checksum, adopted_from FROM migration_history") == [("edited", "")]
