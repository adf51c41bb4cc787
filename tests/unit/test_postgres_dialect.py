"""PostgreSQL statements as psql and the server read them: boundaries, lines, COPY data, meta-commands, kinds.

The fast path (libpg_query's C splitter) is checked against the token-by-token reader on generated
files, with chunks small enough that every chunk boundary falls somewhere interesting.
"""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbtools.backends.postgres import dialect
from dbtools.backends.postgres import reader as pg_reader
from dbtools.backends.postgres.dialect import runs_as_one, split
from dbtools.backends.postgres.kinds import (
    ADD_ENUM_VALUE,
    BEGIN,
    COMMIT,
    COPY_IN,
    NO_TRANSACTION,
    RELEASE,
    ROLLBACK,
    ROLLBACK_TO,
    SAVEPOINT,
    classify,
)
from dbtools.errors import MigrationFileError


def sqls(text: str, **kwargs: object) -> list[str]:
    return [s.sql for s in split(text, **kwargs)]  # type: ignore[arg-type]


def test_lexical_rules_are_the_servers() -> None:
    text = (
        "-- leading; comment\n"
        "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN NEW.x := 1; RETURN NEW; END; $$ LANGUAGE plpgsql;\n"
        "SELECT 'a;b', \"c;d\" FROM t; /* x; y */\n"
        "SELECT 1 /* a /* nested ; */ still a comment ; */;\n"
        "SELECT $д$ a; b $д$, $_x1$;$_x1$;\n"
        "SELECT E'it\\'s;', 'C:\\';\n"
        'SELECT U&"d\\0061t;a" FROM t;\n'
        "SELECT 'a' -- a comment between the parts of one string\n'b;c';\n"
        "SELECT 5 # 3;\n"
        "-- trailing comment only\n"
    )
    statements = split(text, first_line=10)
    assert [s.line for s in statements] == [11, 12, 13, 14, 15, 16, 17, 19]
    assert statements[0].sql.endswith("plpgsql;") and statements[3].sql == "SELECT $д$ a; b $д$, $_x1$;$_x1$;"
    assert statements[4].sql == "SELECT E'it\\'s;', 'C:\\';"
    assert statements[6].sql.endswith("'b;c';")


def test_begin_atomic_bodies_and_parenthesised_rule_actions_stay_whole() -> None:
    text = (
        "CREATE OR REPLACE FUNCTION g() RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN true THEN 2 END;\nEND;\n"
        "CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END;\n"
        "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (')'); INSERT INTO b VALUES (2));\n"
        "SELECT 1;\n"
    )
    assert [s.line for s in split(text)] == [1, 6, 7, 8]


def test_transaction_control_statements_are_single_statements_never_blocks() -> None:
    text = (
        "BEGIN ISOLATION LEVEL SERIALIZABLE;\nBEGIN READ ONLY;\nSTART TRANSACTION ISOLATION LEVEL REPEATABLE READ;\n"
        "SAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\nRELEASE SAVEPOINT s;\nCOMMIT;\nEND;\nABORT;\nROLLBACK;\n"
    )
    assert [s.kind for s in split(text)] == [
        BEGIN, BEGIN, BEGIN, SAVEPOINT, ROLLBACK_TO, RELEASE, COMMIT, COMMIT, ROLLBACK, ROLLBACK,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (x)", NO_TRANSACTION),
        ("create unique index concurrently if not exists i on t (x)", NO_TRANSACTION),
        ("CREATE INDEX i ON t (x)", ""),
        ("DROP INDEX CONCURRENTLY IF EXISTS i", NO_TRANSACTION),
        ("ALTER TABLE measurements\n  DETACH PARTITION measurements_2020\n  CONCURRENTLY", NO_TRANSACTION),
        ("ALTER TABLE measurements DETACH PARTITION measurements_2020", ""),
        ("REINDEX SCHEMA public", NO_TRANSACTION),
        ("REINDEX (VERBOSE) DATABASE app", NO_TRANSACTION),
        ("REINDEX SYSTEM", NO_TRANSACTION),
        ("REINDEX (CONCURRENTLY) TABLE t", NO_TRANSACTION),
        ("REINDEX TABLE CONCURRENTLY t", NO_TRANSACTION),
        ("REINDEX (CONCURRENTLY false) TABLE t", ""),
        ("REINDEX TABLE t", ""),
        ("DISCARD ALL", NO_TRANSACTION),
        ("DISCARD PLANS", ""),
        ("CLUSTER", NO_TRANSACTION),
        ("CLUSTER t USING i", ""),
        ("VACUUM (ANALYZE) t", NO_TRANSACTION),
        ("ANALYZE t", ""),
        ("CREATE DATABASE d", NO_TRANSACTION),
        ("DROP DATABASE IF EXISTS d", NO_TRANSACTION),
        ("CREATE TABLE database_names (tablespace text, subscription text)", ""),
        ("ALTER SYSTEM SET work_mem = '64MB'", NO_TRANSACTION),
        ("ALTER DATABASE d SET TABLESPACE fast", NO_TRANSACTION),
        ("ALTER DATABASE d SET work_mem = '64MB'", ""),
        ("ALTER TYPE mood ADD VALUE 'meh'", ADD_ENUM_VALUE),
        ("ALTER TYPE mood RENAME VALUE 'a' TO 'b'", ""),
        ("CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p", NO_TRANSACTION),
        ("COMMIT PREPARED 'x'", NO_TRANSACTION),
        ("SELECT 'CREATE INDEX CONCURRENTLY'", ""),
        ("CREATE INDEX CONCURRENTLY i ON t USING gin (x) WITH (fastupdate = off) WHERE x IS NOT NULL", NO_TRANSACTION),
    ],
)
def test_statements_that_must_run_outside_a_transaction_are_judged_whole(sql: str, kind: str) -> None:
    assert classify(sql) == kind
    (statement,) = split(sql + ";")
    assert statement.kind == kind


