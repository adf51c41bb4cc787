"""golang-migrate, goose and Flyway on PostgreSQL. None of them installs from the registries reachable here
(goose's npm wrapper downloads its binary at run time; golang-migrate and Flyway are not packaged), so each
test creates the tool's table exactly as the tool's source defines it (cited at each) and fills it as the
tool does while applying the files for real."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dbtools.adopt.flyway import checksum as flyway_checksum
from dbtools.backends.postgres.dialect import split
from dbtools.migrations import discover
from dbtools.settings import Settings
from tests.adopt.conftest import CORPUS, assert_refused, cli, invoke, pg_connection, pg_env, sql, table_exists, write

# -- golang-migrate ------------------------------------------------------------------------------

# github.com/golang-migrate/migrate 18966c755f83de2b250dd8e766bad8b769cd0e25, database/postgres/postgres.go
GOLANG_MIGRATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint not null primary key, dirty boolean not null)"
)
GOLANG_MIGRATE_FILES = {
    "1_accounts.up.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\n",
    "1_accounts.down.sql": "DROP TABLE accounts;\n",
    "2_orders.up.sql": "CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts);\n",
    "2_orders.down.sql": "DROP TABLE orders;\n",
    "3_orders_index.up.sql": "CREATE INDEX orders_account ON orders (account_id);\n",
    "3_orders_index.down.sql": "DROP INDEX orders_account;\n",
}


def golang_migrate_up(settings: Settings, folder: Path, upto: int, *, fail_at: int | None = None) -> None:
    """What `migrate up` does per migration: SetVersion(v, dirty) (TRUNCATE + INSERT), run it, SetVersion(v, clean)."""
    with pg_connection(settings) as conn, conn.cursor() as cur:
        cur.execute(GOLANG_MIGRATE_TABLE)
        for path in sorted(folder.glob("*.up.sql"), key=lambda p: int(p.name.split("_")[0])):
            version = int(path.name.split("_")[0])
            if version > upto:
                break
            cur.execute(
                "BEGIN; TRUNCATE schema_migrations; INSERT INTO schema_migrations VALUES (%s, true); COMMIT", (version,)
            )
            if version == fail_at:
                return  # the migration failed: golang-migrate leaves the version dirty
            cur.execute(path.read_text())
            cur.execute(
                "BEGIN; TRUNCATE schema_migrations; INSERT INTO schema_migrations VALUES (%s, false); COMMIT",
                (version,),
            )


def test_golang_migrate_version_means_everything_up_to_it(pg: Settings, tmp_path: Path) -> None:
    src = write(tmp_path / "src", GOLANG_MIGRATE_FILES)
    golang_migrate_up(pg, src, upto=2)
    migrations, env = tmp_path / "migrations", pg_env(pg)
    laid = cli("--migrations-dir", migrations, "adopt", "--from", "golang-migrate", "--files", src, "--db", "postgres")
    assert laid.returncode == 0, laid.stderr
    assert sorted(p.name for p in (migrations / "postgres").iterdir()) == sorted([*GOLANG_MIGRATE_FILES, "ADOPTED.md"])
    done = invoke(
        "adopt", "--db", "postgres", "--from", "golang-migrate", env={**env, "DBTOOLS_MIGRATIONS_DIR": str(migrations)}
    )
    assert done.returncode == 0 and done.stdout.count("adopted from golang-migrate") == 2, done.stderr
    status = json.loads(cli("--migrations-dir", migrations, "status", "--json", "--db", "postgres", env=env).stdout)
    assert (status["postgres"]["applied"], status["postgres"]["pending"]) == ([1, 2], [3])
    assert cli("--migrations-dir", migrations, "validate", "--db", "postgres", env=env).returncode == 0
    after = cli("--migrations-dir", migrations, "migrate", "--db", "postgres", env=env)
    assert after.returncode == 0 and after.stdout.count("applied") == 1 and "003_orders_index" in after.stdout
    assert sql(pg, "SELECT version, dirty FROM schema_migrations") == [(2, False)]  # golang-migrate's, untouched


def test_a_dirty_golang_migrate_version_is_refused(pg: Settings, tmp_path: Path) -> None:
    src = write(tmp_path / "src", GOLANG_MIGRATE_FILES)
    golang_migrate_up(pg, src, upto=3, fail_at=3)
    migrations = tmp_path / "migrations"
    cli("--migrations-dir", migrations, "adopt", "--from", "golang-migrate", "--files", src, "--db", "postgres")
    done = cli("--migrations-dir", migrations, "adopt", "--from", "golang-migrate", "--db", "postgres", env=pg_env(pg))
    assert_refused(done, "3_orders_index.up.sql dirty")
    assert "force 3" in done.stderr and "force 2" in done.stderr
    assert not table_exists(pg, "migration_history")


def test_a_table_that_is_not_the_tools_layout_is_refused(pg: Settings, tmp_path: Path) -> None:
    src = write(tmp_path / "src", GOLANG_MIGRATE_FILES)
    golang_migrate_up(pg, src, upto=2)
    migrations = tmp_path / "migrations"
    write(migrations / "postgres", {"1_accounts.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\n"})
    done = cli("--migrations-dir", migrations, "adopt", "--from", "dbmate", "--db", "postgres", env=pg_env(pg))
    assert_refused(done, "schema_migrations is not dbmate's history table", "version bigint", "dirty boolean")
    assert not table_exists(pg, "migration_history")


def test_a_server_error_while_reading_the_tools_table_is_one_line(pg: Settings, tmp_path: Path) -> None:
    """The table exists but the server cannot read it (a view that fails when read): one error line naming
    the table and the server's words, one hint, no traceback, nothing written."""
    sql(pg, "CREATE VIEW schema_migrations AS SELECT (1 / 0)::bigint AS version, false AS dirty")
    migrations = tmp_path / "migrations"
    write(migrations / "postgres", {"1_accounts.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\n"})
    done = cli("--migrations-dir", migrations, "adopt", "--from", "golang-migrate", "--db", "postgres", env=pg_env(pg))
    assert_refused(done, "could not read schema_migrations", "division by zero")
    assert not table_exists(pg, "migration_history")


