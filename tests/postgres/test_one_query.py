"""A transactional section goes to the server as one multi-statement query with its history row (issue 18):
one round trip, nothing cut on the client; after a failure the statement and line are still named and
nothing stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtools import runner
from dbtools.backends.postgres import PostgresBackend
from dbtools.backends.postgres import apply as postgres_backend
from dbtools.errors import MigrationFailed
from dbtools.settings import Settings
from tests.conftest import Servers, fresh_settings
from tests.postgres.conftest import query


def history(settings: Settings) -> dict[int, tuple]:
    rows = query(settings, "SELECT version, status, statements_done, statements_total FROM migration_history")
    return {r[0]: r[1:] for r in rows}


def inserts(count: int, *, bad: int | None = None) -> str:
    """A table and `count` - 1 INSERTs, one per line; statement `bad` (1-based) repeats id 1."""
    lines = ["CREATE TABLE rows (id int PRIMARY KEY, note text);"]
    for i in range(1, count):
        key = 1 if bad is not None and i + 1 == bad else i
        lines.append(f"INSERT INTO rows VALUES ({key}, 'row {i}; -- not a comment');")
    return "\n".join(lines) + "\n"


def test_the_section_and_its_history_row_are_one_query(pg: Settings, mdir: Path) -> None:
    # statement_timestamp() is the arrival of the client's message: one value means one query
    (mdir / "postgres" / "001_one.sql").write_text(
        "CREATE TABLE seen (at timestamptz);\nINSERT INTO seen SELECT statement_timestamp();\n"
        "SELECT pg_sleep(0.05);\n-- a comment; with a semicolon\nINSERT INTO seen SELECT statement_timestamp()"
    )
    (row,) = runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert query(pg, "SELECT count(DISTINCT at), count(*) FROM seen") == [(1, 2)]
    assert history(pg) == {1: ("applied", 4, 4)}
    ((applied_ms, stamped),) = query(
        pg, "SELECT execution_ms, applied_at > (SELECT max(at) FROM seen) FROM migration_history"
    )
    assert applied_ms >= 50 and stamped and row.execution_ms >= 50


def test_a_failure_without_a_position_is_found_statement_and_line_and_nothing_stays(pg: Settings, mdir: Path) -> None:
    # a duplicate key carries no position: the section is run again, in batches, to name the statement
    (mdir / "postgres" / "001_rows.sql").write_text(inserts(2500, bad=1800))
    with pytest.raises(MigrationFailed) as failure:
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    message = failure.value.message
    assert "001_rows.sql line 1800, statement 1800 of 2500" in message and "duplicate key" in message
    assert "nothing of it was applied" in failure.value.hint
    assert query(pg, "SELECT to_regclass('rows')") == [(None,)]
    assert history(pg) == {1: ("failed", 0, 2500)}


def test_a_big_section_goes_alone_and_its_error_position_names_the_statement(
    pg: Settings, mdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_backend, "_ONE_QUERY_BYTES", 1000)  # BEGIN, the section, the history row + COMMIT
    text = inserts(300) + "SELECT nope FROM rows;\nINSERT INTO rows VALUES (9999, 'x');\n"
    (mdir / "postgres" / "001_rows.sql").write_text(text)
    with pytest.raises(MigrationFailed) as failure:
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert "001_rows.sql line 301, statement 301 of 302" in failure.value.message
    assert 'column "nope" does not exist' in failure.value.message
    assert query(pg, "SELECT to_regclass('rows')") == [(None,)]
    (mdir / "postgres" / "001_rows.sql").write_text(inserts(300))
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert history(pg) == {1: ("applied", 300, 300)}
    assert query(pg, "SELECT count(*) FROM rows") == [(299,)]


def test_a_history_write_that_fails_is_named_as_such(pg: Settings, mdir: Path) -> None:
    (mdir / "postgres" / "001_ok.sql").write_text("CREATE TABLE a (x int);\n")
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    query(pg, "ALTER TABLE migration_history ADD CONSTRAINT only_one CHECK (version < 2) NOT VALID")
    (mdir / "postgres" / "002_b.sql").write_text("CREATE TABLE b (x int);\nINSERT INTO b VALUES (1);\n")
    with pytest.raises(MigrationFailed, match=r"002_b ran but its history row could not be written: .*only_one"):
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert query(pg, "SELECT to_regclass('b')") == [(None,)]


def test_rollback_sends_the_down_section_whole_and_names_a_failing_statement(pg: Settings, mdir: Path) -> None:
    (mdir / "postgres" / "001_t.sql").write_text(
        "-- migrate:up\nCREATE TABLE t (x int);\nCREATE TABLE u (x int);\n"
        "-- migrate:down\nDROP TABLE u;\nINSERT INTO t VALUES (1 / 0);\nDROP TABLE t;\n"
    )
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    with pytest.raises(MigrationFailed, match=r"down section of 001_t.sql line 6, statement 2 of 3: .*division"):
        runner.rollback("postgres", migrations_dir=mdir, settings=pg, steps=1)
    assert query(pg, "SELECT to_regclass('u')::text") == [("u",)]
    assert history(pg) == {1: ("applied", 2, 2)}


def test_a_section_sent_whole_is_encoded_as_the_connection_talks(servers: Servers, mdir: Path) -> None:
    # a LATIN1 database: psycopg2 talks LATIN1 to it, and so must the section's bytes
    base = fresh_settings(servers, "postgres")
    admin = PostgresBackend(servers.get("postgres"))
    admin.connect()
    try:
        admin.query(
            f"CREATE DATABASE \"{base.database}\" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    finally:
        admin.close()
    text = "CREATE TABLE words (w text);\nINSERT INTO words VALUES ('café');\n"
    (mdir / "postgres" / "001_words.sql").write_text(text)
    runner.migrate("postgres", migrations_dir=mdir, settings=base)
    assert query(base, "SELECT w, length(w) FROM words") == [("café", 4)]