def test_a_statement_that_does_not_parse_is_judged_on_its_words() -> None:
    assert classify("CREATE INDEX CONCURRENTLY i ON t (x) WITH SOME_FUTURE_SYNTAX ((") == NO_TRANSACTION
    assert classify("CREATE TABLE t (x int) WITH SOME_FUTURE_SYNTAX ((") == ""


def test_needs_autocommit_considers_the_server_version_for_enum_values() -> None:
    script = split("ALTER TYPE mood ADD VALUE 'meh';")
    assert not script.needs_autocommit(150000) and script.needs_autocommit(110000)
    assert split("BEGIN; SELECT 1; COMMIT;").needs_autocommit(150000)
    assert not split("CREATE TABLE t (x int); INSERT INTO t VALUES (1);").needs_autocommit(150000)


def test_copy_from_stdin_takes_its_data_block() -> None:
    text = (
        "CREATE TABLE t (a int, b text);\n"
        "COPY public.t (a, b) FROM stdin;\n"
        "1\tit's; not SQL\n"
        "2\t\\N\n"
        "3\t/* nor this\n"
        "\\.\n"
        "COPY t FROM STDIN WITH (FORMAT csv);\n"
        "\\.\n"
        "SELECT count(*) FROM t;\n"
        "COPY t TO STDOUT;\n"
    )
    statements = split(text)
    assert [(s.line, s.kind) for s in statements] == [(1, ""), (2, COPY_IN), (7, COPY_IN), (9, ""), (10, "")]
    assert statements[1].data == "1\tit's; not SQL\n2\t\\N\n3\t/* nor this\n"
    assert statements[2].data == "" and statements[1].sql == "COPY public.t (a, b) FROM stdin;"


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ("SELECT 1;\n\\echo hello\nSELECT 2;\n", "psql meta-command \\echo", 2),
        ("SELECT 1;\nSELECT 2; \\gset\n", "psql meta-command \\gset", 2),
        ("\\set ON_ERROR_STOP on\nCREATE TABLE t (x int);\n", "psql meta-command \\set", 1),
        ("SELECT 1;\n\n\\i other.sql\n", "psql meta-command \\i", 3),
        ("\\connect other\n", "psql meta-command \\connect", 1),
        ("SELECT 1;\nSELECT 'unterminated;\nSELECT 2;\n", "unterminated quoted string", 2),
        ("SELECT 1;\nSELECT $x$ never closed;\n", "unterminated dollar-quoted string", 2),
        ("SELECT 1; /* a /* b */ still open\n", "unterminated /* comment", 1),
        ('SELECT "open;\n', "unterminated quoted identifier", 1),
        ("COPY t FROM stdin;\n1\t2\n", "without its end-of-data line", 1),
        ("COPY t FROM stdin; SELECT 1;\n1\n\\.\n", "text after COPY ... FROM STDIN;", 1),
    ],
)
def test_what_no_server_can_run_is_refused_naming_file_and_line(text: str, needle: str, line: int) -> None:
    with pytest.raises(MigrationFileError) as error:
        split(text, first_line=1, source="007_x.sql")
    assert error.value.message.startswith(f"007_x.sql:{line}: ") and needle in error.value.message
    assert error.value.hint


