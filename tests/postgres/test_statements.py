"""Files read as PostgreSQL reads them, applied on a real server: statement boundaries, statements that
refuse a transaction, files with their own transaction control, COPY data, psql meta-commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtools import runner
from dbtools.errors import MigrationFailed, MigrationFileError
from dbtools.settings import Settings
from tests.postgres.conftest import query


def history(settings: Settings) -> dict[int, tuple]:
    return {
        r[0]: r[1:]
        for r in query(settings, "SELECT version, status, statements_done, statements_total FROM migration_history")
    }


def write(mdir: Path, name: str, text: str) -> Path:
    path = mdir / "postgres" / name
    path.write_text(text)
    return path


def test_lexical_edge_cases_apply_as_written(pg: Settings, mdir: Path) -> None:
    write(
        mdir,
        "001_lexical.sql",
        "CREATE TABLE notes (id int, body text); /* a /* nested ; */ comment ; */\n"
        "INSERT INTO notes VALUES (1, $д$ one; two $д$);\n"
        "INSERT INTO notes VALUES (2, E'it\\'s; fine'), (3, 'C:\\temp;');\n"
        'CREATE TABLE U&"d\\0061t;a" (x int);\n'
        "INSERT INTO notes VALUES (4, 'joined'\n';across lines');\n"
        "CREATE FUNCTION total() RETURNS bigint LANGUAGE sql\nBEGIN ATOMIC\n  SELECT count(*) FROM notes;\nEND;\n",
    )
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert history(pg) == {1: ("applied", 6, 6)}
    assert query(pg, "SELECT id, body FROM notes ORDER BY id") == [
        (1, " one; two "),
        (2, "it's; fine"),
        (3, "C:\\temp;"),
        (4, "joined;across lines"),
    ]
    assert query(pg, "SELECT total(), to_regclass('\"dat;a\"')::text") == [(4, '"dat;a"')]


@pytest.mark.parametrize(
    "statement",
    [
        # past the first dozen tokens, where the old splitter stopped looking
        'ALTER TABLE IF EXISTS public.U&"measurements" DETACH PARTITION public.U&"measurements_2020" CONCURRENTLY',
        "REINDEX SCHEMA public",
        "REINDEX (VERBOSE) SCHEMA public",
        "DISCARD ALL",
        "CLUSTER",
    ],
)
def test_statements_that_refuse_a_transaction_run_outside_one(pg: Settings, mdir: Path, statement: str) -> None:
    write(
        mdir,
        "001_parts.sql",
        "CREATE TABLE measurements (at date NOT NULL, v int) PARTITION BY RANGE (at);\n"
        "CREATE TABLE measurements_2020 PARTITION OF measurements FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');\n",
    )
    write(mdir, "002_outside.sql", f"-- the statement below cannot run in a transaction block\n{statement};\n")
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert history(pg) == {1: ("applied", 2, 2), 2: ("applied", 1, 1)}
    if "DETACH" in statement:
        assert query(pg, "SELECT count(*) FROM pg_inherits") == [(0,)]


def test_transaction_control_is_a_statement_not_a_block(pg: Settings, mdir: Path) -> None:
    write(
        mdir,
        "001_own.sql",
        "BEGIN ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE a (x int);\nCOMMIT;\n"
        "START TRANSACTION READ WRITE;\nINSERT INTO a VALUES (1);\nSAVEPOINT s;\nINSERT INTO a VALUES (2);\n"
        "ROLLBACK TO SAVEPOINT s;\nRELEASE SAVEPOINT s;\nEND;\n"
        "CREATE INDEX CONCURRENTLY a_x ON a (x);\n",
    )
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert history(pg) == {1: ("applied", 11, 11)}
    assert query(pg, "SELECT x FROM a") == [(1,)]
    assert query(pg, "SELECT indexname FROM pg_indexes WHERE tablename = 'a'") == [("a_x",)]


@pytest.mark.parametrize("word", ["ABORT", "ROLLBACK"])
def test_a_file_that_rolls_its_own_work_back_is_not_recorded_as_applied(pg: Settings, mdir: Path, word: str) -> None:
    write(mdir, "001_undo.sql", f"CREATE TABLE kept (x int);\nBEGIN;\nCREATE TABLE gone (x int);\n{word};\n")
    with pytest.raises(MigrationFailed) as failure:
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert f"own {word} (line 4) rolled back statements 2-4" in failure.value.message
    assert history(pg) == {1: ("failed", 1, 4)}
    assert query(pg, "SELECT to_regclass('kept')::text, to_regclass('gone')::text") == [("kept", None)]


def test_copy_from_stdin_streams_its_data_block(pg: Settings, mdir: Path) -> None:
    write(
        mdir,
        "001_copy.sql",
        "-- migrate:up\nCREATE TABLE rates (code text PRIMARY KEY, note text);\n"
        "COPY rates (code, note) FROM stdin;\n"
        "usd\tit's; not SQL\n"
        "eur\t\\N\n"
        "gbp\t/* nor this\n"
        "\\.\n"
        "COPY rates FROM STDIN WITH (FORMAT csv);\n"
        'chf,"quoted, with; commas"\n'
        "\\.\n"
        "UPDATE rates SET note = upper(note) WHERE code = 'usd';\n"
        "-- migrate:down\nDROP TABLE rates;\n",
    )
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert history(pg) == {1: ("applied", 4, 4)}
    assert query(pg, "SELECT code, note FROM rates ORDER BY code") == [
        ("chf", "quoted, with; commas"),
        ("eur", None),
        ("gbp", "/* nor this"),
        ("usd", "IT'S; NOT SQL"),
    ]


def test_copy_data_that_fails_leaves_nothing(pg: Settings, mdir: Path) -> None:
    write(mdir, "001_copy.sql", "CREATE TABLE n (x int);\nCOPY n FROM stdin;\n1\nnot a number\n\\.\n")
    with pytest.raises(MigrationFailed, match=r"001_copy.sql line 2, statement 2 of 2: .*invalid input syntax"):
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert query(pg, "SELECT to_regclass('n')") == [(None,)]


def test_copy_runs_outside_a_transaction_too(pg: Settings, mdir: Path) -> None:
    write(
        mdir,
        "001_copy.sql",
        "CREATE TABLE n (x int);\nCOPY n FROM stdin;\n1\n2\n\\.\nCREATE INDEX CONCURRENTLY n_x ON n (x);\n",
    )
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert history(pg) == {1: ("applied", 3, 3)}
    assert query(pg, "SELECT sum(x) FROM n") == [(3,)]


def test_a_psql_meta_command_is_refused_before_anything_runs(pg: Settings, mdir: Path) -> None:
    write(mdir, "001_fine.sql", "CREATE TABLE fine (x int);\n")
    write(mdir, "002_psql.sql", "CREATE TABLE t (x int);\n\\set ON_ERROR_STOP on\nINSERT INTO t VALUES (1);\n")
    for call in (
        lambda: runner.validate("postgres", migrations_dir=mdir, settings=pg),
        lambda: runner.migrate("postgres", migrations_dir=mdir, settings=pg, dry_run=True),
        lambda: runner.migrate("postgres", migrations_dir=mdir, settings=pg),
    ):
        with pytest.raises(MigrationFileError, match=r"002_psql.sql:2: psql meta-command \\set"):
            call()
    assert query(pg, "SELECT to_regclass('fine'), to_regclass('t')") == [(None, None)]


def test_an_unterminated_string_is_refused_naming_its_line(pg: Settings, mdir: Path) -> None:
    write(mdir, "001_a.sql", "CREATE TABLE a (x text);\nINSERT INTO a VALUES ('oops);\nCREATE TABLE b (x int);\n")
    with pytest.raises(MigrationFileError, match=r"001_a\.sql:2: unterminated quoted string"):
        runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    assert query(pg, "SELECT to_regclass('a')") == [(None,)]


def test_down_sections_use_the_same_reader(pg: Settings, mdir: Path) -> None:
    write(
        mdir,
        "001_a.sql",
        "-- migrate:up\nCREATE TABLE a (x int);\nCREATE INDEX CONCURRENTLY a_x ON a (x);\n"
        "-- migrate:down\nDROP INDEX CONCURRENTLY a_x;\nDROP TABLE a;\n",
    )
    runner.migrate("postgres", migrations_dir=mdir, settings=pg)
    runner.rollback("postgres", steps=1, migrations_dir=mdir, settings=pg)
    assert query(pg, "SELECT to_regclass('a')") == [(None,)]
    assert history(pg) == {}
