"""Statement splitting: quotes, comments and dollar quoting never end a statement; lines are right."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from dbtools.sqltext import progress_checksum, split


def test_semicolons_inside_literals_comments_and_bodies() -> None:
    text = (
        "-- leading; comment\n"
        "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN NEW.x := 1; RETURN NEW; END; $$ LANGUAGE plpgsql;\n"
        "SELECT 'a;b', \"c;d\" FROM t; /* x; y */\n"
        "DO $body$ BEGIN PERFORM 1; END $body$;\n"
        "SELECT E'it\\'s;';\n"
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n"
        "-- trailing comment only\n"
    )
    statements = split(text, first_line=10)
    assert [s.line for s in statements] == [11, 12, 13, 14, 15]
    assert statements[0].sql.startswith("CREATE FUNCTION f()") and statements[0].sql.endswith("plpgsql;")
    assert statements[4].sql.endswith("END;")


def test_comment_only_text_has_no_statements() -> None:
    assert split("-- nothing here\n/* nor; here */\n") == []


def test_progress_checksum_depends_on_the_statements_done() -> None:
    a = split("SELECT 1; SELECT 2; SELECT 3;")
    b = split("SELECT 1; SELECT 2; SELECT 4;")
    assert progress_checksum(a, 2) == progress_checksum(b, 2) != progress_checksum(b, 3)


literal = st.text(alphabet=st.sampled_from(list("ab; -*/$\n'\"")), max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(literal, min_size=1, max_size=6))
def test_quoted_literals_with_semicolons_stay_whole(values: list[str]) -> None:
    statements = [f"SELECT '{v.replace(chr(39), chr(39) * 2)}' AS c{i};" for i, v in enumerate(values)]
    text = "\n".join(statements)
    parts = split(text)
    assert [p.sql for p in parts] == statements
    assert [p.line for p in parts] == [1 + text[: text.index(s)].count("\n") for s in statements]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab; '\n")), max_size=10), min_size=1, max_size=5))
def test_dollar_quoted_bodies_stay_whole(bodies: list[str]) -> None:
    statements = [f"DO $x$ BEGIN RAISE NOTICE '{re.sub(chr(39), '', b)}'; END $x$;" for b in bodies]
    assert [p.sql for p in split("\n".join(statements))] == statements


plain_statement = st.lists(
    st.sampled_from(["CREATE", "TABLE", "t1", "(id", "int)", "INDEX", "ON", "x", "1", "\n", "  ", "DROP", "VALUES"]),
    min_size=1,
    max_size=8,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(plain_statement, min_size=1, max_size=6), st.booleans())
def test_plain_fast_path_agrees_with_the_tokenizer(parts: list[str], trailing: bool) -> None:
    """Text with nothing to quote takes a fast path; it must give exactly what sqlparse gives."""
    from dbtools.sqltext import _split_tokenized

    text = ";\n".join(parts) + (";\n" if trailing else "")
    fast, slow = split(text, first_line=3), _split_tokenized(text, 3, 12)
    assert [(s.sql, s.line) for s in fast] == [(s.sql, s.line) for s in slow]


def test_postgres_strings_take_no_backslash_escapes_but_e_strings_do() -> None:
    text = "SELECT 'C:\\'; SELECT E'it\\'s;'; SELECT 5 # 3; SELECT 'x'"
    assert [s.sql for s in split(text, dialect="postgres")] == [
        "SELECT 'C:\\';",
        "SELECT E'it\\'s;';",
        "SELECT 5 # 3;",
        "SELECT 'x'",
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab;\\' \n#-")), max_size=10), min_size=1, max_size=5))
def test_postgres_standard_strings_with_backslashes_stay_whole(values: list[str]) -> None:
    statements = [f"SELECT '{v.replace(chr(39), chr(39) * 2)}' AS c{i};" for i, v in enumerate(values)]
    assert [p.sql for p in split("\n".join(statements), dialect="postgres")] == statements