# -- goose ----------------------------------------------------------------------------------------

# github.com/pressly/goose 520411a16119bd3b332613d1ff8312c4cc249673, internal/dialects/postgres.go CreateTable;
# migrate.go createVersionTable inserts version 0 in the same transaction.
GOOSE_TABLE = """CREATE TABLE goose_db_version (
    id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    version_id bigint NOT NULL,
    is_applied boolean NOT NULL,
    tstamp timestamp NOT NULL DEFAULT now()
)"""


def test_goose_openfga_history_is_adopted_latest_row_deciding(pg: Settings, tmp_path: Path) -> None:
    """OpenFGA's real goose history: 001-006 applied, then 006 rolled back the way goose v2 recorded it
    (a later row with is_applied false); 006 is pending after adoption and dbtools applies only it."""
    src = CORPUS / "openfga" / "postgres"
    files = discover(src, "postgres", ("sql",))
    with pg_connection(pg) as conn, conn.cursor() as cur:
        cur.execute(
            f"BEGIN; {GOOSE_TABLE}; INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true); COMMIT"
        )
        for m in files:
            for statement in split(m.up):  # one at a time: 006 has CREATE INDEX CONCURRENTLY
                cur.execute(statement.sql)
            cur.execute("INSERT INTO goose_db_version (version_id, is_applied) VALUES (%s, true)", (m.version,))
        for statement in split(files[-1].down or ""):
            cur.execute(statement.sql)
        cur.execute("INSERT INTO goose_db_version (version_id, is_applied) VALUES (6, false)")
    migrations, env = tmp_path / "migrations", pg_env(pg)
    laid = cli("--migrations-dir", migrations, "adopt", "--from", "goose", "--files", src, "--db", "postgres")
    assert laid.returncode == 0, laid.stderr
    for m in files:
        assert (migrations / "postgres" / m.path.name).read_bytes() == m.path.read_bytes()
    done = cli("--migrations-dir", migrations, "adopt", "--from", "goose", "--db", "postgres", env=env)
    assert done.returncode == 0, done.stderr
    status = json.loads(cli("--migrations-dir", migrations, "status", "--json", "--db", "postgres", env=env).stdout)
    assert (status["postgres"]["applied"], status["postgres"]["pending"]) == ([1, 2, 3, 4, 5], [6])
    assert (
        "applied   005_add_conditions_to_tuples  adopted from goose"
        in cli("--migrations-dir", migrations, "status", "--db", "postgres", env=env).stdout
    )
    assert cli("--migrations-dir", migrations, "validate", "--db", "postgres", env=env).returncode == 0
    after = cli("--migrations-dir", migrations, "migrate", "--db", "postgres", env=env)
    assert after.returncode == 0 and after.stdout.count("applied") == 1 and "006_add_collate_index" in after.stdout, (
        after.stdout + after.stderr
    )


