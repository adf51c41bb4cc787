"""Errors carry their facts as fields and compose their text from them; `redact` masks every secret."""

from __future__ import annotations

from dbtools.errors import LockTimeout, MigrationFailed, redact, secret
from dbtools.settings import Settings


def test_migration_failed_keeps_its_facts_and_says_them() -> None:
    error = MigrationFailed(
        "clickhouse",
        7,
        "add_users",
        "Table x already exists",
        statement_index=2,
        line=14,
        statements_done=2,
        statements_total=5,
        file="007_add_users.sql",
        excerpt="CREATE TABLE x ...",
    )
    assert (error.store, error.version, error.name, error.statement_index) == ("clickhouse", 7, "add_users", 2)
    assert (error.line, error.statements_done, error.server_message) == (14, 2, "Table x already exists")
    assert error.message == (
        "clickhouse: migration 007_add_users failed at 007_add_users.sql line 14, statement 3 of 5: "
        "Table x already exists [CREATE TABLE x ...]"
    )
    assert "statements 1-2 stayed applied" in error.hint and "migrate --resume --db clickhouse" in error.hint


def test_a_down_failure_hint_says_whether_history_still_lists_the_version_as_applied() -> None:
    def down_failure(done: int, *, reverting: bool) -> MigrationFailed:
        return MigrationFailed(
            "redis", 1, "count", "stopped", statement_index=done, statements_done=done, down=True, reverting=reverting
        )

    assert "history still lists it as applied" in down_failure(0, reverting=False).hint  # one transaction: undone
    for done, ran in ((0, "no down step ran"), (1, "down step 1 ran"), (2, "down steps 1-2 ran")):
        hint = down_failure(done, reverting=True).hint  # its unfinished rollback row replaced the applied one
        assert "still lists it as applied" not in hint and ran in hint, hint
        assert f"`rollback --steps 1 --resume --db redis` continues at down step {done + 1}" in hint, hint


def test_migration_failed_outside_a_statement_names_the_stage() -> None:
    error = MigrationFailed("postgres", 3, "t", "disk full", stage="ran but its history row could not be written")
    assert error.message == "postgres: migration 003_t ran but its history row could not be written: disk full"
    assert error.statement_index is None and error.statements_done == 0 and "nothing of it" in error.hint


def test_lock_timeout_composes_one_message_from_its_fields() -> None:
    error = LockTimeout("redis", "dbtools pid 9 a@b", 2.04, where="redis://h:1/0", breaking="run `unlock --force`")
    assert (error.holder, error.waited) == ("dbtools pid 9 a@b", 2.04)
    assert error.lines() == [
        "error: redis: the migration lock on redis://h:1/0 is held by dbtools pid 9 a@b; waited 2.0 s",
        "hint: wait for that run to finish and retry (or raise --lock-timeout); run `unlock --force`",
    ]
    gone = LockTimeout("redis", None, 1.0, where="w", breaking="b")
    assert "held by another run (it has gone since)" in gone.message


def test_redact_masks_known_secrets_in_every_encoding_and_any_url_password() -> None:
    Settings("postgres", "postgres", "h", 1, "d", "u", "Qz7/Wx#9")  # settings remember their password
    secret("envsub-value-123")
    text = redact("auth for Qz7/Wx#9 (Qz7%2FWx%239) failed; sql: SET x = 'envsub-value-123'; mongodb://me:other@h/x")
    assert "Qz7" not in text and "envsub-value" not in text and "other" not in text
    assert "mongodb://me:***@h/x" in text
