"""The developer stack: compose file and env file agree, and the onboarding script's pieces work for real."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbtools import envfile

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = (ROOT / "docker" / "docker-compose.yml").read_text()
ENV = envfile.read(ROOT / "docker" / "env.local")
ONBOARD = ROOT / "scripts" / "onboard.sh"


def _service(name: str) -> str:
    """The text of one service block of the compose file."""
    match = re.search(rf"^  {name}:\n((?:    .*\n|\n)+)", COMPOSE, re.MULTILINE)
    assert match, f"no service {name} in docker-compose.yml"
    return match.group(1)


@pytest.mark.parametrize("store", ["postgres", "clickhouse", "mongodb", "redis"])
def test_compose_runs_each_store_pinned_with_healthcheck_and_named_volume(store: str) -> None:
    block = _service(store)
    image = re.search(r"image: (\S+)", block)
    assert image and ":" in image.group(1) and not image.group(1).endswith(":latest")
    assert "healthcheck:" in block and "test:" in block
    volume = re.search(r"- (\w+):/", block)
    assert volume and re.search(rf"^  {volume.group(1)}:$", COMPOSE, re.MULTILINE), "named volume declared at the end"
    assert "127.0.0.1:${" in block  # published on loopback at the env file's port


def test_clickhouse_native_port_is_published_as_9002() -> None:
    assert '"127.0.0.1:${CLICKHOUSE_NATIVE_PORT:-9002}:9000"' in _service("clickhouse")
    assert ENV["CLICKHOUSE_NATIVE_PORT"] == "9002"


def test_every_compose_variable_comes_from_env_local_or_has_a_default() -> None:
    used = set(re.findall(r"(?<!\$)\$\{(\w+)(:-[^}]*)?\}", COMPOSE))
    assert used
    for name, default in used:
        assert name in ENV or default, f"{name} is neither in docker/env.local nor defaulted"
    for name, value in ENV.items():
        assert "$" not in value, f"{name}: compose would expand the $ that dbtools keeps"


def test_onboard_script_parses_and_is_shellcheck_clean() -> None:
    subprocess.run(["bash", "-n", str(ONBOARD)], check=True)
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    done = subprocess.run(["shellcheck", str(ONBOARD)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def _onboard(function_calls: str, sandbox: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ONBOARD_LIBRARY": "1",
        "ONBOARD_VENV": sys.prefix,
        "DBTOOLS_SANDBOX_DIR": str(sandbox),
        "ONBOARD_ENV_FILE": str(sandbox / ".env"),
    }
    script = f"source {ONBOARD}; {function_calls}"
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=90)


@pytest.mark.parametrize(
    ("store", "start", "binary"),
    [
        ("postgres", "local_postgres", "pg_ctl"),
        ("redis", "local_redis", "redis-server"),
        ("mongodb", "local_mongodb", "secantusd-py"),
    ],
)
def test_own_server_starts_once_then_is_left_alone_and_stops(
    store: str, start: str, binary: str, sandbox_dir: Path
) -> None:
    if store == "postgres" and not (Path("/usr/lib/postgresql").exists() or shutil.which("initdb")):
        pytest.skip("no PostgreSQL server binaries here")
    if shutil.which(binary) is None and store == "redis":
        pytest.skip("no redis-server here")
    if store == "mongodb" and shutil.which("mongod") is None:  # then SecantusDB from the dev requirements
        assert (Path(sys.prefix) / "bin" / binary).exists(), "requirements-dev.txt brings secantusd-py"
    calls = (
        f'{start}; read -r _ port <<<"${{STARTED[0]}}"; wait_port "$port" 30 && echo REACHABLE; {start}; '
        'printf "%s\\n" "${NOTES[@]}"; '
        'echo "CHANGES=${#CHANGES[@]}"'
    )
    try:
        done = _onboard(calls, sandbox_dir)
        out = done.stdout
        assert done.returncode == 0, out + done.stderr
        assert f"{store}: started its own server" in out
        assert "REACHABLE" in out
        assert f"{store}: own server running" in out and "CHANGES=1" in out  # the second call changed nothing
        if store == "mongodb" and shutil.which("mongod") is None:
            assert "SecantusDB, a MongoDB-compatible development server, not mongod" in out
        lines = (sandbox_dir / ".env").read_text().splitlines()
        assert len(lines) == 1 and lines[0].startswith(("POSTGRES_URL=", "REDIS_URL=", "MONGO_URL="))
        assert envfile.read(sandbox_dir / ".env")  # what it wrote reads back as every front reads it
    finally:
        stopped = _onboard("stop_own_servers", sandbox_dir)
    assert f"{store}: stopped" in stopped.stdout


def test_embedded_clickhouse_address_is_an_absolute_chdb_url(sandbox_dir: Path) -> None:
    pytest.importorskip("chdb")
    done = _onboard("local_clickhouse; local_clickhouse", sandbox_dir)
    assert done.returncode == 0, done.stderr
    assert (sandbox_dir / ".env").read_text() == f"CLICKHOUSE_URL=chdb://{sandbox_dir}/clickhouse\n"


def test_onboard_help_prints_usage_only(tmp_path: Path) -> None:
    env = {**os.environ, "ONBOARD_VENV": str(tmp_path / "venv"), "DBTOOLS_SANDBOX_DIR": str(tmp_path / "sb")}
    done = subprocess.run([str(ONBOARD), "--help"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("usage: scripts/onboard.sh [up | down | --help]\n")
    assert "set -" not in done.stdout and "onboard:" not in done.stdout
    assert not (tmp_path / "venv").exists() and not (tmp_path / "sb").exists()  # nothing was set up
