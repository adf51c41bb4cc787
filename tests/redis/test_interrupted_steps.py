"""Partial work is never reported as none, and a runner that lost its lease never records success
(issue 13 items 2, 3 and 4), on a real redis-server through the CLI: kill -9 inside a step, a step
that raised, a runner paused (SIGSTOP) past its lease while another applies, `unlock --force`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dbtools.redis_layout import LOCK_KEY
from dbtools.settings import Settings

# One step: INCR, then a marker the test waits for, then (when HANG is set) a long sleep to be killed in.
INCR_THEN_HANG = """
import os, time


def up(r):
    r.incr("counter")
    r.set("marker", "incremented")
    if os.environ.get("HANG"):
        time.sleep(120)


def down(r):
    pass
"""

# The module-level code tells the test it is loading (the lock is held by then), then pauses a little:
# the test freezes the run (SIGSTOP) there, before it wrote anything to history.
PAUSE_WHILE_LOADING = """
import os, pathlib, time

if os.environ.get("LOADING_MARK"):
    pathlib.Path(os.environ["LOADING_MARK"]).write_text("loading")
    time.sleep(1.0)


def up(r):
    r.incr("counter")
"""


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_") and k not in ("HANG", "LOADING_MARK")}
    return {**clean, "REDIS_URL": settings.url, **extra}


def mdir_with(tmp_path: Path, text: str) -> Path:
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "001_count.py").write_text(text)
    return tmp_path


def argv(mdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), *args]


def cli(mdir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv(mdir, *args), env=env, capture_output=True, text=True, timeout=120)


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def one_error(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """The `error:` and `hint:` lines of a failed run, after checking there is no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    hints = [line for line in result.stderr.splitlines() if line.startswith("hint: ")]
    assert len(errors) == 1 and len(hints) == 1, result.stderr
    return errors[0], hints[0]


def unfinished(mdir: Path, env: dict[str, str]) -> dict[str, object]:
    status = cli(mdir, "status", "--json", "--db", "redis", env=env)
    (row,) = json.loads(status.stdout)["redis"]["unfinished"]
    return row


def test_a_run_killed_inside_a_step_is_interrupted_there_and_never_silently_rerun(
    tmp_path: Path, rs: Settings, r: object
) -> None:
    mdir = mdir_with(tmp_path, INCR_THEN_HANG)
    env = env_for(rs, REDIS_LOCK_TTL="5")  # the killed run's lock lapses in seconds, not the default half-minute
    run = subprocess.Popen(argv(mdir, "migrate", "--db", "redis"), env={**env, "HANG": "1"}, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: r.get("marker"), "the step's INCR")
        # running now: its run holds the lock and is alive
        row = unfinished(mdir, env)
        assert (row["state"], row["in_step"]) == ("running", 1)
        status = cli(mdir, "status", "--db", "redis", env=env)
        assert "running now, in statement 1 of 1" in status.stdout
        error, _ = one_error(cli(mdir, "validate", "--db", "redis", env=env))
        assert "001_count is being applied now (in statement 1 of 1) by dbtools" in error
        os.kill(run.pid, signal.SIGKILL)
        run.wait(30)
    finally:
        run.kill()
        run.wait()
    assert r.get("counter") == "1"
    # interrupted: its process is gone (the lease has not even expired yet)
    row = unfinished(mdir, env)
    assert (row["state"], row["in_step"], row["statements_done"]) == ("interrupted", 1, 0)
    status = cli(mdir, "status", "--db", "redis", env=env)
    assert "interrupted 001_count: interrupted in statement 1 of 1, which may have partly run" in status.stdout
    assert "statement 0" not in status.stdout
    for command in ("validate", "migrate"):
        result = cli(mdir, command, "--db", "redis", env=env)
        assert result.returncode == 1
        error, hint = one_error(result)
        assert "001_count was interrupted in statement 1 of 1" in error
        assert "--resume --rerun-step" in hint and "--skip-step" in hint and "repair" in hint
    # --resume alone must be told what to do with the step that had started
    result = cli(mdir, "migrate", "--resume", "--db", "redis", env=env)
    error, hint = one_error(result)
    assert result.returncode == 1 and "stopped inside statement 1" in error and "--rerun-step" in hint
    assert r.get("counter") == "1"
    # the user says the step is done: it is not run again
    result = cli(mdir, "migrate", "--resume", "--skip-step", "--db", "redis", env=env)
    assert result.returncode == 0, result.stderr
    assert "statement 1 counted as done (--skip-step)" in result.stdout
    assert r.get("counter") == "1"
    assert json.loads(cli(mdir, "status", "--json", "--db", "redis", env=env).stdout)["redis"]["applied"] == [1]


