"""The native protocol against a real clickhouse-server (Debian's 18.16) started on a free port."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbtools import runner
from dbtools.backends.clickhouse import ClickHouseBackend
from dbtools.backends.clickhouse.sandbox import local_recipe
from dbtools.errors import ConnectionFailed, DatabaseMissing
from dbtools.sandbox import free_port
from dbtools.sandbox.local import LocalSandbox
from dbtools.settings import Settings

from .conftest import clickhouse_env

SECRET = "Sup3r-s3cret-ch"


def dbtools(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dbtools", *args], env=env, capture_output=True, text=True, timeout=60)


def assert_one_clear_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 2, done.stderr
    assert all(line.startswith("hint: ") for line in lines[1:])
    assert "Traceback" not in done.stderr + done.stdout and SECRET not in done.stderr + done.stdout
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[Settings, int]]:
    """A server of our own with a password and a known HTTP port: (settings, http_port)."""
    http_port = free_port()
    try:
        with LocalSandbox("clickhouse", local_recipe, password=SECRET, http_port=http_port) as settings:
            yield settings, http_port
    except Exception as exc:  # MissingDependency: no binary
        pytest.skip(f"no clickhouse-server here: {exc}")


def test_http_port_is_named_as_such(guarded: tuple[Settings, int], tmp_path: Path) -> None:
    settings, http_port = guarded
    (tmp_path / "clickhouse").mkdir()
    env = clickhouse_env(settings.__class__(**{**settings.__dict__, "port": http_port}))
    started = time.monotonic()
    done = dbtools("--migrations-dir", str(tmp_path), "status", "--db", "clickhouse", env=env)
    # the 3 s handshake limit, a 1 s HTTP probe and Python's start: well under the driver's own 300 s wait,
    # with room for a loaded machine (10 s was missed at load 15)
    assert time.monotonic() - started < 20
    assert_one_clear_error(done, "HTTP interface", "CLICKHOUSE_NATIVE_PORT")


def test_wrong_password_is_one_line_without_the_password(guarded: tuple[Settings, int], tmp_path: Path) -> None:
    settings, _ = guarded
    (tmp_path / "clickhouse").mkdir()
    env = clickhouse_env(settings.__class__(**{**settings.__dict__, "password": SECRET + "x"}))
    done = dbtools("--migrations-dir", str(tmp_path), "migrate", "--db", "clickhouse", env=env)
    assert_one_clear_error(done, "authentication failed", "CLICKHOUSE_PASSWORD")
    done = dbtools("--migrations-dir", str(tmp_path), "status", "--db", "clickhouse", env=clickhouse_env(settings))
    assert done.returncode == 0, done.stderr  # the right password works


def test_server_down_and_missing_database(native: Settings, tmp_path: Path) -> None:
    (tmp_path / "clickhouse").mkdir()
    down = native.__class__(**{**native.__dict__, "port": free_port()})
    done = dbtools("--migrations-dir", str(tmp_path), "status", "--db", "clickhouse", env=clickhouse_env(down))
    assert_one_clear_error(done, "connection refused")
    missing = native.with_database(native.database + "_nope")
    with pytest.raises(DatabaseMissing, match="does not exist") as error:
        ClickHouseBackend(missing).connect()
    assert "--create-db" in (error.value.hint or "")
    backend = ClickHouseBackend(missing)
    backend.connect(create_database=True)
    backend.close()
    assert isinstance(error.value, ConnectionFailed)


def test_eight_parallel_runs_apply_each_version_once(native: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "clickhouse"
    folder.mkdir()
    for i in range(1, 21):
        (folder / f"{i:03d}_t{i}.sql").write_text(
            f"CREATE TABLE t{i} (id UInt32, s String) ENGINE = MergeTree ORDER BY id;\n"
            f"INSERT INTO t{i} VALUES (1, 'a;b'), (2, 'it\\'s');\n"
            f"ALTER TABLE t{i} ADD COLUMN n UInt8 DEFAULT 1;\n"
        )
    argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(tmp_path), "migrate", "--db", "clickhouse"]
    env = clickhouse_env(native)
    runs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0] * 8, outputs
    applied = [line for out, _ in outputs for line in out.splitlines() if ": applied" in line]
    assert len(applied) == 20
    backend = ClickHouseBackend(native)
    backend.connect()
    try:
        rows = backend.history()
        assert [(r.version, r.status, r.statements_done) for r in rows] == [(i, "applied", 3) for i in range(1, 21)]
        assert backend.query("SELECT count() FROM t20") == [(2,)]  # INSERT ran once
        assert backend.lock_holder() is None
    finally:
        backend.close()


def test_failure_mid_migration_fix_and_resume(native: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "clickhouse"
    folder.mkdir()
    path = folder / "001_orders.sql"
    statements = [
        "CREATE TABLE orders (id UInt64, price Decimal(18, 4)) ENGINE = ReplacingMergeTree ORDER BY id;",
        "INSERT INTO orders VALUES (1, 10.5);",
        "ALTER TABLE orders ADD COLUMN side Enum8('buy' = 1, 'sell' = 2) DEFAULT 'buy';",
        "ALTER TABLE orders ADD COLUMN broken NoSuchType;",
        "CREATE VIEW order_sides AS SELECT side, count() AS n FROM orders GROUP BY side;",
    ]
    path.write_text(
        "-- migrate:up\n" + "\n".join(statements) + "\n-- migrate:down\nDROP TABLE order_sides;\nDROP TABLE orders;\n"
    )
    env = clickhouse_env(native)
    mdir = ["--migrations-dir", str(tmp_path)]
    done = dbtools(*mdir, "migrate", "--db", "clickhouse", env=env)
    assert_one_clear_error(done, "001_orders.sql line 5, statement 4 of 5", "NoSuchType", "--resume")
    status = dbtools(*mdir, "status", "--db", "clickhouse", env=env)
    assert (
        "failed    001_orders: failed in statement 4 of 5, which may have partly run (no transaction); "
        "statements 1-3 of 5 stayed applied; " in status.stdout
    ), status.stdout
    assert_one_clear_error(dbtools(*mdir, "migrate", "--db", "clickhouse", env=env), "failed in statement 4 of 5")
    path.write_text(path.read_text().replace("NoSuchType", "String DEFAULT ''"))
    done = dbtools(*mdir, "migrate", "--resume", "--rerun-step", "--db", "clickhouse", env=env)
    assert done.returncode == 0 and "resumed at statement 4" in done.stdout, done
    backend = ClickHouseBackend(native)
    backend.connect()
    try:
        assert backend.query("SELECT count() FROM orders") == [(1,)]  # statement 2 did not run twice
        assert [(r.status, r.statements_done) for r in backend.history()] == [("applied", 5)]
    finally:
        backend.close()
    assert runner.rollback("clickhouse", steps=1, migrations_dir=tmp_path, settings=native) == [1]
    assert dbtools(*mdir, "status", "--db", "clickhouse", env=env).returncode == 0


def test_editing_done_statements_blocks_resume(native: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "clickhouse"
    folder.mkdir()
    path = folder / "001_x.sql"
    path.write_text("CREATE TABLE x (id UInt8) ENGINE = Memory;\nSELECT * FROM nope;\n")
    with pytest.raises(Exception, match="statement 2 of 2"):
        runner.migrate("clickhouse", migrations_dir=tmp_path, settings=native)
    path.write_text("CREATE TABLE x (id UInt16) ENGINE = Memory;\nSELECT 1;\n")
    with pytest.raises(Exception, match="were edited since"):
        runner.migrate("clickhouse", migrations_dir=tmp_path, settings=native, resume=True)
    assert runner.repair("clickhouse", migrations_dir=tmp_path, settings=native)
    assert runner.status("clickhouse", migrations_dir=tmp_path, settings=native)["pending"] == [1]