def test_a_meta_command_inside_a_literal_is_data() -> None:
    assert sqls("SELECT E'\\\\echo', '\\echo', $$\\i x$$;") == ["SELECT E'\\\\echo', '\\echo', $$\\i x$$;"]


def test_keyword_less_pieces_are_kept_not_dropped() -> None:
    assert sqls("foo bar;\nSELECT 1;\n42;") == ["foo bar;", "SELECT 1;", "42;"]


def test_runs_as_one_is_conservative() -> None:
    assert runs_as_one("CREATE TABLE t (x int);\nINSERT INTO t VALUES (1), (2);\n")
    for text in ("BEGIN; SELECT 1; COMMIT;", "COPY t FROM stdin;\n\\.\n", "CREATE INDEX CONCURRENTLY i ON t (x);"):
        assert not runs_as_one(text)


# -- the fast path against the token reader --------------------------------------------------

_STRING_CHARS = st.sampled_from([*list("ab ;()'\n\\-*/$\""), "copy", "atomic", "д"])


def _quoted(chars: list[str]) -> str:
    return "'" + "".join(chars).replace("'", "''") + "'"


def _e_string(chars: list[str]) -> str:
    return "E'" + "".join(chars).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _dollar(chars: list[str], tag: str) -> str:
    body = "".join(chars).replace("$", "")
    return f"${tag}${body}${tag}$"


_statement = st.one_of(
    st.lists(_STRING_CHARS, max_size=8).map(lambda c: f"SELECT {_quoted(c)} AS c;"),
    st.lists(_STRING_CHARS, max_size=8).map(lambda c: f"SELECT {_e_string(c)};"),
    st.tuples(st.lists(_STRING_CHARS, max_size=8), st.sampled_from(["", "x", "д", "_1"])).map(
        lambda a: f"DO {_dollar(a[0], a[1])};"
    ),
    st.lists(_STRING_CHARS, min_size=1, max_size=6).map(
        lambda c: f'SELECT "{"".join(c).replace(chr(34), chr(34) * 2)}" FROM t;'
    ),
    st.just("SELECT 1 /* c ; /* nested ; */ */;"),
    st.just("CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (';'); INSERT INTO b VALUES (2));"),
    st.just(
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END;"
    ),
    st.integers(0, 10**6).map(lambda i: f"INSERT INTO t (a, b) VALUES ({i}, 'row {i}');"),
    st.just("INSERT INTO t VALUES ('copy that', 'atomic');"),
    st.just("foo bar;"),
    st.just('SELECT U&"d\\0061t;a";'),
    st.just("SELECT 'a'\n'b;c';"),
    st.sampled_from(["BEGIN ISOLATION LEVEL SERIALIZABLE;", "COMMIT;", "ABORT;", "SAVEPOINT a;", "END;"]),
    st.just("CREATE INDEX CONCURRENTLY i ON t (x);"),
    st.just("COPY t (a, b) FROM stdin;\n1\t'x; /* y\n\\.\n"),
)
_separator = st.lists(
    st.sampled_from(["\n", " ", "\n\n", "-- note; with copy\n", "/* block; /* nested */ */", ";", "\t"]), max_size=3
).map(lambda parts: "".join(parts) or "\n")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_separator, _statement), min_size=1, max_size=12), st.sampled_from([8, 40, 200, 1 << 20]))
def test_fast_path_agrees_with_the_token_reader_and_with_the_statements_written(
    parts: list[tuple[str, str]], chunk: int
) -> None:
    text = "".join(sep + statement for sep, statement in parts) + "\n"
    with (
        mock.patch.object(dialect, "CHUNK", chunk),
        mock.patch.object(pg_reader, "CHUNK", chunk),
        mock.patch.object(pg_reader, "_EXACT_CHUNK", max(8, chunk // 4)),
    ):
        fast = split(text, first_line=5)
        reader = pg_reader._Reader(text, 5, "x.sql", fast=False)
        reader.run()
    slow = reader.script
    assert [(s.sql, s.line, s.kind, s.data) for s in fast] == [(s.sql, s.line, s.kind, s.data) for s in slow]
    expected = []
    at = 0
    for sep, statement in parts:
        at += len(sep)
        written = statement.split("\n")[0] if statement.startswith("COPY") else statement
        expected.append((written, 5 + text.count("\n", 0, at)))
        at += len(statement)
    assert [(s.sql, s.line) for s in fast] == expected


def test_big_files_split_in_chunks_with_the_right_lines() -> None:
    rows = [f"INSERT INTO t (a, b) VALUES ({i}, 'row {i};');\n" for i in range(3000)]
    text = "".join(rows[:1000]) + "CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END;\n" + "".join(rows[1000:])
    with mock.patch.object(dialect, "CHUNK", 4096), mock.patch.object(pg_reader, "CHUNK", 4096):
        statements = split(text, first_line=3)
    assert len(statements) == 3001
    assert statements[1000].line == 1003 and statements[1000].sql.startswith("CREATE FUNCTION")
    assert statements[-1].line == 3003 and statements[-1].sql == rows[-1].strip()


# Parentheses balance: text whose parentheses close before they open is a syntax error on every
# server, and libpg_query's splitter and psql may cut it differently (the server refuses it either way).
_plain_statement = st.lists(
    st.sampled_from(["CREATE", "TABLE", "t1", "(id int)", "INDEX", "ON", "x", "1", "\n", "  ", "DROP", "VALUES"]),
    min_size=1,
    max_size=8,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_plain_statement, min_size=1, max_size=6), st.sampled_from(["", ";", ";\n", "\n;;"]))
def test_plain_text_is_cut_at_its_semicolons_exactly_as_the_lexer_cuts_it(parts: list[str], tail: str) -> None:
    """Text without quotes, comments or dollars takes a path that never loads pglast; it must agree."""
    text = ";\n".join(parts) + tail
    reader = pg_reader._Reader(text, 3, "x.sql", fast=False)
    reader.run()
    assert [(s.sql, s.line, s.kind) for s in split(text, first_line=3)] == [
        (s.sql, s.line, s.kind) for s in reader.script
    ]


def test_plain_migrations_never_load_pglast() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from dbtools.backends.postgres.dialect import split; "
        "s = split('CREATE TABLE t (id bigint PRIMARY KEY);\\nCREATE INDEX i ON t (id);\\nDROP TABLE old;'); "
        "print(len(s), 'pglast' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["3", "False"]


# -- sections cut only when a statement is asked for ---------------------------------------------

_simple_piece = st.one_of(
    _statement,
    st.lists(_STRING_CHARS, max_size=6).map(lambda c: f"INSERT INTO t VALUES ({_quoted(c)}, 'end');"),
    st.sampled_from(
        [
            "SELECT 1",
            "SELECT 'unterminated;",
            'SELECT "unterminated;',
            "UPDATE t SET pending = 1, end_at = now(), \"begin\" = 'commit; copy' -- rollback; 'x\n;",
            "ALTER TYPE mood ADD VALUE 'sad';",
            "SELECT (1;",
            "SELECT 1);",
            "'just a string';",
            "-- only a comment\n",
            "  ;",
        ]
    ),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(_separator, _simple_piece), min_size=1, max_size=10))
