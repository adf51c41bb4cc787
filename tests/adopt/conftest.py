"""Adoption fixtures: a fresh PostgreSQL database, the real dbmate binary, a CLI runner, SQL helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dbtools.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DBMATE = ROOT / "node_modules" / "@dbmate" / "linux-x64" / "bin" / "dbmate"
MIGRATE_MONGO = ROOT / "node_modules" / ".bin" / "migrate-mongo"
CORPUS = ROOT.parent / "shared" / "corpus"
if not CORPUS.is_dir():  # a worktree next to main: /work/wt/NAME -> /work/shared/corpus
    CORPUS = ROOT.parents[1] / "shared" / "corpus"


@pytest.fixture
def dbmate() -> Path:
    """dbmate's Go binary from the root package.json (`npm install`)."""
    if not DBMATE.exists():
        pytest.skip(f"dbmate is not installed: run `npm install` in {ROOT}")
    return DBMATE


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m dbtools ARGS` with only the given store settings (no audit sinks unless asked)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "CLICKHOUSE_", "MONGO_", "DBTOOLS_"))}
    base["DBTOOLS_AUDIT"] = "off"
    return subprocess.run(
        [sys.executable, "-m", "dbtools", *map(str, args)],
        env={**base, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def invoke(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`invoke ARGS` from the project root (tasks.py), with only the given store settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "DBTOOLS_"))}
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        env={**base, "DBTOOLS_AUDIT": "off", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def pg_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {"POSTGRES_URL": settings.url, **extra}


@contextmanager
def pg_connection(settings: Settings) -> Iterator[Any]:
    """A plain psycopg2 connection in autocommit, the way another tool would hold one."""
    import psycopg2

    conn = psycopg2.connect(
        host=settings.host, port=settings.port, dbname=settings.database, user=settings.user, password=settings.password
    )
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def sql(settings: Settings, statement: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
    with pg_connection(settings) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


def table_exists(settings: Settings, name: str) -> bool:
    return sql(settings, "SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0]


def assert_refused(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 1, exactly one `error:` and one `hint:` line, no traceback; each needle in the error."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder
