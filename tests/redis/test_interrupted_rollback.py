"""A rollback's partial work is never reported as none (issue 13): a down section of script steps killed
(SIGKILL) inside a step leaves history saying "rollback interrupted in down step k", which `migrate` and a
plain `rollback` refuse, and `rollback --resume --skip-step` / `--rerun-step` finishes, on a real
redis-server through the CLI (and invoke's migrate and rollback tasks, which take the same options)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from dbtools.settings import Settings
from tests.cli.test_fronts import invoke
from tests.redis.test_interrupted_steps import argv, cli, env_for, mdir_with, one_error, unfinished, wait_for

# Up counts to 10; the down section's steps: DECR, then a marker and (with HANG) a long sleep to be
# killed in, then the last step.
DOWN_IN_STEPS = """
import os, time


def up(r):
    r.set("counter", 10)


def decr(r):
    r.decr("counter")


def slow(r):
    r.set("marker", "in slow")
    if os.environ.get("HANG"):
        time.sleep(120)


def last(r):
    r.set("last", "ran")


down = [decr, slow, last]
"""


def killed_in_slow(mdir: Path, env: dict[str, str], r: object) -> None:
    """`rollback --steps 1` killed (SIGKILL) while its down step 2 sleeps."""
    run = subprocess.Popen(
        argv(mdir, "rollback", "--steps", "1", "--db", "redis"), env={**env, "HANG": "1"}, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: r.get("marker"), "down step 2")  # type: ignore[attr-defined]
        os.kill(run.pid, signal.SIGKILL)
        run.wait(30)
    finally:
        run.kill()
        run.wait()


def test_a_rollback_killed_in_a_down_step_is_reported_refused_and_resumed_once(
    tmp_path: Path, rs: Settings, r: object
) -> None:
    mdir = mdir_with(tmp_path, DOWN_IN_STEPS)
    env = env_for(rs, REDIS_LOCK_TTL="5")
    assert cli(mdir, "migrate", "--db", "redis", env=env).returncode == 0
    killed_in_slow(mdir, env, r)
    assert r.get("counter") == "9"  # type: ignore[attr-defined]

    row = unfinished(mdir, env)
    assert (row["state"], row["in_step"], row["statements_done"], row["direction"]) == ("interrupted", 2, 1, "down")
    status = cli(mdir, "status", "--db", "redis", env=env)
    assert "001_count: rollback interrupted in down step 2 of 3; down step 1 ran" in status.stdout
    for command in ("validate", "migrate"):
        result = cli(mdir, command, "--db", "redis", env=env)
        assert result.returncode == 1
        error, hint = one_error(result)
        assert "the rollback of 001_count was interrupted in down step 2 of 3" in error
        assert "rollback --steps 1 --resume --rerun-step" in hint and "repair" in hint
    # a plain rollback (which once ran DECR again) refuses, and so does --resume without a choice
    for extra in ((), ("--resume",)):
        result = cli(mdir, "rollback", "--steps", "1", *extra, "--db", "redis", env=env)
        assert result.returncode == 1
        one_error(result)
    assert r.get("counter") == "9"  # type: ignore[attr-defined]

    result = cli(mdir, "rollback", "--steps", "1", "--resume", "--skip-step", "--db", "redis", env=env)
    assert result.returncode == 0, result.stderr
    assert "down step 2 counted as done (--skip-step); resumed at down step 3" in result.stdout
    assert r.get("counter") == "9" and r.get("last") == "ran"  # type: ignore[attr-defined]
    result = cli(mdir, "status", "--exit-code", "--db", "redis", env=env)
    assert "pending   001_count" in result.stdout and "rollback" not in result.stdout


def test_a_failed_down_step_is_recorded_and_rerun_after_the_fix(tmp_path: Path, rs: Settings, r: object) -> None:
    mdir = mdir_with(tmp_path, DOWN_IN_STEPS.replace('r.set("last", "ran")', 'r.execute_command("NOPE")'))
    env = env_for(rs)
    assert cli(mdir, "migrate", "--db", "redis", env=env).returncode == 0
    result = cli(mdir, "rollback", "--steps", "1", "--db", "redis", env=env)
    assert result.returncode == 1
    error, hint = one_error(result)
    assert "statement 3 of 3" in error and "rollback --steps 1 --resume --rerun-step" in hint
    row = unfinished(mdir, env)
    assert (row["state"], row["in_step"], row["statements_done"], row["direction"]) == ("failed", 3, 2, "down")
    # the fix may touch only the step that failed: down steps 1-2 ran as they were
    (mdir / "redis" / "001_count.py").write_text(DOWN_IN_STEPS)
    result = cli(mdir, "rollback", "--steps", "1", "--rerun-step", "--db", "redis", env=env)
    assert result.returncode == 0, result.stderr
    assert "resumed at down step 3" in result.stdout
    assert r.get("counter") == "9" and r.get("last") == "ran"  # type: ignore[attr-defined]
    assert cli(mdir, "status", "--json", "--db", "redis", env=env).returncode == 0


# Up and down of two steps each; the first up step or the second down step fails while FAIL_UP / FAIL_DOWN is set.
FAILS_WHEN_TOLD = """
import os


def first(r):
    r.incr("counter")
    if os.environ.get("FAIL_UP"):
        raise RuntimeError("boom")


def second(r):
    r.set("up2", "ran")


def decr(r):
    r.decr("counter")


def last(r):
    if os.environ.get("FAIL_DOWN"):
        r.execute_command("NOPE")
    r.set("down2", "ran")


up = [first, second]
down = [decr, last]
"""


def test_invoke_migrate_and_rollback_take_resume_and_the_step_choice(tmp_path: Path, rs: Settings, r: object) -> None:
    mdir = mdir_with(tmp_path, FAILS_WHEN_TOLD)
    env = env_for(rs, DBTOOLS_MIGRATIONS_DIR=str(mdir))
    assert invoke("migrate", "--db", "redis", env={**env, "FAIL_UP": "1"}).returncode == 1
    result = invoke("migrate", "--db", "redis", "--resume", "--skip-step", env=env)
    assert result.returncode == 0, result.stderr
    assert "statement 1 counted as done (--skip-step)" in result.stdout
    assert r.get("counter") == "1" and r.get("up2") == "ran"  # type: ignore[attr-defined]

    assert invoke("rollback", "--db", "redis", env={**env, "FAIL_DOWN": "1"}).returncode == 1
    result = invoke("rollback", "--db", "redis", "--resume", "--rerun-step", env=env)
    assert result.returncode == 0, result.stderr
    assert "resumed at down step 2" in result.stdout
    assert r.get("counter") == "0" and r.get("down2") == "ran"  # type: ignore[attr-defined]
    assert "pending   001_count" in cli(mdir, "status", "--db", "redis", env=env).stdout