def test_goose_go_migrations_are_refused_with_a_line(tmp_path: Path) -> None:
    src = write(tmp_path / "src", {"00001_init.sql": "-- +goose Up\nSELECT 1;\n", "00002_backfill.go": "package x\n"})
    done = cli(
        "--migrations-dir", tmp_path / "migrations", "adopt", "--from", "goose", "--files", src, "--db", "postgres"
    )
    assert_refused(done, "00002_backfill.go is a goose Go migration")
    assert not (tmp_path / "migrations").exists()


# -- Flyway ---------------------------------------------------------------------------------------

# github.com/flyway/flyway c5e20fc77341d4117e7a291214e23f89c1371516,
# flyway-database/flyway-database-postgresql/src/main/java/org/flywaydb/database/postgresql/PostgreSQLDatabase.java
FLYWAY_TABLE = """CREATE TABLE "public"."flyway_schema_history" (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
);
ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank");
CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success");"""
FLYWAY_FILES = {
    "V1__Create_accounts.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\r\n",  # CRLF: Flyway ignores line ends
    "V1.1__Add_email.sql": "ALTER TABLE accounts ADD COLUMN email text;\n",
    "V2__Create_orders.sql": "CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint);\n",
    "U2__Create_orders.sql": "DROP TABLE orders;\n",
    "R__Accounts_view.sql": "CREATE OR REPLACE VIEW account_emails AS SELECT id, email FROM accounts;\n",
}


def flyway_migrate(settings: Settings, folder: Path) -> None:
    """What `flyway migrate` leaves: versioned files in version order, then repeatables, one row each."""
    order = ["V1__Create_accounts.sql", "V1.1__Add_email.sql", "V2__Create_orders.sql", "R__Accounts_view.sql"]
    with pg_connection(settings) as conn, conn.cursor() as cur:
        cur.execute(FLYWAY_TABLE)
        for rank, name in enumerate(order, start=1):
            cur.execute((folder / name).read_text())
            prefix, _, rest = name.partition("__")
            version = prefix[1:] or None
            cur.execute(
                "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, "
                "installed_by, execution_time, success) VALUES (%s, %s, %s, 'SQL', %s, %s, 'postgres', 7, true)",
                (rank, version, rest[:-4].replace("_", " "), name, flyway_checksum((folder / name).read_bytes())),
            )


