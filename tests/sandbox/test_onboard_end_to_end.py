"""scripts/onboard.sh end to end on a machine with no Docker engine and no mongod: all four stores come
up (MongoDB as SecantusDB from the dev requirements), migrated and seeded; `down` stops them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ONBOARD = ROOT / "scripts" / "onboard.sh"
DEAD = "127.0.0.1:1"  # the stack's configured addresses must not answer: the script starts its own servers


def _run(*args: str, sandbox: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_URL") and k != "DBTOOLS_AUDIT"}
    env.update(
        DBTOOLS_ONBOARD_NO_DOCKER="1",
        ONBOARD_VENV=sys.prefix,
        DBTOOLS_SANDBOX_DIR=str(sandbox),
        ONBOARD_ENV_FILE=str(sandbox / ".env"),
        POSTGRES_URL=f"postgres://postgres@{DEAD}/trading_users",
        REDIS_URL=f"redis://{DEAD}/0",
        MONGO_URL=f"mongodb://{DEAD}/trading_meta",
        PATH=os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "mongod").exists()),
    )
    return subprocess.run(
        ["bash", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
def test_onboarding_without_docker_or_mongod_migrates_and_seeds_all_four(sandbox_dir: Path) -> None:
    if shutil.which("uv") is None and not (Path(sys.prefix) / "bin" / "uv").exists():
        pytest.skip("the script installs into the test venv with uv (requirements-dev.txt); pip would take minutes")
    try:
        done = _run(str(ONBOARD), sandbox=sandbox_dir, timeout=600)
        log = (sandbox_dir / "onboard.log").read_text() if (sandbox_dir / "onboard.log").exists() else ""
        assert done.returncode == 0, done.stdout + done.stderr + log
        out = done.stdout
        assert "mongodb: started its own server" in out
        assert "SecantusDB, a MongoDB-compatible development server, not mongod" in out
        for store in ("postgres", "clickhouse", "mongodb", "redis"):
            assert f"{store} seeded" in out, out + log
            assert (sandbox_dir / f"seeded-{store}").exists()
        env_file = sandbox_dir / ".env"
        status = subprocess.run(
            [sys.executable, "-m", "dbtools", "--env-file", str(env_file), "status", "--json"],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if not k.endswith("_URL")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        for store in ("postgres", "clickhouse", "mongodb", "redis"):
            assert report[store]["applied"] and report[store]["pending"] == [], report[store]
    finally:
        stopped = _run(str(ONBOARD), "down", sandbox=sandbox_dir, timeout=120)
    assert "mongodb: stopped" in stopped.stdout
    pid = (sandbox_dir / "mongodb" / "server.pid").read_text().strip()
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
