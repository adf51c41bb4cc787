"""Each rule on a migration that triggers it and one that does not; line numbers are the file's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dbtools.lint import Finding
from tests.lint.conftest import Write, at, rules

Lint = Callable[[str], list[Finding]]

USERS = """
    -- Users.

    -- migrate:up
    CREATE TABLE users (id bigint PRIMARY KEY, email text, legacy_flag boolean);

    -- migrate:down
    DROP TABLE users;
"""

EVENTS = """
    -- migrate:up
    CREATE TABLE IF NOT EXISTS events (ts DateTime, kind String, legacy String) ENGINE = MergeTree ORDER BY ts;

    -- migrate:down
    DROP TABLE IF EXISTS events;
"""


# --- drop-without-deprecation ------------------------------------------------------------------


def test_drop_column_without_deprecation_is_an_error(write: Write, run_lint: Lint) -> None:
    write("postgres", "001_users.sql", USERS)
    write(
        "postgres",
        "002_drop_legacy.sql",
        """
        -- migrate:up
        ALTER TABLE users
            DROP COLUMN legacy_flag;
        -- migrate:down
        ALTER TABLE users ADD COLUMN legacy_flag boolean;
        """,
    )
    found = run_lint("postgres")
    assert at(found, "drop-without-deprecation") == [("002_drop_legacy.sql", 3)]
    assert next(f for f in found if f.rule == "drop-without-deprecation").severity == "error"


def test_drop_table_without_deprecation_is_an_error(write: Write, run_lint: Lint) -> None:
    write("postgres", "001_users.sql", USERS)
    write("postgres", "002_drop_users.sql", "-- migrate:up\nDROP TABLE IF EXISTS public.users;\n-- migrate:down\n")
    assert at(run_lint("postgres"), "drop-without-deprecation") == [("002_drop_users.sql", 2)]


def test_drop_after_an_earlier_deprecation_comment_passes(write: Write, run_lint: Lint) -> None:
    write("postgres", "001_users.sql", USERS)
    write(
        "postgres",
        "002_deprecate_legacy.sql",
        """
        -- migrate:up
        COMMENT ON COLUMN users.legacy_flag IS 'DEPRECATED: read users.email instead; dropped in 003';
        COMMENT ON TABLE public.users IS 'deprecated since 2025-01';
        -- migrate:down
        COMMENT ON COLUMN users.legacy_flag IS NULL;
        COMMENT ON TABLE users IS NULL;
        """,
    )
    write(
        "postgres",
        "003_drop_legacy.sql",
        "-- migrate:up\nALTER TABLE users DROP legacy_flag;\nDROP TABLE users;\n-- migrate:down\n",
    )
    assert "drop-without-deprecation" not in rules(run_lint("postgres"))


def test_deprecation_in_the_same_migration_is_not_enough(write: Write, run_lint: Lint) -> None:
    write("postgres", "001_users.sql", USERS)
    write(
        "postgres",
        "002_drop_legacy.sql",
        """
        -- migrate:up
        COMMENT ON COLUMN users.legacy_flag IS 'deprecated';
        ALTER TABLE users DROP COLUMN legacy_flag;
        -- migrate:down
        """,
    )
    assert at(run_lint("postgres"), "drop-without-deprecation") == [("002_drop_legacy.sql", 3)]


def test_a_comment_not_saying_deprecated_or_a_drop_in_a_string_does_not_count(write: Write, run_lint: Lint) -> None:
    write("postgres", "001_users.sql", USERS)
    write(
        "postgres",
        "002_comment.sql",
        "-- migrate:up\nCOMMENT ON COLUMN users.email IS 'not deprecated; DROP TABLE users would hurt';\n"
        "-- migrate:down\nCOMMENT ON COLUMN users.email IS NULL;\n",
    )
    write("postgres", "003_drop_email.sql", "-- migrate:up\nALTER TABLE users DROP COLUMN email;\n-- migrate:down\n")
    assert at(run_lint("postgres"), "drop-without-deprecation") == [("003_drop_email.sql", 2)]


def test_drops_in_down_sections_and_of_same_migration_objects_pass(write: Write, run_lint: Lint) -> None:
    write("postgres", "001_users.sql", USERS)
    write(
        "postgres",
        "002_backfill_via_staging.sql",
        """
        -- migrate:up
        CREATE TABLE staging_emails (id bigint, email text);
        ALTER TABLE users ADD COLUMN scratch text;
        ALTER TABLE users DROP COLUMN scratch;
        DROP TABLE staging_emails;
        -- migrate:down
        SELECT 1;
        """,
    )
    assert "drop-without-deprecation" not in rules(run_lint("postgres"))


def test_clickhouse_drop_column_needs_a_deprecation_comment(write: Write, run_lint: Lint) -> None:
    write("clickhouse", "001_events.sql", EVENTS)
    write(
        "clickhouse",
        "002_drop_legacy.sql",
        "-- migrate:up\nALTER TABLE events DROP COLUMN IF EXISTS legacy;\n"
        "-- migrate:down\nALTER TABLE events ADD COLUMN IF NOT EXISTS legacy String;\n",
    )
    assert at(run_lint("clickhouse"), "drop-without-deprecation") == [("002_drop_legacy.sql", 2)]


def test_clickhouse_comment_column_deprecated_allows_the_drop(write: Write, run_lint: Lint) -> None:
    write("clickhouse", "001_events.sql", EVENTS)
    write(
        "clickhouse",
        "002_deprecate_legacy.sql",
        "-- migrate:up\nALTER TABLE events ON CLUSTER main COMMENT COLUMN legacy 'deprecated: use kind';\n"
        "-- migrate:down\nALTER TABLE events COMMENT COLUMN legacy '';\n",
    )
    write(
        "clickhouse",
        "003_drop_legacy.sql",
        "-- migrate:up\nALTER TABLE db.events DROP COLUMN IF EXISTS legacy;\n"
        "-- migrate:down\nALTER TABLE events ADD COLUMN IF NOT EXISTS legacy String;\n",
    )
    assert rules(run_lint("clickhouse")) == []


# --- PostgreSQL locks through squawk ----------------------------------------------------------------


@pytest.mark.usefixtures("needs_squawk")
def test_squawk_index_without_concurrently_on_an_existing_table(write: Write, run_lint: Lint) -> None:
    write("postgres", "001_users.sql", USERS)
    write(
        "postgres",
        "002_users_email_index.sql",
        """
        -- Lookups by e-mail.

        -- migrate:up
        CREATE INDEX users_email_idx ON users (email);
        -- migrate:down
        DROP INDEX users_email_idx;
        """,
    )
    found = run_lint("postgres")
    assert at(found, "squawk/require-concurrent-index-creation") == [("002_users_email_index.sql", 4)]
    assert {f.severity for f in found if f.rule.startswith("squawk/")} == {"error"}


@pytest.mark.usefixtures("needs_squawk")
def test_squawk_concurrent_index_outside_a_transaction_passes(write: Write, run_lint: Lint) -> None:
    write("postgres", "001_users.sql", USERS)
    write(
        "postgres",
        "002_users_email_index.sql",
        """
        -- migrate:up
        -- dbtools:no-transaction
        CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);
        -- migrate:down
        DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;
        """,
    )
    assert rules(run_lint("postgres")) == []


@pytest.mark.usefixtures("needs_squawk")
def test_squawk_rules_left_out_here_do_not_report(write: Write, run_lint: Lint) -> None:
    # int columns (prefer-bigint-over-int) and no SET lock_timeout (require-lock-timeout) are fine here
    write(
        "postgres",
        "001_counters.sql",
        "-- migrate:up\nCREATE TABLE counters (id bigint PRIMARY KEY, attempts integer NOT NULL DEFAULT 0);\n"
        "-- migrate:down\nDROP TABLE counters;\n",
    )
    assert rules(run_lint("postgres")) == []


@pytest.mark.usefixtures("needs_squawk")
def test_squawk_findings_on_a_file_without_markers_keep_file_lines(write: Write, run_lint: Lint) -> None:
    write("postgres", "001_users.sql", USERS)
    write("postgres", "002_rename.sql", "-- Rename.\n\nALTER TABLE users RENAME COLUMN email TO mail;\n")
    assert at(run_lint("postgres"), "squawk/renaming-column") == [("002_rename.sql", 3)]


def test_squawk_missing_is_one_warning_not_a_crash(
    write: Write, run_lint: Lint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBTOOLS_SQUAWK", "no-such-squawk-binary")
    write("postgres", "001_users.sql", USERS)
    found = run_lint("postgres")
    assert [(f.rule, f.severity) for f in found] == [("squawk-unavailable", "warning")]
    assert "pip install" in (found[0].hint or "")


# --- ClickHouse ----------------------------------------------------------------------------------


def test_clickhouse_mutations_are_errors(write: Write, run_lint: Lint) -> None:
    write("clickhouse", "001_events.sql", EVENTS)
    write(
        "clickhouse",
        "002_fix_kinds.sql",
        """
        -- migrate:up
        ALTER TABLE events UPDATE kind = lower(kind) WHERE 1;
        ALTER TABLE events ON CLUSTER main
            DELETE WHERE kind = '';
        -- migrate:down
        SELECT 1;
        """,
    )
    found = run_lint("clickhouse")
    assert at(found, "ch-mutation") == [("002_fix_kinds.sql", 2), ("002_fix_kinds.sql", 4)]
    assert {f.severity for f in found if f.rule == "ch-mutation"} == {"error"}


def test_clickhouse_modify_column_type_is_an_error_metadata_changes_are_not(write: Write, run_lint: Lint) -> None:
    write("clickhouse", "001_events.sql", EVENTS)
    write(
        "clickhouse",
        "002_kind_type.sql",
        """
        -- migrate:up
        ALTER TABLE events MODIFY COLUMN IF EXISTS kind LowCardinality(String);
        ALTER TABLE events MODIFY COLUMN kind DEFAULT 'other', MODIFY COLUMN kind COMMENT 'event kind';
        ALTER TABLE events MODIFY COLUMN kind CODEC(ZSTD(3));
        -- migrate:down
        SELECT 1;
        """,
    )
    assert at(run_lint("clickhouse"), "ch-modify-column-type") == [("002_kind_type.sql", 2)]


def test_clickhouse_rewrites_are_warnings(write: Write, run_lint: Lint) -> None:
    write("clickhouse", "001_events.sql", EVENTS)
    write(
        "clickhouse",
        "002_rewrites.sql",
        """
        -- migrate:up
        ALTER TABLE events MATERIALIZE INDEX kind_idx;
        DELETE FROM events WHERE kind = 'test';
        OPTIMIZE TABLE events FINAL;
        -- migrate:down
        SELECT 1;
        """,
    )
    found = run_lint("clickhouse")
    assert at(found, "ch-rewrite") == [("002_rewrites.sql", 2), ("002_rewrites.sql", 3), ("002_rewrites.sql", 4)]
    assert {f.severity for f in found if f.rule == "ch-rewrite"} == {"warning"}
    assert "ch-mutation" not in rules(found)


def test_clickhouse_ddl_that_cannot_rerun_is_an_error_in_both_sections(write: Write, run_lint: Lint) -> None:
    write(
        "clickhouse",
        "001_events.sql",
        """
        -- migrate:up
        CREATE TABLE events (ts DateTime) ENGINE = MergeTree ORDER BY ts;
        CREATE MATERIALIZED VIEW events_mv TO events AS SELECT now() AS ts;
        ALTER TABLE events ADD COLUMN kind String, ADD INDEX kind_idx kind TYPE set(0) GRANULARITY 1;
        -- migrate:down
        DROP VIEW events_mv;
        ALTER TABLE events DROP COLUMN kind;
        """,
    )
    found = [f for f in run_lint("clickhouse") if f.rule == "ch-not-idempotent"]
    assert [(f.line, f.severity) for f in found] == [
        (2, "error"),
        (3, "error"),
        (4, "error"),
        (6, "error"),
        (7, "error"),
    ]
    assert "(down section)" in found[-1].message and "(up section)" in found[0].message


def test_clickhouse_rerunnable_ddl_passes(write: Write, run_lint: Lint) -> None:
    write(
        "clickhouse",
        "001_events.sql",
        """
        -- migrate:up
        CREATE DATABASE IF NOT EXISTS analytics;
        CREATE TABLE IF NOT EXISTS events (ts DateTime) ENGINE = MergeTree ORDER BY ts;
        CREATE OR REPLACE VIEW recent AS SELECT * FROM events WHERE ts > now() - 60;
        ALTER TABLE events ADD COLUMN IF NOT EXISTS kind String;
        -- migrate:down
        DROP VIEW IF EXISTS recent;
        DROP TABLE IF EXISTS events SYNC;
        """,
    )
    assert rules(run_lint("clickhouse")) == []


def test_clickhouse_separate_down_file_findings_name_that_file(write: Write, run_lint: Lint) -> None:
    write("clickhouse", "001_events.up.sql", "CREATE TABLE IF NOT EXISTS events (ts DateTime) ENGINE = Log;\n")
    write("clickhouse", "001_events.down.sql", "-- Undo.\nDROP TABLE events;\n")
    assert at(run_lint("clickhouse"), "ch-not-idempotent") == [("001_events.down.sql", 2)]


# --- one migration = one responsibility --------------------------------------------------------------


def test_schema_change_with_a_backfill_of_an_existing_table_warns(write: Write, run_lint: Lint) -> None:
    write("postgres", "001_users.sql", USERS)
    write(
        "postgres",
        "002_add_email_domain.sql",
        """
        -- migrate:up
        ALTER TABLE users ADD COLUMN email_domain text;
        UPDATE users SET email_domain = split_part(email, '@', 2);
        -- migrate:down
        ALTER TABLE users DROP COLUMN email_domain;
        """,
    )
    found = run_lint("postgres")
    assert at(found, "schema-and-data") == [("002_add_email_domain.sql", 3)]
    assert {f.severity for f in found if f.rule == "schema-and-data"} == {"warning"}


def test_filling_a_new_table_or_a_data_only_migration_passes(write: Write, run_lint: Lint) -> None:
    write(
        "postgres",
        "001_plans.sql",
        "-- migrate:up\nCREATE TABLE plans (name text PRIMARY KEY);\nINSERT INTO plans VALUES ('free'), ('pro');\n"
        "-- migrate:down\nDROP TABLE plans;\n",
    )
    write(
        "postgres",
        "002_rename_plan.sql",
        "-- migrate:up\nUPDATE plans SET name = 'team' WHERE name = 'pro';\n"
        "-- migrate:down\nUPDATE plans SET name = 'pro' WHERE name = 'team';\n",
    )
    assert "schema-and-data" not in rules(run_lint("postgres"))


# --- missing-down, file-name (every store) ------------------------------------------------------------


def test_missing_down_warns_for_sql_and_scripts(write: Write, run_lint: Lint) -> None:
    write("clickhouse", "001_events.sql", "CREATE TABLE IF NOT EXISTS events (ts DateTime) ENGINE = Log;\n")
    write("mongodb", "001_logs.py", "def up(db):\n    db.create_collection('logs')\n")
    for store, name in (("clickhouse", "001_events.sql"), ("mongodb", "001_logs.py")):
        found = run_lint(store)
        assert at(found, "missing-down") == [(name, 1)]
        assert found[0].severity == "warning"


def test_a_down_section_or_function_satisfies_missing_down(write: Write, run_lint: Lint) -> None:
    write(
        "mongodb",
        "001_logs.py",
        "def up(db):\n    db.create_collection('logs')\n\n\ndef down(db):\n    db.logs.drop()\n",
    )
    assert rules(run_lint("mongodb")) == []


def test_file_name_must_be_short_lower_snake_case(write: Write, run_lint: Lint) -> None:
    write("mongodb", "001_AddLogs.py", "def up(db): ...\ndef down(db): ...\n")
    write("mongodb", "002_" + "x" * 61 + ".py", "def up(db): ...\ndef down(db): ...\n")
    write("mongodb", "003_add_logs_ttl.py", "def up(db): ...\ndef down(db): ...\n")
    found = run_lint("mongodb")
    assert [name for name, _ in at(found, "file-name")] == ["001_AddLogs.py", "002_" + "x" * 61 + ".py"]
    assert "001_addlogs.py" in (found[0].hint or "")


# --- silencing one file -------------------------------------------------------------------------------


def test_ignore_with_a_reason_silences_that_rule_in_that_file(write: Write, run_lint: Lint) -> None:
    write(
        "clickhouse",
        "001_events.sql",
        "-- dbtools:lint-ignore missing-down,ch-not-idempotent the seed data table is created once, by hand\n"
        "CREATE TABLE events (ts DateTime) ENGINE = Log;\n",
    )
    write("clickhouse", "002_more.sql", "CREATE TABLE IF NOT EXISTS more (ts DateTime) ENGINE = Log;\n")
    assert at(run_lint("clickhouse"), "missing-down") == [("002_more.sql", 1)]


def test_ignore_without_a_reason_is_an_error_and_silences_nothing(write: Write, run_lint: Lint) -> None:
    write("clickhouse", "001_events.sql", "-- dbtools:lint-ignore missing-down\nSELECT 1;\n")
    write("clickhouse", "002_more.sql", "-- dbtools:lint-ignore missing-down: ok\nSELECT 1;\n")
    found = run_lint("clickhouse")
    assert sorted(at(found, "invalid-ignore")) == [("001_events.sql", 1), ("002_more.sql", 1)]
    assert {f.severity for f in found if f.rule == "invalid-ignore"} == {"error"}
    assert sorted(at(found, "missing-down")) == [("001_events.sql", 1), ("002_more.sql", 1)]


def test_ignores_naming_no_rule_an_unknown_one_or_nothing_found(write: Write, run_lint: Lint) -> None:
    write(
        "clickhouse",
        "001_events.sql",
        """
        -- dbtools:lint-ignore
        -- dbtools:lint-ignore no-such-rule because we say so
        -- dbtools:lint-ignore ch-mutation there is no mutation here at all
        -- dbtools:lint-ignore invalid-ignore trying to silence the checker
        -- migrate:up
        SELECT 1;
        -- migrate:down
        SELECT 1;
        """,
    )
    found = run_lint("clickhouse")
    assert [(f.rule, f.line) for f in found] == [
        ("invalid-ignore", 1),
        ("ignore-unknown-rule", 2),
        ("unused-ignore", 3),
        ("invalid-ignore", 4),
    ]


@pytest.mark.usefixtures("needs_squawk")
def test_a_squawk_rule_can_be_ignored_with_a_reason(write: Write, run_lint: Lint) -> None:
    write("postgres", "001_users.sql", USERS)
    write(
        "postgres",
        "002_users_email_index.sql",
        """
        -- dbtools:lint-ignore squawk/require-concurrent-index-creation users has a few hundred rows
        -- migrate:up
        CREATE INDEX users_email_idx ON users (email);
        -- migrate:down
        DROP INDEX users_email_idx;
        """,
    )
    assert rules(run_lint("postgres")) == []


def test_clickhouse_table_comment_and_modify_column_comment_count_as_deprecation(write: Write, run_lint: Lint) -> None:
    write("clickhouse", "001_events.sql", EVENTS)
    write("clickhouse", "002_old_events.sql", EVENTS.replace("events", "old_events"))
    write(
        "clickhouse",
        "003_deprecate.sql",
        "-- migrate:up\nALTER TABLE old_events MODIFY COMMENT 'Deprecated: moved to events';\n"
        "ALTER TABLE events MODIFY COLUMN kind COMMENT 'deprecated';\n"
        "-- migrate:down\nALTER TABLE old_events MODIFY COMMENT '';\n",
    )
    write(
        "clickhouse",
        "004_drop.sql",
        "-- dbtools:lint-ignore missing-down the data is gone for good, backups hold it\n"
        "ALTER TABLE events DROP COLUMN IF EXISTS kind;\n"
        "ALTER TABLE events DROP COLUMN IF EXISTS legacy;\n"
        "DROP TABLE IF EXISTS old_events;\n",
    )
    assert at(run_lint("clickhouse"), "drop-without-deprecation") == [("004_drop.sql", 3)]


def test_what_the_store_cannot_read_is_an_unreadable_error_at_its_line(write: Write, run_lint: Lint) -> None:
    write(
        "postgres",
        "001_psql.sql",
        "-- migrate:up\nCREATE TABLE a (x int);\n\\set x 1\n-- migrate:down\nDROP TABLE a;\n",
    )
    write("postgres", "002_copy.sql", "-- migrate:up\nCOPY a FROM stdin;\n1\n-- migrate:down\nSELECT 1;\n")
    write("clickhouse", "001_open.sql", "-- migrate:up\nSELECT 1;\n\nSELECT 'open;\n")
    found = run_lint("postgres") + run_lint("clickhouse")
    assert at(found, "unreadable") == [("001_psql.sql", 3), ("002_copy.sql", 2), ("001_open.sql", 4)]
    messages = [f.message for f in found if f.rule == "unreadable"]
    assert "psql meta-command \\set" in messages[0] and "end-of-data line" in messages[1]
    assert "not closed" in messages[2]
    assert all(f.severity == "error" for f in found if f.rule == "unreadable")


def test_keywords_inside_comments_literals_and_heredocs_are_not_statements(write: Write, run_lint: Lint) -> None:
    write(
        "clickhouse",
        "001_a.sql",
        """
        -- migrate:up
        CREATE TABLE IF NOT EXISTS t (s String DEFAULT $$DROP TABLE x; ALTER TABLE t DELETE WHERE 1$$)
        ENGINE = MergeTree ORDER BY s; # DROP TABLE t;
        /* DROP TABLE t; /* nested */ ALTER TABLE t DELETE WHERE 1; */
        -- migrate:down
        DROP TABLE IF EXISTS t;
        """,
    )
    assert rules(run_lint("clickhouse"), "001_a.sql") == []