def flyway_adopted(pg: Settings, tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "sql"
    src.mkdir()
    for name, text in FLYWAY_FILES.items():
        (src / name).write_bytes(text.encode())
    flyway_migrate(pg, src)
    migrations = tmp_path / "migrations"
    refused = cli("--migrations-dir", migrations, "adopt", "--from", "flyway", "--files", src, "--db", "postgres")
    assert_refused(refused, "R__Accounts_view.sql is a Flyway repeatable migration")
    laid = cli(
        "--migrations-dir",
        migrations,
        "adopt",
        "--from",
        "flyway",
        "--files",
        src,
        "--db",
        "postgres",
        "--skip-repeatable",
    )
    assert laid.returncode == 0, laid.stderr
    return src, migrations


def test_flyway_files_are_renumbered_and_history_adopted(pg: Settings, tmp_path: Path) -> None:
    src, migrations = flyway_adopted(pg, tmp_path)
    env = pg_env(pg)
    folder = migrations / "postgres"
    assert (
        "V1.1__Add_email.sql -> 002_Add_email.sql"
        in cli(
            "--migrations-dir",
            migrations,
            "adopt",
            "--from",
            "flyway",
            "--files",
            src,
            "--db",
            "postgres",
            "--skip-repeatable",
            "--dry-run",
        ).stdout
    )  # the printed mapping table (old name -> new number)
    assert sorted(p.name for p in folder.iterdir()) == [
        "001_Create_accounts.sql",
        "002_Add_email.sql",
        "003_Create_orders.down.sql",
        "003_Create_orders.sql",
        "ADOPTED.md",
    ]
    assert (folder / "001_Create_accounts.sql").read_bytes() == (src / "V1__Create_accounts.sql").read_bytes()
    assert "| 002_Add_email.sql | V1.1__Add_email.sql | 1.1 |" in (folder / "ADOPTED.md").read_text()

    refused = cli("--migrations-dir", migrations, "adopt", "--from", "flyway", "--db", "postgres", env=env)
    assert_refused(refused, "R__Accounts_view.sql is a Flyway repeatable migration")
    done = cli(
        "--migrations-dir", migrations, "adopt", "--from", "flyway", "--db", "postgres", "--skip-repeatable", env=env
    )
    assert done.returncode == 0, done.stderr
    status = json.loads(cli("--migrations-dir", migrations, "status", "--json", "--db", "postgres", env=env).stdout)
    assert status["postgres"]["applied"] == [1, 2, 3] and status["postgres"]["adopted"]["2"] == "flyway"
    assert cli("--migrations-dir", migrations, "validate", "--db", "postgres", env=env).returncode == 0
    assert sql(pg, "SELECT execution_ms FROM migration_history WHERE version = 2") == [(7,)]  # Flyway's timing kept
    back = cli("--migrations-dir", migrations, "rollback", "--steps", "1", "--db", "postgres", env=env)
    assert back.returncode == 0 and not table_exists(pg, "orders")  # Flyway's undo file became the down
    assert sql(pg, "SELECT count(*) FROM flyway_schema_history")[0][0] == 4


def test_flyway_checksum_mismatches_are_each_named_and_nothing_written(pg: Settings, tmp_path: Path) -> None:
    _src, migrations = flyway_adopted(pg, tmp_path)
    folder = migrations / "postgres"
    with (folder / "002_Add_email.sql").open("a") as f:
        f.write("-- edited after Flyway ran it\n")
    done = cli(
        "--migrations-dir",
        migrations,
        "adopt",
        "--from",
        "flyway",
        "--db",
        "postgres",
        "--skip-repeatable",
        env=pg_env(pg),
    )
    assert_refused(done, "002_Add_email.sql does not match Flyway's checksum for V1.1__Add_email.sql")
    (folder / "001_Create_accounts.sql").write_bytes(b"CREATE TABLE accounts (id bigint PRIMARY KEY);\n-- x\n")
    both = cli(
        "--migrations-dir",
        migrations,
        "adopt",
        "--from",
        "flyway",
        "--db",
        "postgres",
        "--skip-repeatable",
        env=pg_env(pg),
    )
    errors = [line for line in both.stderr.splitlines() if line.startswith("error: ")]
    assert both.returncode == 1 and len(errors) == 2 and len(both.stderr.splitlines()) == 4, both.stderr
    assert "001_Create_accounts.sql" in errors[0] and "002_Add_email.sql" in errors[1]
    assert not table_exists(pg, "migration_history")


def test_a_failed_flyway_row_is_refused(pg: Settings, tmp_path: Path) -> None:
    src, migrations = flyway_adopted(pg, tmp_path)
    sql(pg, "UPDATE flyway_schema_history SET success = false WHERE version = '2'")
    done = cli(
        "--migrations-dir",
        migrations,
        "adopt",
        "--from",
        "flyway",
        "--db",
        "postgres",
        "--skip-repeatable",
        env=pg_env(pg),
    )
    assert_refused(done, "failed row for version 2")
    assert not table_exists(pg, "migration_history")
    shutil.rmtree(src)
