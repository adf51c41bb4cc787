"""What every backend must do the same way: history, plan states, apply/revert, failures, locking.

Runs for every store whose sandbox starts on this machine (see conftest.py); a new store gets this
coverage with its tests/<store>/samples.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dbtools import backends, runner
from dbtools.errors import HistoryMismatch, LockTimeout, MigrationFailed
from dbtools.settings import Settings

from .samples import SAMPLES


def write(mdir: Path, store: str, version: int, text: str, name: str | None = None) -> Path:
    path = mdir / store / f"{version:03d}_{name or f'm{version}'}.{SAMPLES[store].ext}"
    path.write_text(text)
    return path


def objects(store: str, settings: Settings) -> set[str]:
    backend = backends.load(store)(settings)
    backend.connect()
    try:
        return SAMPLES[store].objects(backend.snapshot())
    finally:
        backend.close()


def history(store: str, settings: Settings) -> list:
    backend = backends.load(store)(settings)
    backend.connect()
    try:
        return backend.history()
    finally:
        backend.close()


def test_history_records_each_applied_migration(store: str, settings: Settings, mdir: Path) -> None:
    for i in (1, 2, 3):
        write(mdir, store, i, SAMPLES[store].create(i))
    done = runner.migrate(store, migrations_dir=mdir, settings=settings, create_db=True)
    assert [row.version for row in done] == [1, 2, 3]
    rows = history(store, settings)
    assert [(r.version, r.status) for r in rows] == [(1, "applied"), (2, "applied"), (3, "applied")]
    assert {"t1", "t2", "t3"} <= objects(store, settings)
    assert runner.migrate(store, migrations_dir=mdir, settings=settings) == []
    assert runner.status(store, migrations_dir=mdir, settings=settings)["current"] == 3


def test_target_version_stops_there(store: str, settings: Settings, mdir: Path) -> None:
    for i in (1, 2, 3):
        write(mdir, store, i, SAMPLES[store].create(i))
    runner.migrate(store, migrations_dir=mdir, settings=settings, create_db=True, target=2)
    state = runner.status(store, migrations_dir=mdir, settings=settings)
    assert (state["applied"], state["pending"]) == ([1, 2], [3])


def test_rollback_steps_and_to_revert_in_reverse(store: str, settings: Settings, mdir: Path) -> None:
    for i in (1, 2, 3):
        write(mdir, store, i, SAMPLES[store].create(i))
    runner.migrate(store, migrations_dir=mdir, settings=settings, create_db=True)
    assert runner.rollback(store, steps=1, migrations_dir=mdir, settings=settings) == [3]
    assert "t3" not in objects(store, settings)
    assert runner.rollback(store, to=0, migrations_dir=mdir, settings=settings) == [2, 1]
    assert not {"t1", "t2"} & objects(store, settings)
    assert history(store, settings) == []


def test_snapshot_equal_after_round_trip(store: str, settings: Settings, mdir: Path) -> None:
    for i in (1, 2):
        write(mdir, store, i, SAMPLES[store].create(i))
    runner.migrate(store, migrations_dir=mdir, settings=settings, create_db=True)
    backend = backends.load(store)(settings)
    backend.connect()
    applied = backend.snapshot()
    backend.close()
    runner.rollback(store, to=0, migrations_dir=mdir, settings=settings)
    runner.migrate(store, migrations_dir=mdir, settings=settings)
    backend.connect()
    assert backend.snapshot() == applied
    backend.close()


def test_failed_statement_is_recorded_and_recoverable(store: str, settings: Settings, mdir: Path) -> None:
    write(mdir, store, 1, SAMPLES[store].create(1))
    path = write(mdir, store, 2, SAMPLES[store].failing(2, False))
    with pytest.raises(MigrationFailed) as failure:
        runner.migrate(store, migrations_dir=mdir, settings=settings, create_db=True)
    assert path.name in failure.value.message and "statement 2 of 2" in failure.value.message
    rows = {r.version: r for r in history(store, settings)}
    assert rows[1].status == "applied" and rows[2].status == "failed"
    assert rows[2].error and path.name in rows[2].error
    transactional = backends.load(store).transactional_ddl
    assert rows[2].statements_done == (0 if transactional else 1)
    assert ("part_2" in objects(store, settings)) is not transactional
    path.write_text(SAMPLES[store].failing(2, True))
    if transactional:
        runner.migrate(store, migrations_dir=mdir, settings=settings)
    else:
        # the statement that failed ran without a transaction and may have done part of its work: never
        # re-run silently, not even by --resume, until the user says so
        with pytest.raises(HistoryMismatch, match="failed in statement 2 of 2") as refused:
            runner.migrate(store, migrations_dir=mdir, settings=settings)
        assert "--resume --rerun-step" in refused.value.hint and "repair" in refused.value.hint
        with pytest.raises(HistoryMismatch, match="stopped inside statement 2"):
            runner.migrate(store, migrations_dir=mdir, settings=settings, resume=True)
        runner.migrate(store, migrations_dir=mdir, settings=settings, step_choice="rerun")
    assert [(r.version, r.status) for r in history(store, settings)] == [(1, "applied"), (2, "applied")]
    assert "part_2" in objects(store, settings)


def test_changed_and_missing_files_are_refused_until_repaired(store: str, settings: Settings, mdir: Path) -> None:
    first = write(mdir, store, 1, SAMPLES[store].create(1))
    second = write(mdir, store, 2, SAMPLES[store].create(2))
    runner.migrate(store, migrations_dir=mdir, settings=settings, create_db=True)
    first.write_text(SAMPLES[store].create(11))  # the up section now differs
    second.unlink()
    with pytest.raises(HistoryMismatch, match="changed on disk"):
        runner.validate(store, migrations_dir=mdir, settings=settings)
    state = runner.status(store, migrations_dir=mdir, settings=settings)
    assert (state["changed"], state["missing"]) == ([1], [2])
    actions = runner.repair(store, migrations_dir=mdir, settings=settings)
    assert len(actions) == 2
    plan = runner.validate(store, migrations_dir=mdir, settings=settings)
    assert [r.version for r in plan.applied] == [1]


def test_out_of_order_is_refused_unless_allowed(store: str, settings: Settings, mdir: Path) -> None:
    write(mdir, store, 1, SAMPLES[store].create(1))
    write(mdir, store, 3, SAMPLES[store].create(3))
    runner.migrate(store, migrations_dir=mdir, settings=settings, create_db=True)
    write(mdir, store, 2, SAMPLES[store].create(2))
    with pytest.raises(HistoryMismatch, match="numbered below") as refused:
        runner.migrate(store, migrations_dir=mdir, settings=settings)
    assert "--allow-out-of-order" in refused.value.hint
    runner.migrate(store, migrations_dir=mdir, settings=settings, allow_out_of_order=True)
    assert [r.version for r in history(store, settings)] == [1, 2, 3]


def test_baseline_adopts_existing_database(store: str, settings: Settings, mdir: Path) -> None:
    for i in (1, 2, 3):
        write(mdir, store, i, SAMPLES[store].create(i))
    backend = backends.load(store)(settings)
    backend.connect(create_database=True)
    backend.close()
    assert runner.baseline(store, 2, migrations_dir=mdir, settings=settings) == [1, 2]
    runner.migrate(store, migrations_dir=mdir, settings=settings)
    assert "t3" in objects(store, settings) and "t1" not in objects(store, settings)
    with pytest.raises(HistoryMismatch):
        runner.baseline(store, 2, migrations_dir=mdir, settings=settings)


HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from dbtools import backends, runner
    backend = backends.load(sys.argv[1])(runner.settings_for(sys.argv[1]))
    backend.connect()
    with backend.lock(5):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def test_lock_excludes_a_second_process(store: str, settings: Settings, env: dict[str, str]) -> None:
    if not SAMPLES[store].multiprocess:
        pytest.skip(f"{store} here opens in one process at a time")
    cls = backends.load(store)
    setup = cls(settings)
    setup.connect(create_database=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, store, "30"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert setup.lock_holder() is not None
        started = time.monotonic()
        with pytest.raises(LockTimeout) as waited, setup.lock(0.5):
            pass
        assert time.monotonic() - started >= 0.4
        assert "held by" in waited.value.message
        assert setup.break_lock() is not None  # the holder may live on; its lock must not
        with setup.lock(5):
            pass
        assert setup.lock_holder() is None
    finally:
        holder.kill()
        setup.close()


def test_concurrent_runs_apply_each_version_once(
    store: str, settings: Settings, env: dict[str, str], mdir: Path
) -> None:
    if not SAMPLES[store].multiprocess:
        pytest.skip(f"{store} here opens in one process at a time")
    for i in range(1, 31):
        write(mdir, store, i, SAMPLES[store].create(i))
    setup = backends.load(store)(settings)
    setup.connect(create_database=True)
    setup.close()
    argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), "migrate", "--db", store]
    runs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0] * 8, outputs
    applied_lines = [line for out, _ in outputs for line in out.splitlines() if ": applied" in line]
    assert len(applied_lines) == 30
    rows = history(store, settings)
    assert [r.version for r in rows] == list(range(1, 31))
    assert all(r.status == "applied" for r in rows)
