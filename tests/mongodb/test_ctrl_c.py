"""Ctrl-C under a MongoDB migration, on the real server: the Python step in flight runs to its end and
the run stops before the next one; a JavaScript migration's mongosh stops at once and is never left
running, whether the terminal's SIGINT reached it too or only dbtools got one (dbtools stops it then).
Either way: one `interrupted:` line, exit 130, and history saying what stayed (the
`tests/cli/test_ctrl_c.py` contract, here for the fourth store).

Ctrl-C is sent as a terminal sends it: SIGINT to the whole foreground process group."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pymongo
import pytest

from dbtools.backends.mongodb import MongoBackend
from dbtools.settings import Settings
from tests.cli.test_ctrl_c import _interrupt, _one_interrupted_line
from tests.mongodb.conftest import need_mongosh
from tests.mongodb.test_lease import env_for

PY_STEPS = """
import time


def first(db):
    db.marks.insert_one({"_id": "first"})


def slow(db):
    db.marks.insert_one({"_id": "slow:started"})
    deadline = time.monotonic() + 30
    while db.marks.find_one({"_id": "go"}) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    db.marks.insert_one({"_id": "slow:done"})


def last(db):
    db.marks.insert_one({"_id": "last"})


up = [first, slow, last]
"""

JS_SLOW = """
function up(db) {
  db.marks.insertOne({_id: 'js:started'});
  sleep(30000);
  db.marks.insertOne({_id: 'js:done'});
}
"""


def ctrl_c(
    mdir: Path,
    env: dict[str, str],
    running: Callable[[], bool],
    then: Callable[[], object] = lambda: None,
    *,
    group: bool = True,
) -> tuple[int, str, str, float]:
    """`migrate --db mongodb --create-db`, Ctrl-C once `running()` (see `_interrupt`)."""
    return _interrupt(mdir, "mongodb", env, running, then, extra=("--create-db",), group=group)


def marks(mongo: Settings) -> Callable[[], set[str]]:
    client: pymongo.MongoClient = pymongo.MongoClient(mongo.host, mongo.port, serverSelectionTimeoutMS=5000)
    return lambda: {doc["_id"] for doc in client[mongo.database].marks.find()}


def history(mongo: Settings) -> list[tuple[int, str, int, int]]:
    backend = MongoBackend(mongo)
    backend.connect()
    try:
        return [(r.version, r.status, r.statements_done, r.in_step) for r in backend.history()]
    finally:
        backend.close()


def test_python_step_in_flight_ends_and_the_next_is_not_run(mongo: Settings, mdir: Path) -> None:
    (mdir / "mongodb" / "001_steps.py").write_text(PY_STEPS)
    seen = marks(mongo)
    go = pymongo.MongoClient(mongo.host, mongo.port)[mongo.database].marks
    line = _one_interrupted_line(
        *ctrl_c(
            mdir,
            env_for(mongo),
            lambda: "slow:started" in seen(),
            then=lambda: go.insert_one({"_id": "go"}),  # the step in flight ends after Ctrl-C
        )
    )
    assert "statement 3 of 3" in line and "statements 1-2 stayed applied" in line, line
    assert seen() == {"first", "slow:started", "go", "slow:done"}
    assert history(mongo) == [(1, "failed", 2, 0)]


@pytest.mark.parametrize("group", [True, False], ids=["terminal", "kill-INT"])
def test_javascript_migration_stops_with_its_mongosh(mongo: Settings, mdir: Path, group: bool) -> None:
    mongosh = need_mongosh()
    (mdir / "mongodb" / "001_slow.js").write_text(JS_SLOW)
    env = env_for(mongo, PATH=f"{Path(mongosh).parent}{os.pathsep}{os.environ['PATH']}")  # mdir is in /tmp
    seen = marks(mongo)
    line = _one_interrupted_line(*ctrl_c(mdir, env, lambda: "js:started" in seen(), group=group))
    assert "001_slow" in line and "statement 1 of 1" in line, line
    time.sleep(1)  # a mongosh left running would write its second mark within the 30 s sleep; none is left
    # this test's own file (its full path): another run of the suite on this machine has a 001_slow.js too
    script = re.escape(str(mdir / "mongodb" / "001_slow.js"))
    left = subprocess.run(["pgrep", "-f", script], capture_output=True, text=True).stdout.split()
    assert left == [], f"mongosh still running: {left}"
    assert seen() == {"js:started"}
    ((version, status, done, in_step),) = history(mongo)
    assert (version, status, done) == (1, "failed", 0), line
    assert in_step == 1  # it may have done part of its work: migrate refuses until --resume says what to do
