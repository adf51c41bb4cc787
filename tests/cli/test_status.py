"""`status` says where it looked and names every migration; one store down never hides the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dbtools.sandbox import free_port
from dbtools.settings import Settings
from tests.cli.test_cli import ROOT, SECRET, assert_one_clear_error, run, url_env
from tests.conftest import Servers, fresh_settings

pytestmark = pytest.mark.usefixtures("servers")


def dbtools(mdir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run("--migrations-dir", str(mdir), *args, env=env)


def test_status_names_the_server_and_database_it_read_never_the_password(servers: Servers, mdir: Path) -> None:
    from dbtools.sandbox import start

    with start("postgres", "local", password=SECRET) as server:
        settings = server.with_database("postgres")
        done = dbtools(mdir, "status", "--db", "postgres", env=url_env(settings))
    assert done.returncode == 0, done.stderr
    row = done.stdout.splitlines()[1].split()
    assert row[:3] == ["postgres", f"127.0.0.1:{settings.port}/postgres", "none"]
    assert SECRET not in done.stdout + done.stderr


def test_status_json_keeps_its_keys_and_adds_names_and_where(pg: Settings, mdir: Path) -> None:
    env = url_env(pg)
    assert dbtools(mdir, "migrate", "--db", "postgres", "--to", "1", env=env).returncode == 0
    state = json.loads(dbtools(mdir, "status", "--json", env=env).stdout)["postgres"]
    assert {k: state[k] for k in ("current", "applied", "pending", "failed", "changed", "missing")} == {
        "current": 1,
        "applied": [1],
        "pending": [2],
        "failed": [],
        "changed": [],
        "missing": [],
    }
    assert state["where"] == f"{pg.host}:{pg.port}/{pg.database}"
    assert state["migrations"] == [
        {"version": 1, "name": "users", "label": "001_users", "file": "001_users.sql", "state": "applied"},
        {"version": 2, "name": "orders", "label": "002_orders", "file": "002_orders.sql", "state": "pending"},
    ]


def test_changed_missing_and_failed_migrations_are_named_not_numbered(pg: Settings, mdir: Path) -> None:
    env = url_env(pg)
    assert dbtools(mdir, "migrate", "--db", "postgres", env=env).returncode == 0
    (mdir / "postgres" / "002_orders.sql").write_text("CREATE TABLE orders (id bigint);\n")
    for command in ("migrate", "validate"):
        assert_one_clear_error(
            dbtools(mdir, command, "--db", "postgres", env=env), 1, "migration(s) 002_orders changed"
        )
    status = dbtools(mdir, "status", "--db", "postgres", env=env).stdout
    assert "changed   002_orders  (file edited after it was applied)" in status
    (mdir / "postgres" / "002_orders.sql").unlink()
    for command in ("migrate", "validate"):
        assert_one_clear_error(
            dbtools(mdir, command, "--db", "postgres", env=env), 1, "migration(s) 002_orders are missing"
        )
    assert "missing   002_orders  (applied, file gone)" in dbtools(mdir, "status", "--db", "postgres", env=env).stdout
    repaired = dbtools(mdir, "repair", "--db", "postgres", env=env)
    assert "forgotten   002_orders" in repaired.stdout and "the database keeps what it applied" in repaired.stdout
    (mdir / "postgres" / "003_bad.sql").write_text(
        "-- dbtools:no-transaction\nCREATE TABLE t3 (id int);\nSELECT 1/0;\n"
    )
    assert dbtools(mdir, "migrate", "--db", "postgres", env=env).returncode == 1
    status = dbtools(mdir, "status", "--db", "postgres", env=env).stdout
    assert "failed    003_bad: statement 1 of 2 stayed applied; " in status, status
    assert "pending   003_bad" not in status  # said once, with where it stopped
    assert_one_clear_error(dbtools(mdir, "rollback", "--steps", "1", "--db", "postgres", env=env), 1, "003_bad")


def test_repair_says_what_it_accepted_and_that_the_database_keeps_it(pg: Settings, mdir: Path) -> None:
    env = url_env(pg)
    assert dbtools(mdir, "migrate", "--db", "postgres", env=env).returncode == 0
    (mdir / "postgres" / "001_users.sql").write_text("CREATE TABLE users (id bigint);\n")
    done = dbtools(mdir, "repair", "--db", "postgres", env=env)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if "001_users" in line)
    assert line.startswith("postgres: accepted    001_users") and "the database keeps what the earlier text" in line
    assert dbtools(mdir, "validate", "--db", "postgres", env=env).returncode == 0


def test_status_exit_code_for_ci(pg: Settings, mdir: Path) -> None:
    env = url_env(pg)
    assert dbtools(mdir, "status", env=env).returncode == 0  # pending alone is no failure without the flag
    assert dbtools(mdir, "status", "--exit-code", env=env).returncode == 1
    assert dbtools(mdir, "status", "--exit-code", "--json", env=env).returncode == 1
    assert dbtools(mdir, "migrate", env=env).returncode == 0
    assert dbtools(mdir, "status", "--exit-code", env=env).returncode == 0
    (mdir / "postgres" / "002_orders.sql").unlink()
    assert dbtools(mdir, "status", "--exit-code", env=env).returncode == 1


# -- one store down -------------------------------------------------------------------------------


@pytest.fixture
def two_stores(servers: Servers, mdir: Path) -> dict[str, str]:
    """postgres and redis reachable, mongodb on a port that refuses, each with a migration."""
    (mdir / "redis").mkdir()
    (mdir / "redis" / "001_mark.py").write_text("def up(r):\n    r.set('marked', '1')\n")
    (mdir / "mongodb").mkdir()
    (mdir / "mongodb" / "001_configs.py").write_text("def up(db):\n    db.create_collection('configs')\n")
    redis = fresh_settings(servers, "redis")
    pg = fresh_settings(servers, "postgres", create=True)
    # a long server-selection wait in the URL: a refused port must not wait for it
    mongo = f"mongodb://127.0.0.1:{free_port()}/x?serverSelectionTimeoutMS=600000"
    return {**url_env(pg), "REDIS_URL": redis.url, "MONGO_URL": mongo}


@pytest.mark.parametrize("command", ["status", "validate", "migrate"])
def test_one_store_down_never_hides_the_others(two_stores: dict[str, str], mdir: Path, command: str) -> None:
    if command != "migrate":
        assert dbtools(mdir, "migrate", "--db", "postgres,redis", env=two_stores).returncode == 0
    done = dbtools(mdir, command, env=two_stores)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    out = done.stdout + done.stderr
    refused = [line for line in out.splitlines() if "connection refused" in line]
    assert len(refused) == 1 and "mongodb" in refused[0], out
    if command == "status":
        rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:4]}
        assert rows["mongodb"][2] == "unreachable"
        assert rows["postgres"][2] == "002_orders" and rows["redis"][2] == "001_mark"
    elif command == "validate":
        assert "postgres: ok, 2 applied" in done.stdout and "redis: ok, 1 applied" in done.stdout
    else:
        assert "postgres: applied     002_orders" in done.stdout and "redis: applied     001_mark" in done.stdout


def test_invoke_status_reports_every_store_when_one_is_down(two_stores: dict[str, str], mdir: Path) -> None:
    env = {**os.environ, **two_stores, "DBTOOLS_MIGRATIONS_DIR": str(mdir), "DBTOOLS_AUDIT": "off"}
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "status"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()[1:4]] == ["postgres", "mongodb", "redis"]
    assert "postgres: pending   001_users" in done.stdout and "redis: pending   001_mark" in done.stdout


def test_a_store_whose_folder_is_refused_is_an_error_row_not_unreachable(pg: Settings, mdir: Path) -> None:
    """A template left as `new` wrote it stops that store's status (the file is named), but the server
    answered: the row says `error`, not `unreachable`, and --json says reachable."""
    env = url_env(pg)
    assert dbtools(mdir, "new", "--db", "postgres", "add orders table", env=env).returncode == 0
    (mdir / "redis").mkdir()
    done = dbtools(mdir, "status", "--db", "postgres,redis", env={**env, "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:3]}
    assert rows["postgres"][2] == "error" and rows["redis"][2] == "unreachable", done.stdout
    assert "003_add_orders_table.sql has no statements" in done.stdout
    state = json.loads(dbtools(mdir, "status", "--json", "--db", "postgres", env=env).stdout)
    assert state["postgres"]["reachable"] is True and "003_add_orders_table" in state["postgres"]["error"]