def test_rerun_step_runs_the_interrupted_step_again_when_the_user_says_so(
    tmp_path: Path, rs: Settings, r: object
) -> None:
    mdir = mdir_with(tmp_path, INCR_THEN_HANG)
    env = env_for(rs, REDIS_LOCK_TTL="5")  # the killed run's lock lapses in seconds, not the default half-minute
    run = subprocess.Popen(argv(mdir, "migrate", "--db", "redis"), env={**env, "HANG": "1"}, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: r.get("marker"), "the step's INCR")
        os.kill(run.pid, signal.SIGKILL)
        run.wait(30)
    finally:
        run.kill()
        run.wait()
    result = cli(mdir, "migrate", "--resume", "--rerun-step", "--db", "redis", env=env)
    assert result.returncode == 0, result.stderr
    assert "run again from its start (--rerun-step)" in result.stdout
    assert r.get("counter") == "2"  # the user chose to run it again


def test_a_first_step_that_raised_is_not_reported_as_nothing_applied(tmp_path: Path, rs: Settings, r: object) -> None:
    mdir = mdir_with(
        tmp_path,
        "def up(r):\n    r.incr('counter')\n    raise RuntimeError('boom')\n\n\ndef second(r):\n    pass\n",
    )
    (mdir / "redis" / "001_count.py").write_text(
        "def first(r):\n    r.incr('counter')\n    raise RuntimeError('boom')\n\n\n"
        "def second(r):\n    pass\n\n\nup = [first, second]\n"
    )
    env = env_for(rs)
    result = cli(mdir, "migrate", "--db", "redis", env=env)
    assert result.returncode == 1
    error, hint = one_error(result)
    assert "statement 1 of 2" in error and "RuntimeError: boom" in error
    assert "nothing of it was applied" not in hint and "may have left part of its work" in hint
    row = unfinished(mdir, env)
    assert (row["state"], row["in_step"], row["statements_done"]) == ("failed", 1, 0)
    status = cli(mdir, "status", "--db", "redis", env=env)
    assert "failed in statement 1 of 2, which may have partly run" in status.stdout
    assert "statement 0" not in status.stdout and "nothing of it stayed" not in status.stdout
    refused = cli(mdir, "migrate", "--db", "redis", env=env)
    assert refused.returncode == 1 and "--rerun-step" in one_error(refused)[1]
    assert r.get("counter") == "1"  # not silently run again


def test_a_runner_paused_past_its_lease_never_records_success(tmp_path: Path, rs: Settings, r: object) -> None:
    mdir = mdir_with(tmp_path, PAUSE_WHILE_LOADING)
    env = env_for(rs, REDIS_LOCK_TTL="1")
    mark = tmp_path / "loading"
    first = subprocess.Popen(
        argv(mdir, "migrate", "--db", "redis"),
        env={**env, "LOADING_MARK": str(mark)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(mark.exists, "the first run to hold the lock and load the file")
        os.kill(first.pid, signal.SIGSTOP)  # a long GC, a stopped laptop: no heartbeat
        wait_for(lambda: not r.exists(LOCK_KEY), "the frozen run's lease to expire")
        second = cli(mdir, "migrate", "--db", "redis", env=env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.count("applied") == 1
        os.kill(first.pid, signal.SIGCONT)
        out, err = first.communicate(timeout=60)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 1, err
    assert "Traceback" not in err
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "redis: this run lost the migration lock on DB" in error
    assert "001_count was not recorded as applied" in error
    assert "applied" not in out
    assert r.get("counter") == "1"  # exactly one run applied it
    history = json.loads(r.hget("migration_history", "1"))
    assert history["status"] == "applied" and history["statements_done"] == 1


def test_unlock_force_from_another_shell_stops_the_run_at_its_next_write(
    tmp_path: Path, rs: Settings, r: object
) -> None:
    mdir = mdir_with(
        tmp_path,
        "import time\n\n\ndef first(r):\n    r.set('marker', 'in')\n    while r.get('go') is None:\n"
        "        time.sleep(0.02)\n\n\ndef second(r):\n    r.incr('counter')\n\n\nup = [first, second]\n",
    )
    env = env_for(rs)
    run = subprocess.Popen(argv(mdir, "migrate", "--db", "redis"), env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: r.get("marker"), "the first step")
        freed = cli(mdir, "unlock", "--force", "--db", "redis", env=env)
        assert freed.returncode == 0 and "freed" in freed.stdout, freed.stderr
        r.set("go", "1")
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == 1
    assert "Traceback" not in err
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "lost the migration lock" in error and "was not recorded as applied" in error
    assert r.get("counter") is None  # step 2 never ran
    row = json.loads(r.hget("migration_history", "1"))
    assert (row["status"], row["in_step"]) == ("running", 1)  # what the run last wrote while it held the lock
