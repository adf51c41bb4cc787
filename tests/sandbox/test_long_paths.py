"""Throwaway servers start wherever the temporary folder is, however deep (nox puts TMPDIR in the checkout)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from dbtools.sandbox import start


def test_postgres_sandbox_starts_under_a_folder_too_long_for_a_unix_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    if not (Path("/usr/lib/postgresql").exists() or shutil.which("initdb")):
        pytest.skip("no PostgreSQL server binaries here")
    deep = Path(tempfile.mkdtemp(prefix="dbtools-", dir="/tmp")) / ("a-rather-long-checkout-folder-" * 3)
    deep.mkdir(parents=True)
    for folder in (deep, *deep.parents):
        if folder == Path("/tmp"):
            break
        folder.chmod(0o755)  # as root, the server runs as the postgres user
    assert len(str(deep)) + len("/dbtools-postgres-xxxxxxxx/.s.PGSQL.65535") > 107
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    try:
        with start("postgres", "local") as settings:
            import psycopg2

            with psycopg2.connect(settings.with_database("postgres").url) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
                assert cur.fetchone() == (1,)
    finally:
        shutil.rmtree(deep.parents[0], ignore_errors=True)
