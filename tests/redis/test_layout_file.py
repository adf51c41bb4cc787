"""The Redis key layout is the project's own declaration (migrations/redis/layout.toml), not the tool's:
`check`, the seed and Redis migrations read it from the migrations folder in use."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbtools.backends.redis import RedisBackend
from dbtools.backends.redis.layout import INTERNAL, read
from dbtools.errors import MigrationFileError
from tests.conftest import Servers, fresh_settings

PROJECT_LAYOUT = Path(__file__).resolve().parents[2] / "migrations" / "redis" / "layout.toml"
SEEDED = {
    "candles:{symbol}:{timeframe}": ("list", None, None),
    "indicators:{strategy_id}:{symbol}": ("hash", None, None),
    "sessions:{session_id}": ("hash", True, 86400),
    "limits:{user_id}": ("string", True, 60),
    "queue:calculations": ("list", False, None),
}


def test_the_project_file_declares_the_seeds_five_structures() -> None:
    layout = read(PROJECT_LAYOUT)
    mine = [s for s in layout.structures if s not in INTERNAL]
    assert {s.pattern: (s.type, s.ttl, s.default_ttl) for s in mine} == SEEDED
    assert layout.find("sessions:abc").pattern == "sessions:{session_id}"
    assert layout.find("migration_history") in INTERNAL  # the tool's own keys are declared by the tool


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ('pattern = "a:{x}"\ntype = "lists"\n', "type 'lists'"),
        ('pattern = "a:{x}"\ntype = "list"\nttl = "sometimes"\n', "ttl 'sometimes'"),
        ('pattern = "a:{x}"\ntype = "list"\nexpires = 5\n', "unknown field(s) expires"),
        ('type = "list"\n', "needs a pattern"),
        ('pattern = "a:{x}"\ntype = "list"\nttl = "required"\ndefault_ttl = -1\n', "default_ttl -1"),
        ('pattern = "a:{x}"\ntype = "list"\n[oops\n', "cannot be read"),
    ],
)
def test_a_malformed_declaration_is_one_error_naming_the_file(tmp_path: Path, entry: str, needle: str) -> None:
    path = tmp_path / "layout.toml"
    path.write_text(f"[[key]]\n{entry}")
    with pytest.raises(MigrationFileError) as error:
        read(path)
    assert str(path) in error.value.message and needle in error.value.message, error.value.message


def _check(mdir: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_URL")}
    return subprocess.run(
        [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), "check", "--db", "redis"],
        env={**env, "REDIS_URL": url, "DBTOOLS_AUDIT": "off"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_reads_the_layout_of_the_migrations_folder_and_its_hint_names_the_file(
    servers: Servers, tmp_path: Path
) -> None:
    settings = fresh_settings(servers, "redis")
    backend = RedisBackend(settings)
    backend.connect()
    client = backend.open_client(decode=True)
    try:
        client.set("prices:BTC", "64000")
        (tmp_path / "redis").mkdir()
        shutil.copy(PROJECT_LAYOUT, tmp_path / "redis" / "layout.toml")
        refused = _check(tmp_path, settings.url)
        assert refused.returncode == 1 and "match no declared pattern" in refused.stdout, refused.stdout
        hint = refused.stderr.strip().splitlines()[-1]
        assert hint.endswith(f"declare their pattern in {tmp_path}/redis/layout.toml"), hint
        with open(tmp_path / "redis" / "layout.toml", "a") as layout:
            layout.write('\n[[key]]\npattern = "prices:{symbol}"\ntype = "string"\ndescription = "last price"\n')
        accepted = _check(tmp_path, settings.url)
        assert accepted.returncode == 0 and "redis: ok, no violations" in accepted.stdout, accepted.stdout
    finally:
        client.close()
        backend.close()


def test_a_migration_reads_the_declared_ttl_from_the_file(servers: Servers, tmp_path: Path) -> None:
    settings = fresh_settings(servers, "redis")
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "layout.toml").write_text(
        PROJECT_LAYOUT.read_text().replace("default_ttl = 86400", "default_ttl = 1234")
    )
    (tmp_path / "redis" / "001_expire.py").write_text(
        "from dbtools.redis_layout import SESSIONS\nfrom dbtools.redis_tools import expire_keys\n\n\n"
        "def up(r):\n    expire_keys(r, SESSIONS.pattern, SESSIONS.default_ttl)\n"
    )
    backend = RedisBackend(settings)
    backend.connect()
    client = backend.open_client(decode=True)
    try:
        client.hset("sessions:s1", "user_id", "1")
        env = {k: v for k, v in os.environ.items() if not k.endswith("_URL")}
        done = subprocess.run(
            [sys.executable, "-m", "dbtools", "--migrations-dir", str(tmp_path), "migrate", "--db", "redis"],
            env={**env, "REDIS_URL": settings.url, "DBTOOLS_AUDIT": "off"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert 1200 < client.ttl("sessions:s1") <= 1234
    finally:
        client.close()
        backend.close()
