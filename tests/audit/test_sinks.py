"""Audit sinks: every migration of a run leaves one audit row with its outcome; a dead sink only warns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg2
import pytest

from dbtools import runner
from dbtools.audit import AuditTrail, Event, json_reporter
from dbtools.errors import MigrationFailed
from dbtools.sandbox import free_port
from dbtools.settings import Settings
from tests.conftest import Servers, fresh_settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.fixture
def pg(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = fresh_settings(servers, "postgres")
    monkeypatch.setenv("POSTGRES_URL", settings.url)
    monkeypatch.setenv("DBTOOLS_AUDIT", "postgres")
    return settings


def audit_rows(settings: Settings) -> list[tuple]:
    with psycopg2.connect(settings.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT action, entity_type, entity_id, outcome, details FROM audit_logs ORDER BY id")
        return cur.fetchall()


def test_each_migration_leaves_one_audit_row(pg: Settings, tmp_path: Path) -> None:
    shutil.copytree(MIGRATIONS / "postgres", tmp_path / "postgres")
    runner.migrate("postgres", migrations_dir=tmp_path, settings=pg, create_db=True)
    rows = audit_rows(pg)
    assert [(r[0], r[2], r[3]) for r in rows] == [("migrate.applied", str(v), "success") for v in (1, 2, 3)]
    assert rows[0][4]["store"] == "postgres" and rows[0][4]["name"] == "initial_schema"
    (tmp_path / "postgres" / "004_bad.sql").write_text("SELECT no_such_column FROM users;\n")
    with pytest.raises(MigrationFailed):
        runner.migrate("postgres", migrations_dir=tmp_path, settings=pg)
    last = audit_rows(pg)[-1]
    assert (last[0], last[2], last[3]) == ("migrate.failed", "4", "failure")
    assert "no_such_column" in last[4]["error"]
    runner.rollback("postgres", steps=1, migrations_dir=tmp_path, settings=pg)
    assert [(r[0], r[2]) for r in audit_rows(pg)][-1:] == [("rollback.reverted", "3")]


def test_audit_rows_hold_no_secret(servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = fresh_settings(servers, "postgres")
    monkeypatch.setenv("POSTGRES_URL", settings.url)
    monkeypatch.setenv("DBTOOLS_AUDIT", "postgres")
    shutil.copytree(MIGRATIONS / "postgres", tmp_path / "postgres")
    runner.migrate("postgres", migrations_dir=tmp_path, settings=settings, create_db=True)
    text = json.dumps([list(map(str, r)) for r in audit_rows(settings)])
    assert settings.url not in text and "postgres://" not in text


def test_a_sink_that_is_down_is_one_warning(
    pg: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POSTGRES_URL", f"postgres://postgres:pw@127.0.0.1:{free_port()}/x")  # the sink's view
    shutil.copytree(MIGRATIONS / "postgres", tmp_path / "postgres")
    done = runner.migrate("postgres", migrations_dir=tmp_path, settings=pg, create_db=True)
    assert len(done) == 3  # the migration run itself is unaffected
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "audit sink postgres unavailable" in warnings[0]
    assert ":pw@" not in warnings[0]


def test_trail_keeps_only_changing_events() -> None:
    seen: list[Event] = []
    trail = AuditTrail(seen.append, sinks=[])
    for status in ("applied", "up-to-date", "would-apply", "failed", "reverted", "nothing"):
        trail(Event("postgres", "migrate", status, 1, "x"))
    assert len(seen) == 6 and [e.status for e in trail.pending] == ["applied", "failed", "reverted"]


def test_json_lines_for_ci(capsys: pytest.CaptureFixture[str]) -> None:
    json_reporter()(Event("postgres", "migrate", "applied", 3, "users", duration_ms=12))
    assert json.loads(capsys.readouterr().out) == {
        "store": "postgres",
        "action": "migrate",
        "status": "applied",
        "version": 3,
        "name": "users",
        "duration_ms": 12,
    }