def test_deferred_sections_count_what_the_lexer_cuts_and_hold_nothing_special(parts: list[tuple[str, str]]) -> None:
    text = "".join(sep + piece for sep, piece in parts)
    simple = dialect._simple(text)
    if simple is None:
        return
    reader = pg_reader._Reader(text, 1, "x.sql", fast=False)
    reader.run()  # never refuses what _simple took
    assert simple[0] == len(reader.script)
    assert set(reader.script._kinds.values()) <= {ADD_ENUM_VALUE}
    assert simple[1] or not reader.script._kinds
    deferred = split(text, first_line=1)
    assert len(deferred) == simple[0] and deferred.sendable(150000)
    assert [(s.sql, s.line, s.kind) for s in deferred] == [(s.sql, s.line, s.kind) for s in reader.script]


def test_a_deferred_section_is_sent_whole_and_cut_only_when_asked() -> None:
    text = "INSERT INTO t VALUES (1, 'a;b');\n-- note\nINSERT INTO t VALUES (2, 'c');\n"
    script = split(text, first_line=4)
    assert script._deferred is not None and len(script) == 2 and script.sendable(150000)
    assert script.index_at(text.index("(2")) == 1 and script.index_at(0) == 0
    assert script._deferred is None and script[1].line == 6
    assert not split("ALTER TYPE mood ADD VALUE 'x';").sendable(110000)
    assert split("ALTER TYPE mood ADD VALUE 'x';").sendable(150000)
    assert not split("COPY t FROM stdin;\n1\n\\.\n").sendable(150000)
    assert not dialect.Script.of(list(split("SELECT 1; SELECT 2;"))).sendable(150000)


def test_unterminated_or_special_text_is_never_deferred() -> None:
    for text in (
        "SELECT 'a;",
        'SELECT "a;',
        "SELECT 1; BEGIN;",
        "VACUUM;",
        "SELECT $$a$$;",
        "SELECT 1 /* x */;",
        "SELECT E'\\n';",
        "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); SELECT 2);",
    ):
        assert dialect._simple(text) is None, text
