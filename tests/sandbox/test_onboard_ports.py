"""Two onboardings at once (two checkouts, or two CI runs, on one machine) each end with servers of their
own on distinct ports and .env addresses that reach their own server; a port another program took before
our server could listen on it is left for another free one. scripts/onboard.sh's functions, run for real."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
import redis

from dbtools import envfile
from dbtools.sandbox import free_port

ROOT = Path(__file__).resolve().parents[2]


def _checkout(base: Path, name: str, kept: dict[str, int]) -> Path:
    """A copy of what onboarding's server functions need, whose .sandbox kept `kept` ports (store -> port)
    from an earlier run, as two checkouts onboarded before may both have."""
    root = base / name
    for relative in ("scripts/onboard.sh", "docker/env.local"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, root / relative)
    for store, port in kept.items():
        (root / ".sandbox" / store).mkdir(parents=True)
        (root / ".sandbox" / store / "port").write_text(f"{port}\n")
    (root / ".sandbox").chmod(0o755)
    return root


def _onboarding(root: Path, calls: str, lock: Path) -> subprocess.Popen[str]:
    drop = ("DBTOOLS_SANDBOX_DIR", "ONBOARD_ENV_FILE", "DBTOOLS_AUDIT")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_URL") and k not in drop}
    env.update(ONBOARD_LIBRARY="1", ONBOARD_VENV=sys.prefix, ONBOARD_PORT_LOCK=str(lock))
    script = f"source {root / 'scripts' / 'onboard.sh'}; {calls}"
    return subprocess.Popen(["bash", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(root: Path, lock: Path) -> None:
    stopping = _onboarding(root, "stop_own_servers", lock)
    stopping.communicate(timeout=60)


def _holds_file(pid: int, path: Path) -> bool:
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:
            continue
    return False


def _servers_or_skip(*binaries: str) -> None:
    if not (Path("/usr/lib/postgresql").exists() or shutil.which("initdb")):
        pytest.skip("no PostgreSQL server binaries here")
    for binary in binaries:
        if shutil.which(binary) is None:
            pytest.skip(f"no {binary} here")


def test_two_onboardings_at_once_each_get_their_own_servers(sandbox_dir: Path) -> None:
    _servers_or_skip("redis-server")
    kept = {"postgres": free_port(), "redis": free_port()}  # both checkouts kept the same ports
    roots = [_checkout(sandbox_dir, name, kept) for name in ("one", "two")]
    lock = sandbox_dir / "ports.lock"
    try:
        runs = [_onboarding(root, "local_postgres && local_redis", lock) for root in roots]
        for run in runs:
            out, err = run.communicate(timeout=180)
            assert run.returncode == 0, out + err
        urls = [envfile.read(root / ".env") for root in roots]
        for store, variable in (("postgres", "POSTGRES_URL"), ("redis", "REDIS_URL")):
            ports = {url[variable].rsplit(":", 1)[1].split("/")[0] for url in urls}
            assert len(ports) == 2, f"both checkouts' {store} on one port: {urls}"
        for root, url in zip(roots, urls, strict=True):
            sandbox = root / ".sandbox"
            client = redis.Redis.from_url(url["REDIS_URL"], decode_responses=True)
            try:
                assert client.config_get("dir")["dir"] == str(sandbox / "redis"), url  # our server, not theirs
            finally:
                client.close()
            conn = psycopg2.connect(url["POSTGRES_URL"].rsplit("/", 1)[0] + "/postgres")
            try:
                with conn.cursor() as cur:
                    cur.execute("SHOW data_directory")
                    assert cur.fetchone() == (str(sandbox / "postgres" / "data"),), url
            finally:
                conn.close()
            # the servers never inherited the lock's descriptor (they would hold the lock while they run)
            for pid in ((sandbox / "redis" / "redis.pid"), (sandbox / "postgres" / "data" / "postmaster.pid")):
                assert not _holds_file(int(pid.read_text().split()[0]), lock), pid
        if shutil.which("flock"):
            assert subprocess.run(["flock", "-n", str(lock), "true"], check=False).returncode == 0
    finally:
        for root in roots:
            _stop(root, lock)


def test_a_kept_port_another_program_holds_is_left_for_a_free_one(sandbox_dir: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server here")
    with socket.socket() as held:  # bound, not listening: nothing answers there, yet no server can bind it
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        root = _checkout(sandbox_dir, "one", {"redis": taken})
        lock = sandbox_dir / "ports.lock"
        try:
            run = _onboarding(root, "local_redis", lock)
            out, err = run.communicate(timeout=120)
            assert run.returncode == 0, out + err
            url = envfile.read(root / ".env")["REDIS_URL"]
            assert f":{taken}/" not in url, url
            client = redis.Redis.from_url(url, decode_responses=True)
            try:
                assert client.config_get("dir")["dir"] == str(root / ".sandbox" / "redis")
            finally:
                client.close()
            log = (root / ".sandbox" / "onboard.log").read_text()
            assert f"redis: port {taken} was taken by another program" in log, log
        finally:
            _stop(root, lock)
