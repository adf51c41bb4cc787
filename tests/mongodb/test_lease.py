"""MongoDB on the real server: a runner paused past its lease never records success (issue 13 item 3;
the history write is conditioned on the lock document, in one transaction where the server has them),
and a script step killed half-way is interrupted there, never re-run silently (item 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dbtools.backends.mongodb import MongoBackend
from dbtools.settings import Settings

PAUSE_WHILE_LOADING = """
import os, pathlib, time

if os.environ.get("LOADING_MARK"):
    pathlib.Path(os.environ["LOADING_MARK"]).write_text("loading")
    time.sleep(1.0)


def up(db):
    db.counters.update_one({"_id": "runs"}, {"$inc": {"n": 1}}, upsert=True)
"""

INC_THEN_HANG = """
import os, time


def up(db):
    db.counters.update_one({"_id": "runs"}, {"$inc": {"n": 1}}, upsert=True)
    if os.environ.get("HANG"):
        time.sleep(120)
"""


def env_for(mongo: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DBTOOLS_"))}
    env.pop("LOADING_MARK", None)
    env.pop("HANG", None)
    return {
        **env,
        "DBTOOLS_AUDIT": "off",
        "MONGO_URL": f"mongodb://{mongo.host}:{mongo.port}/{mongo.database}",
        **extra,
    }


def argv(mdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dbtools", "--no-env-file", "--migrations-dir", str(mdir), *args]


def folder(tmp_path: Path, text: str) -> Path:
    (tmp_path / "mongodb").mkdir()
    (tmp_path / "mongodb" / "001_count.py").write_text(text)
    return tmp_path


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def killed_when(command: list[str], env: dict[str, str], condition: Callable[[], object], what: str) -> None:
    """Run `command` with HANG set and kill it (SIGKILL) once `condition` holds."""
    run = subprocess.Popen(command, env={**env, "HANG": "1"}, stderr=subprocess.PIPE)
    try:
        wait_for(condition, what)
        os.kill(run.pid, signal.SIGKILL)
        run.wait(30)
    finally:
        run.kill()
        run.wait()


def runs(backend: MongoBackend) -> int:
    doc = backend.db.counters.find_one({"_id": "runs"})
    return doc["n"] if doc else 0


def test_a_runner_paused_past_its_lease_never_records_success(mongo: Settings, tmp_path: Path) -> None:
    mdir = folder(tmp_path, PAUSE_WHILE_LOADING)
    env = env_for(mongo, MONGO_LOCK_TTL="1")
    backend = MongoBackend(mongo)
    backend.connect(create_database=True)
    mark = tmp_path / "loading"
    first = subprocess.Popen(
        argv(mdir, "migrate", "--db", "mongodb"),
        env={**env, "LOADING_MARK": str(mark)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(mark.exists, "the first run to hold the lock and load the file")
        os.kill(first.pid, signal.SIGSTOP)  # no heartbeat while frozen
        wait_for(lambda: backend.lock_holder() is None, "the frozen run's lease to expire")
        second = subprocess.run(argv(mdir, "migrate", "--db", "mongodb"), env=env, capture_output=True, text=True)
        assert second.returncode == 0, second.stderr
        os.kill(first.pid, signal.SIGCONT)
        out, err = first.communicate(timeout=60)
    finally:
        first.kill()
        first.wait()
    try:
        assert first.returncode == 1 and "Traceback" not in err, err
        (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
        assert "mongodb: this run lost the migration lock" in error and "was not recorded as applied" in error
        assert "applied" not in out
        assert runs(backend) == 1  # exactly one run applied it
        (row,) = backend.history()
        assert (row.status, row.statements_done) == ("applied", 1)
    finally:
        backend.close()


def test_a_step_killed_half_way_is_interrupted_there(mongo: Settings, tmp_path: Path) -> None:
    mdir = folder(tmp_path, INC_THEN_HANG)
    env = env_for(mongo, MONGO_LOCK_TTL="5")  # the killed run's lock lapses in seconds, not the default half-minute
    backend = MongoBackend(mongo)
    backend.connect(create_database=True)
    killed_when(argv(mdir, "migrate", "--db", "mongodb"), env, lambda: runs(backend) == 1, "the step's $inc")
    try:
        status = subprocess.run(
            argv(mdir, "status", "--json", "--db", "mongodb"), env=env, capture_output=True, text=True
        )
        (row,) = json.loads(status.stdout)["mongodb"]["unfinished"]
        assert (row["state"], row["in_step"]) == ("interrupted", 1)
        again = subprocess.run(argv(mdir, "migrate", "--db", "mongodb"), env=env, capture_output=True, text=True)
        assert again.returncode == 1 and "interrupted in statement 1 of 1" in again.stderr, again.stderr
        done = subprocess.run(
            argv(mdir, "migrate", "--resume", "--skip-step", "--db", "mongodb"), env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert runs(backend) == 1  # never run twice
    finally:
        backend.close()


def test_a_rollback_killed_half_way_is_interrupted_there(mongo: Settings, tmp_path: Path) -> None:
    # the down function decrements, then hangs: killed there, history must not say "applied" (a plain
    # rollback would decrement again); `rollback --resume --skip-step` finishes it without running it twice
    down = '\n\ndef down(db):\n    db.counters.update_one({"_id": "runs"}, {"$inc": {"n": -1}})\n'
    down += '    if os.environ.get("HANG"):\n        time.sleep(120)\n'
    mdir = folder(tmp_path, INC_THEN_HANG + down)
    env = env_for(mongo, MONGO_LOCK_TTL="5")
    backend = MongoBackend(mongo)
    backend.connect(create_database=True)
    try:
        assert subprocess.run(argv(mdir, "migrate", "--db", "mongodb"), env=env).returncode == 0
        rollback = argv(mdir, "rollback", "--steps", "1", "--db", "mongodb")
        killed_when(rollback, env, lambda: runs(backend) == 0, "the down step's $inc")
        status = subprocess.run(
            argv(mdir, "status", "--json", "--db", "mongodb"), env=env, capture_output=True, text=True
        )
        (row,) = json.loads(status.stdout)["mongodb"]["unfinished"]
        assert (row["state"], row["in_step"], row["direction"]) == ("interrupted", 1, "down")
        again = subprocess.run(rollback, env=env, capture_output=True, text=True)
        assert again.returncode == 1 and "rollback of 001_count was interrupted in down step 1" in again.stderr
        done = subprocess.run([*rollback, "--resume", "--skip-step"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert runs(backend) == 0  # never run twice
        status = subprocess.run(
            argv(mdir, "status", "--json", "--db", "mongodb"), env=env, capture_output=True, text=True
        )
        assert json.loads(status.stdout)["mongodb"]["pending"] == [1]
    finally:
        backend.close()
