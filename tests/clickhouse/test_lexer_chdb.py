"""The ClickHouse lexer against ClickHouse itself (chdb): where statements end, what a literal holds.

Each generated file is a run of `INSERT ... SELECT k, <literal> AS <identifier>` statements with
semicolons, quotes, backslashes, comment openers and heredoc tags inside the literals, and comments
of every kind between them. Three ways of reading it must agree: ours (the statements as written),
the engine's own multi-statement reading (one query call for the whole file), and the engine run on
each of our pieces; `formatQuerySingleLine` must accept each piece as exactly one statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbtools.backends.clickhouse import ClickHouseBackend
from dbtools.backends.clickhouse.dialect import split, tokens
from dbtools.settings import Settings

from .conftest import created, token


@pytest.fixture(scope="module")
def engine(chdb_root: Settings) -> Iterator[Any]:
    """A client on a fresh database of this process's chdb directory, with the two tables the test fills."""
    backend = ClickHouseBackend(created(chdb_root.with_database(token())))
    backend.connect()
    for table in ("whole", "pieces"):
        backend.query(f"CREATE TABLE {backend.database}.{table} (k UInt32, v String) ENGINE = Memory")
    yield backend
    backend.close()


def rows(engine: Any, table: str) -> list[tuple[int, str]]:
    result = engine.query(f"SELECT k, hex(v) FROM {engine.database}.{table} ORDER BY k")
    return [(int(k), bytes.fromhex(v).decode()) for k, v in result]


def literal_sql(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_chars = st.sampled_from([*list("ab ;'\"`\\\n$#!/*-"), "--", "/*", "*/", "$$", "$x$", "#!", "// ", "д"])
_value = st.lists(_chars, max_size=10).map("".join)


@st.composite
def literal(draw: Any) -> tuple[str, str]:
    """(SQL text, the value it stands for) in one of ClickHouse's literal forms."""
    value = draw(_value)
    form = draw(st.sampled_from(["backslash", "doubled", "heredoc", "heredoc-tagged"]))
    if form == "doubled" and "\\" not in value:
        return "'" + value.replace("'", "''") + "'", value
    if form.startswith("heredoc"):
        tag = "$tag$" if form == "heredoc-tagged" else "$$"
        if tag not in value and not value.endswith("$") and "$" not in value[:1]:
            return f"{tag}{value}{tag}", value
    return literal_sql(value), value


@st.composite
def identifier(draw: Any) -> str:
    name = draw(st.lists(_chars, min_size=1, max_size=6).map("".join))
    if draw(st.booleans()):
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "`" + name.replace("\\", "\\\\").replace("`", "``") + "`"


_separator = st.lists(
    st.sampled_from(
        [" ", "\n", "\t", "-- c; 'x\n", "# c; `x\n", "#!shebang; $$\n", '// c; "x\n', "/* c; /* nested ' */ $x$ */"]
    ),
    min_size=1,
    max_size=3,
).map("".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.tuples(_separator, literal(), identifier(), _separator), min_size=1, max_size=6))
def test_statements_end_where_clickhouse_ends_them(
    engine: Any, parts: list[tuple[str, tuple[str, str], str, str]]
) -> None:
    written, expected = [], []
    text = ""
    for k, (before, (sql, value), name, inside) in enumerate(parts):
        statement = f"INSERT INTO {engine.database}.{{table}} SELECT {k},{inside.replace(';', ' ')}{sql} AS {name};"
        written.append(statement)
        expected.append((k, value))
        text += before + statement
    ours = split(text.replace("{table}", "whole"))
    assert [s.sql for s in ours] == [w.replace("{table}", "whole") for w in written]
    assert "".join(t.text for t in tokens(text)) == text

    engine.query(f"TRUNCATE TABLE {engine.database}.whole")
    engine.query(text.replace("{table}", "whole"))  # the engine reads the whole file itself
    assert rows(engine, "whole") == expected

    engine.query(f"TRUNCATE TABLE {engine.database}.pieces")
    for statement in split(text.replace("{table}", "pieces")):
        ((formatted,),) = engine.query(f"SELECT formatQuerySingleLine({literal_sql(statement.sql)})")
        assert formatted.startswith(f"INSERT INTO {engine.database}.pieces")
        engine.query(statement.sql)
    assert rows(engine, "pieces") == expected


def test_lines_and_comment_kinds() -> None:
    text = (
        "-- head\n# note\n#!/usr/bin/env clickhouse-local\n// more\nSELECT 1;\n/* a /* b; */ c; */ SELECT 2; SELECT 3"
    )
    assert [(s.sql, s.line) for s in split(text, first_line=4)] == [
        ("SELECT 1;", 8),
        ("SELECT 2;", 9),
        ("SELECT 3", 9),
    ]
