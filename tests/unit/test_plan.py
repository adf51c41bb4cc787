"""Every plan state from plain lists: no store needed."""

from __future__ import annotations

from pathlib import Path

from dbtools.migrations import Migration
from dbtools.plan import DOWN_MARK, AppliedMigration, build


def m(version: int, checksum: str = "c") -> Migration:
    return Migration("postgres", version, f"m{version}", Path(f"{version}_m{version}.sql"), "SELECT 1;", None, checksum)


def row(version: int, checksum: str = "c", status: str = "applied", done: int = 0) -> AppliedMigration:
    return AppliedMigration(version, f"m{version}", checksum, status, statements_done=done, statements_total=3)


def test_empty_history_makes_everything_pending() -> None:
    plan = build([m(1), m(2)], [])
    assert [x.version for x in plan.pending] == [1, 2] and plan.current is None


def test_applied_changed_missing_and_out_of_order() -> None:
    plan = build([m(1), m(2, "edited"), m(3), m(5)], [row(1), row(2), row(4), row(5)])
    assert plan.as_dict() == {
        "current": 5,
        "applied": [1, 2, 4, 5],
        "pending": [3],
        "failed": [],
        "changed": [2],
        "missing": [4],
        "out_of_order": [3],
    }


def test_failed_and_running_rows_stay_pending_and_are_reported() -> None:
    plan = build([m(1), m(2), m(3)], [row(1), row(2, status="failed"), row(3, status="running", done=2)])
    assert [x.version for x in plan.pending] == [2, 3]
    assert [r.version for r in plan.failed] == [2, 3]
    assert not plan.failed[0].left_changes and plan.failed[1].left_changes
    assert plan.out_of_order == ()


def test_a_rollbacks_row_is_unfinished_even_before_its_first_down_step_finished() -> None:
    # a rollback stopped before down step 1 ended still undid nothing of the up: never a silent re-run
    down = row(2, status="failed")._replace(progress_checksum=f"{DOWN_MARK}abc")
    up = row(3, status="failed")._replace(progress_checksum="abc")
    assert down.reverting and down.left_changes
    assert not up.reverting and not up.left_changes
    assert not row(1)._replace(progress_checksum=f"{DOWN_MARK}abc").reverting  # only an unfinished row


def test_baseline_rows_count_as_applied_and_target_limits_pending() -> None:
    plan = build([m(1), m(2), m(3), m(4)], [row(1, status="baseline")], target=3)
    assert plan.current == 1 and [x.version for x in plan.pending] == [2, 3]


def test_migrations_lists_files_and_rows_without_files_in_version_order_with_their_state() -> None:
    plan = build([m(1), m(2, "edited"), m(3), m(6)], [row(1), row(2), row(4), row(5, status="failed", done=1)])
    assert [(x["version"], x["label"], x["file"], x["state"]) for x in plan.migrations()] == [
        (1, "001_m1", "1_m1.sql", "applied"),
        (2, "002_m2", "2_m2.sql", "changed"),
        (3, "003_m3", "3_m3.sql", "pending"),
        (4, "004_m4", None, "missing"),
        (5, "005_m5", None, "missing"),
        (6, "006_m6", "6_m6.sql", "pending"),
    ]
    assert plan.label(4) == "004_m4" and plan.label(2) == "002_m2" and plan.label(9) == "009"
