"""`dbtools.verify`: the migration tests on a real throwaway PostgreSQL, with a real git history."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dbtools.sandbox import docker_available
from dbtools.verify import diff, migration_tests
from tests.conftest import Servers

ROOT = Path(__file__).resolve().parents[2]

ONE = """-- migrate:up
CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL);
-- migrate:down
DROP TABLE accounts;
"""
TWO = """-- migrate:up
CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts (id));
CREATE INDEX orders_account ON orders (account_id);
-- migrate:down
DROP TABLE orders;
"""
THREE = """-- migrate:up
ALTER TABLE orders ADD COLUMN amount numeric(18, 8) NOT NULL DEFAULT 0;
-- migrate:down
ALTER TABLE orders DROP COLUMN amount;
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo), *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose release v1.0 has 001 and 002; 003 came after the release."""
    folder = tmp_path / "repo" / "migrations" / "postgres"
    folder.mkdir(parents=True)
    (folder / "001_accounts.sql").write_text(ONE)
    (folder / "002_orders.sql").write_text(TWO)
    git(tmp_path / "repo", "init", "-q")
    git(tmp_path / "repo", "add", ".")
    git(tmp_path / "repo", "commit", "-q", "-m", "release")
    git(tmp_path / "repo", "tag", "v1.0")
    (folder / "003_amount.sql").write_text(THREE)
    return tmp_path / "repo"


def test_good_history_passes_every_check(repo: Path, servers: Servers) -> None:
    report = migration_tests("postgres", servers.get("postgres"), migrations_dir=repo / "migrations")
    text = report.render()
    assert report.ok, text
    assert [c.ok for c in report.checks] == [True, True, True, True], text
    assert "previous release v1.0 + current: 2 released + 1 new (003_amount)" in text


def test_incomplete_down_section_is_named_with_the_difference(repo: Path, servers: Servers) -> None:
    (repo / "migrations/postgres/002_orders.sql").write_text(TWO.replace("DROP TABLE orders;", "SELECT 1;"))
    report = migration_tests("postgres", servers.get("postgres"), migrations_dir=repo / "migrations")
    failed = [c for c in report.checks if c.ok is False]
    assert len(failed) == 1 and failed[0].name == "rollback"
    assert "down section of 002_orders does not restore the schema" in failed[0].detail
    assert "only in after its rollback" in failed[0].detail and "orders" in failed[0].detail


def test_released_migration_edited_afterwards_fails_the_previous_release_check(repo: Path, servers: Servers) -> None:
    (repo / "migrations/postgres/001_accounts.sql").write_text(ONE.replace("name text", "name varchar(80)"))
    report = migration_tests("postgres", servers.get("postgres"), migrations_dir=repo / "migrations")
    check = report.checks[1]
    assert check.name == "previous release v1.0 + current" and check.ok is False
    assert "changed on disk" in check.detail and "001_accounts" in check.detail
    hint = check.detail.splitlines()[-1]
    assert hint.startswith("hint: 001_accounts, released in v1.0, was edited since"), hint
    assert "repair" not in check.detail and "--resume" not in check.detail  # no database to repair here


def test_failing_migration_is_named_and_later_checks_skip(repo: Path, servers: Servers) -> None:
    (repo / "migrations/postgres/003_amount.sql").write_text(THREE.replace("orders", "no_such_table", 1))
    report = migration_tests("postgres", servers.get("postgres"), migrations_dir=repo / "migrations")
    assert report.checks[0].ok is False
    assert "003_amount failed" in report.checks[0].detail and "no_such_table" in report.checks[0].detail
    assert [c.ok for c in report.checks[1:]] == [None, None]


def test_missing_down_section_skips_the_round_trip_naming_the_file(repo: Path, servers: Servers) -> None:
    (repo / "migrations/postgres/003_amount.sql").write_text(THREE.split("-- migrate:down")[0])
    report = migration_tests("postgres", servers.get("postgres"), migrations_dir=repo / "migrations")
    assert report.ok
    assert report.checks[-1].ok is None and "003_amount" in report.checks[-1].detail


def test_command_line_reports_and_exits_by_outcome(repo: Path) -> None:
    cmd = [sys.executable, "-m", "dbtools.verify", "--db", "postgres", "--migrations-dir", str(repo / "migrations")]
    good = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "postgres: passed" in good.stdout
    (repo / "migrations/postgres/002_orders.sql").write_text(TWO.replace("DROP TABLE orders;", "SELECT 1;"))
    bad = subprocess.run([*cmd, "--previous", "v1.0"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "FAIL  rollback: the down section of 002_orders" in bad.stdout
    unknown = subprocess.run([*cmd, "--previous", "v9.9"], cwd=ROOT, capture_output=True, text=True)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: --previous v9.9: no such tag")


@pytest.mark.skipif(docker_available(), reason="a Docker engine answers here")
def test_store_without_a_sandbox_becomes_a_skip_for_nox(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "skipped"
    cmd = [sys.executable, "-m", "dbtools.verify", "--db", "postgres", "--provider", "docker"]
    plain = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert plain.returncode == 1 and "no store could be verified" in plain.stderr
    nox_way = subprocess.run([*cmd, "--skipped-file", str(marker)], cwd=ROOT, capture_output=True, text=True)
    assert nox_way.returncode == 0
    assert "no Docker engine answers" in marker.read_text()


def test_diff_names_rows_and_keys_on_one_side_only() -> None:
    before = {"tables": [["public.a", "id", "bigint"]], "indexes": []}
    after = {"tables": [["public.a", "id", "bigint"], ["public.a", "x", "text"]], "views": []}
    lines = diff(before, after, labels=("before", "after"))
    assert lines == [
        "indexes: only in before: []",
        'tables: only in after: ["public.a", "x", "text"]',
        "views: only in after: []",
    ]
    assert diff({"a": 1}, {"a": 2}) == ["a: expected 1, actual 2"]
    assert diff(before, before) == []
