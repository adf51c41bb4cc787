"""The commands as users and CI run them: exit codes, one clear error line, no secrets, the fronts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbtools.sandbox import free_port, start
from dbtools.settings import Settings
from tests.conftest import Servers, fresh_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Sup3r-s3cret-pw"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "DBTOOLS_"))}
    base["DBTOOLS_AUDIT"] = "off"  # sinks are tested in tests/audit
    return subprocess.run(
        [sys.executable, "-m", "dbtools", *args],
        env={**base, **(env or {})},
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_clear_error(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """Exit code, an `error:` line (and at most a `hint:` line), no traceback, no password anywhere."""
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 2, done.stderr
    assert all(line.startswith("hint: ") for line in lines[1:])
    assert "Traceback" not in done.stderr + done.stdout
    assert SECRET not in done.stderr + done.stdout
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)


@pytest.fixture(scope="module")
def pg_with_password() -> Iterator[Settings]:
    with start("postgres", "local", password=SECRET) as settings:
        yield settings


@pytest.fixture
def mdir(tmp_path: Path) -> Path:
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "001_users.sql").write_text(
        "-- migrate:up\nCREATE TABLE users (id int);\n-- migrate:down\nDROP TABLE users;\n"
    )
    return tmp_path


def url_env(settings: Settings) -> dict[str, str]:
    return {"POSTGRES_URL": settings.url}


def test_migrate_status_json_and_rollback(pg: Settings, mdir: Path) -> None:
    (mdir / "postgres" / "002_orders.sql").write_text(
        "-- migrate:up\nCREATE TABLE orders (id int);\n-- migrate:down\nDROP TABLE orders;\n"
    )
    env = url_env(pg)
    done = run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", "--to", "1", env=env)
    assert done.returncode == 0 and "applied     001_users" in done.stdout
    state = json.loads(run("--migrations-dir", str(mdir), "status", "--json", env=env).stdout)
    assert {k: state["postgres"][k] for k in ("current", "applied", "pending", "failed", "changed", "missing")} == {
        "current": 1,
        "applied": [1],
        "pending": [2],
        "failed": [],
        "changed": [],
        "missing": [],
    }
    assert run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", env=env).returncode == 0
    assert run("--migrations-dir", str(mdir), "rollback", "--steps", "2", "--db", "postgres", env=env).returncode == 0
    state = json.loads(run("--migrations-dir", str(mdir), "status", "--json", "--db", "postgres", env=env).stdout)
    assert state["postgres"]["current"] is None and state["postgres"]["pending"] == [1, 2]


def test_migrations_dir_from_the_environment(pg: Settings, mdir: Path) -> None:
    done = run("migrate", "--db", "postgres", env={**url_env(pg), "DBTOOLS_MIGRATIONS_DIR": str(mdir)})
    assert done.returncode == 0 and "001_users" in done.stdout


def test_unreachable_host(mdir: Path) -> None:
    env = {"POSTGRES_URL": f"postgres://postgres:{SECRET}@127.0.0.1:{free_port()}/x"}
    done = run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", env=env)
    assert_one_clear_error(done, 1, "connection refused", "POSTGRES_URL")


def test_wrong_password(pg_with_password: Settings, mdir: Path) -> None:
    env = {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(pg_with_password.port),
        "POSTGRES_PASSWORD": "wrong",
        "POSTGRES_DB": "postgres",
    }
    done = run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", env=env)
    assert_one_clear_error(done, 1, "password authentication failed", "POSTGRES_PASSWORD")


def test_right_password_is_never_printed(pg_with_password: Settings, mdir: Path) -> None:
    env = url_env(pg_with_password.with_database("postgres"))
    done = run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", env=env)
    assert done.returncode == 0 and SECRET not in done.stdout + done.stderr
    status = run("--migrations-dir", str(mdir), "status", "--db", "postgres", env=env)
    assert SECRET not in status.stdout


def test_missing_database_then_create_db(servers: Servers, mdir: Path) -> None:
    env = url_env(fresh_settings(servers, "postgres"))
    done = run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", env=env)
    assert_one_clear_error(done, 1, "does not exist", "--create-db")
    assert run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", "--create-db", env=env).returncode == 0


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ({"001-x.sql": "SELECT 1;"}, "001-x.sql is not a valid migration name"),
        ({"1_dup.sql": "SELECT 1;"}, "both have version 1"),
        ({"002_empty.sql": ""}, "002_empty.sql is empty"),
    ],
)
def test_bad_files_are_refused_before_connecting(mdir: Path, files: dict[str, str], needle: str) -> None:
    for name, content in files.items():
        (mdir / "postgres" / name).write_text(content)
    env = {"POSTGRES_URL": f"postgres://u:{SECRET}@127.0.0.1:{free_port()}/x"}
    assert_one_clear_error(run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", env=env), 1, needle)


@pytest.mark.parametrize("verb", ["validate", "migrate", "status"])
def test_a_migration_that_is_not_a_file_fails_every_verb(mdir: Path, verb: str) -> None:
    (mdir / "postgres" / "002_b.sql").symlink_to(mdir / "postgres" / "002_b_was_renamed.sql")
    env = {"POSTGRES_URL": f"postgres://u:{SECRET}@127.0.0.1:{free_port()}/x"}
    done = run("--migrations-dir", str(mdir), verb, "--db", "postgres", env=env)
    assert_one_clear_error(done, 1, "002_b.sql is a symbolic link", "does not exist")


def test_changed_and_missing_files_fail_migrate_and_validate(pg: Settings, mdir: Path) -> None:
    env = url_env(pg)
    assert run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", env=env).returncode == 0
    (mdir / "postgres" / "001_users.sql").write_text("-- migrate:up\nCREATE TABLE users (id bigint);\n")
    assert_one_clear_error(
        run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", env=env), 1, "changed on disk", "repair"
    )
    (mdir / "postgres" / "001_users.sql").unlink()
    (mdir / "postgres" / "002_next.sql").write_text("SELECT 1;\n")
    assert_one_clear_error(
        run("--migrations-dir", str(mdir), "validate", "--db", "postgres", env=env),
        1,
        "missing from the migrations folder",
    )


def test_sql_error_names_file_line_and_server_message(pg: Settings, mdir: Path) -> None:
    (mdir / "postgres" / "002_bad.sql").write_text("CREATE TABLE t2 (id int);\n\nINSERT INTO t2 VALUES ('x');\n")
    done = run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", env=url_env(pg))
    assert_one_clear_error(done, 1, "002_bad.sql line 3", "invalid input syntax for type integer")
    assert "applied     001_users" in done.stdout  # the earlier migration stays applied
    status = run("--migrations-dir", str(mdir), "status", "--db", "postgres", env=url_env(pg))
    assert "failed    002_bad: nothing of it stayed applied; " in status.stdout
    assert "stopped after statement 0" not in status.stdout  # no contradiction with "statement 2 of 2"


HOLD = textwrap.dedent(
    """
    import time
    from dbtools import runner
    from dbtools.backends.postgres import PostgresBackend
    backend = PostgresBackend(runner.settings_for("postgres"))
    backend.connect()
    with backend.lock(5):
        print("locked", flush=True)
        time.sleep(30)
    """
)


def test_lock_held_by_another_run(pg: Settings, mdir: Path) -> None:
    env = {**os.environ, **url_env(pg)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD], env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "locked"
        done = run(
            "--migrations-dir", str(mdir), "migrate", "--db", "postgres", "--lock-timeout", "0.5", env=url_env(pg)
        )
        assert_one_clear_error(done, 1, "held by pid", "waited")
        status = run("--migrations-dir", str(mdir), "status", "--db", "postgres", env=url_env(pg))
        assert "lock      held by pid" in status.stdout
        assert (
            run("--migrations-dir", str(mdir), "unlock", "--force", "--db", "postgres", env=url_env(pg)).returncode == 0
        )
        assert run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", env=url_env(pg)).returncode == 0
    finally:
        holder.kill()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["migrate", "--db", "oracle"], "unknown store 'oracle'"),
        (["rollback", "--db", "postgres"], "one of the arguments --steps --to is required"),
        (["frobnicate"], "invalid choice"),
        (["migrate", "--db", ""], "names no store"),
        (["status", "--db", ","], "names no store"),
        (["validate", "--db", " , "], "names no store"),
    ],
)
def test_usage_errors_exit_2(mdir: Path, args: list[str], needle: str) -> None:
    assert_one_clear_error(run("--migrations-dir", str(mdir), *args), 2, needle)


def test_bad_url_is_a_configuration_error(mdir: Path) -> None:
    done = run("--migrations-dir", str(mdir), "status", "--db", "postgres", env={"POSTGRES_URL": "mysql://x/y"})
    assert_one_clear_error(done, 2, "POSTGRES_URL")


def test_new_creates_the_next_numbered_file(mdir: Path) -> None:
    done = run("--migrations-dir", str(mdir), "new", "--db", "postgres", "add orders")
    assert done.returncode == 0
    path = Path(done.stdout.strip())
    assert path.name == "002_add_orders.sql" and "-- migrate:down" in path.read_text()


def test_seed_fronts_migrate_py_and_run_sh(pg: Settings, tmp_path: Path) -> None:
    """`python migrations/migrate.py postgres` and `./migrations/run.sh` apply the folder they live in."""
    front = tmp_path / "migrations"
    (front / "postgres").mkdir(parents=True)
    for name in ("migrate.py", "run.sh"):
        (front / name).write_bytes((ROOT / "migrations" / name).read_bytes())
        (front / name).chmod(0o755)
    (front / "postgres" / "001_a.sql").write_text("CREATE TABLE a (id int);\n")
    (front / "postgres" / "002_b.sql").write_text("CREATE TABLE b (id int);\n")
    env = {**os.environ, **url_env(pg), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(front / "migrate.py"), "postgres", "--to=1"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and "001_a" in done.stdout and "002_b" not in done.stdout
    done = subprocess.run(
        [str(front / "run.sh")], env={**env, "PYTHON": sys.executable}, capture_output=True, text=True
    )
    assert done.returncode == 0 and "002_b" in done.stdout, done.stderr


def test_invoke_tasks_call_the_same_verbs(pg: Settings, mdir: Path) -> None:
    invoke = [sys.executable, "-m", "invoke"]
    env = {**os.environ, **url_env(pg), "DBTOOLS_MIGRATIONS_DIR": str(mdir)}
    done = subprocess.run([*invoke, "migrate", "--db", "postgres"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "001_users" in done.stdout, done.stderr
    done = subprocess.run([*invoke, "status", "--db", "postgres"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert "001_users" in done.stdout and "free" in done.stdout
    env["POSTGRES_URL"] = f"postgres://u:{SECRET}@127.0.0.1:{free_port()}/x"
    done = subprocess.run([*invoke, "migrate", "--db", "postgres"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and SECRET not in done.stderr


def test_status_starts_without_importing_other_drivers(pg: Settings, mdir: Path) -> None:
    code = (
        "import sys; from dbtools.cli import main; main(['--migrations-dir', sys.argv[1], 'status', '--db', "
        "'postgres']); print(sorted(m for m in ('chdb', 'clickhouse_driver', 'pymongo', 'redis', 'sqlparse', "
        "'testcontainers', 'pglast') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(mdir)],
        env={**os.environ, **url_env(pg)},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


def test_a_no_op_migrate_reads_and_hashes_files_but_never_loads_a_lexer(pg: Settings, mdir: Path) -> None:
    (mdir / "postgres" / "002_more.sql").write_text("CREATE TABLE more (id int);\nCREATE INDEX more_i ON more (id);\n")
    assert run("--migrations-dir", str(mdir), "migrate", "--db", "postgres", env=url_env(pg)).returncode == 0
    code = (
        "import sys; from dbtools.cli import main; code = main(['--migrations-dir', sys.argv[1], 'migrate', "
        "'--db', 'postgres']); print(code, sorted(m for m in ('pglast', 'sqlparse') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(mdir)],
        env={**os.environ, **url_env(pg)},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr
