"""Bad input: one clear line, a non-zero exit, no traceback, and the target untouched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from dbtools import backends, backup, runner
from dbtools.sandbox import start
from dbtools.settings import Settings
from tests.backup.conftest import (
    CH_MIGRATIONS,
    MIGRATIONS,
    PG_MIGRATIONS,
    cli,
    env_for,
    pg_tables,
    write_migrations,
)
from tests.cli.test_cli import SECRET, assert_one_clear_error
from tests.conftest import Servers, fresh_settings


@pytest.fixture(scope="module")
def pg_backup(pg_source: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return backup.backup("postgres", tmp_path_factory.mktemp("b"), settings=pg_source, migrations_dir=MIGRATIONS)


@pytest.fixture
def damaged(pg_backup: Path, tmp_path: Path) -> Path:
    copy = tmp_path / pg_backup.name
    shutil.copytree(pg_backup, copy)
    return copy


def untouched(settings: Settings) -> bool:
    """The target database was never created, or holds nothing."""
    backend = backends.load(settings.store)(settings)
    try:
        backend.connect()
    except Exception:
        return True  # still missing
    try:
        return backend.is_empty()
    finally:
        backend.close()


@pytest.fixture
def mount(tmp_path: Path) -> Iterator:
    """mount(options) -> a tmpfs folder with those options, unmounted afterwards; skips where refused."""
    mounted: list[Path] = []

    def make(options: str) -> Path:
        folder = tmp_path / f"mnt{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not root'})")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


def test_unwritable_backup_folder(pg_source: Settings, mount) -> None:
    readonly = mount("ro,size=1m")
    done = cli("backup", "--db", "postgres", "--to", str(readonly / "backups"), env=env_for(pg_source))
    assert_one_clear_error(done, 1, "not writable", str(readonly))
    assert not os.listdir(readonly)


def test_disk_filling_during_the_backup_leaves_no_folder(servers: Servers, mount) -> None:
    source = fresh_settings(servers, "redis")
    r = backends.load("redis")(source)
    r.connect()
    for i in range(3):
        r.open_client(decode=False).set(f"blob:{i}", os.urandom(700_000))
    r.close()
    small = mount("size=1m")
    done = cli("backup", "--db", "redis", "--to", str(small), env=env_for(source))
    assert_one_clear_error(done, 1, "no space left")
    assert not os.listdir(small)  # the partial folder was removed


def test_disk_filling_under_pg_dump(pg_source: Settings, servers: Servers, mount) -> None:
    source = fresh_settings(servers, "postgres")
    runner.migrate("postgres", migrations_dir=MIGRATIONS, settings=source, create_db=True)
    with psycopg2.connect(source.url) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE filler AS SELECT md5(random()::text) || md5(random()::text) AS v "
            "FROM generate_series(1, 60000)"
        )
    small = mount("size=1m")
    done = cli("backup", "--db", "postgres", "--to", str(small), env=env_for(source))
    assert_one_clear_error(done, 1, "no space left")
    assert not os.listdir(small)


@pytest.mark.parametrize("how", ["truncated", "edited"])
def test_damaged_file_is_refused(damaged: Path, servers: Servers, how: str) -> None:
    dump = damaged / "postgres.dump"
    data = bytearray(dump.read_bytes())
    if how == "truncated":
        dump.write_bytes(data[: len(data) // 2])
    else:
        data[len(data) // 2] ^= 0xFF
        dump.write_bytes(bytes(data))
    target = fresh_settings(servers, "postgres")
    done = cli("restore", "--db", "postgres", "--from", str(damaged), env=env_for(target))
    assert_one_clear_error(done, 1, "is damaged", "postgres.dump")
    assert untouched(target)


def test_missing_manifest_is_refused(damaged: Path, servers: Servers) -> None:
    (damaged / "manifest.json").unlink()
    target = fresh_settings(servers, "postgres")
    done = cli("restore", "--db", "postgres", "--from", str(damaged), env=env_for(target))
    assert_one_clear_error(done, 1, "no manifest.json")
    assert untouched(target)


def test_backup_newer_than_the_migrations_folder_is_refused(pg_backup: Path, servers: Servers, tmp_path: Path):
    older = write_migrations(tmp_path / "m", "postgres", dict(list(PG_MIGRATIONS.items())[:2]))
    target = fresh_settings(servers, "postgres")
    done = cli(
        "restore", "--db", "postgres", "--from", str(pg_backup), "--migrations-dir", str(older), env=env_for(target)
    )
    assert_one_clear_error(done, 1, "at migration version 3", "only goes up to 2")
    assert untouched(target)


def test_non_empty_target_needs_force(pg_backup: Path, pg_source: Settings, servers: Servers) -> None:
    target = fresh_settings(servers, "postgres")
    migrations = write_migrations(Path(str(pg_backup) + "-m"), "postgres", PG_MIGRATIONS)
    runner.migrate("postgres", migrations_dir=migrations, settings=target, create_db=True)
    before = pg_tables(target)
    done = cli("restore", "--db", "postgres", "--from", str(pg_backup), env=env_for(target))
    assert_one_clear_error(done, 2, "is not empty", "--force")
    assert pg_tables(target) == before
    done = cli("restore", "--db", "postgres", "--from", str(pg_backup), "--force", env=env_for(target))
    assert done.returncode == 0, done.stderr
    assert pg_tables(target) == pg_tables(pg_source)  # replaced, nothing of the old tables left


def test_migrate_backup_first_and_records_the_folder(servers: Servers, tmp_path: Path, mount) -> None:
    migrations = write_migrations(tmp_path / "m", "postgres", PG_MIGRATIONS)
    target = fresh_settings(servers, "postgres")
    env = env_for(target)
    readonly = mount("ro,size=1m")
    done = cli(
        "migrate",
        "--db",
        "postgres",
        "--create-db",
        "--backup",
        str(readonly),
        "--migrations-dir",
        str(migrations),
        env=env,
    )
    assert_one_clear_error(done, 1, "not writable")
    assert runner.status("postgres", migrations_dir=migrations, settings=target)["applied"] == []

    done = cli(
        "migrate",
        "--db",
        "postgres",
        "--backup",
        str(tmp_path / "b"),
        "--json",
        "--migrations-dir",
        str(migrations),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    saved = [e for e in events if e["action"] == "backup"]
    assert saved and saved[0]["status"] == "saved" and Path(saved[0]["detail"]).is_dir()
    assert Path(saved[0]["detail"]).name.endswith("-v0") and events[-1]["version"] == 3


def test_disk_filling_under_chdb_backup(chdb_dir: Settings, mount, tmp_path: Path) -> None:
    migrations = write_migrations(tmp_path / "m", "clickhouse", CH_MIGRATIONS)
    source = chdb_dir.with_database("full_src")
    runner.migrate("clickhouse", migrations_dir=migrations, settings=source, create_db=True)
    b = backends.load("clickhouse")(source)
    b.connect()
    b.query("INSERT INTO full_src.orders (id, symbol, side) SELECT number, randomString(40), 1 FROM numbers(100000)")
    b.close()
    small = mount("size=1m")
    with pytest.raises(backup.BackupFailed, match="no space left"):
        backup.backup("clickhouse", small, settings=source, migrations_dir=migrations)
    assert not os.listdir(small)


def test_password_is_never_in_output_or_manifest(tmp_path: Path) -> None:
    with start("postgres", "local", password=SECRET) as settings:
        runner.migrate("postgres", migrations_dir=MIGRATIONS, settings=settings)
        done = cli("backup", "--db", "postgres", "--to", str(tmp_path), env=env_for(settings))
        assert done.returncode == 0, done.stderr
        folder = Path(done.stdout.strip().splitlines()[-1])
        assert SECRET not in done.stdout + done.stderr + (folder / "manifest.json").read_text()
        wrong = {"POSTGRES_URL": settings.url.replace(SECRET, SECRET + "x")}
        assert_one_clear_error(cli("backup", "--db", "postgres", "--to", str(tmp_path), env=wrong), 1)
