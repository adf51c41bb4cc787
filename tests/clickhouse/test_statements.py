"""ClickHouse statement text: splitting (property-tested), ON CLUSTER rewriting, inline INSERT rewriting."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dbtools.backends.clickhouse.dialect import split
from dbtools.backends.clickhouse.sql import inline_insert_as_select, on_cluster

ALPHABET = list("ab ;'\"`\\-#/*\n")


def string_literal(value: str) -> str:
    """A ClickHouse string literal with backslash escapes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quoted_identifier(value: str, index: int) -> str:
    """A backquoted identifier, its backquotes escaped either way ClickHouse allows: doubled or `\\``."""
    escaped = value.replace("\\", "\\\\")
    return "`" + (escaped.replace("`", "``") if index % 2 else escaped.replace("`", "\\`")) + "`"


def comment(kind: int, text: str) -> str:
    if kind == 0:
        return "-- " + text.replace("\n", " ") + "\n"
    if kind == 1:
        return "# " + text.replace("\n", " ") + "\n"
    return "/* " + text.replace("*/", "* /").replace("/*", "/ *") + " */ "  # ClickHouse nests /* */


piece = st.text(alphabet=st.sampled_from(ALPHABET), max_size=10)
statement = st.tuples(piece, piece, st.integers(0, 2), piece)


def render(index: int, parts: tuple[str, str, int, str]) -> str:
    value, name, kind, note = parts
    return f"{comment(kind, note)}SELECT {string_literal(value)} AS {quoted_identifier(name + str(index), index)};"


@settings(max_examples=300, deadline=None)
@given(st.lists(statement, min_size=1, max_size=6))
def test_split_keeps_literals_identifiers_and_comments_whole(parts: list[tuple[str, str, int, str]]) -> None:
    text = "\n".join(render(i, p) for i, p in enumerate(parts))
    statements = split(text)
    assert len(statements) == len(parts), (text, statements)
    for i, (got, p) in enumerate(zip(statements, parts, strict=True)):
        expected = render(i, p)
        # a comment after the `;` may ride along at the end of the statement: harmless to the server
        assert got.sql.startswith(expected[expected.index("SELECT ") :]), (text, got.sql)
        assert got.line == text[: text.index(got.sql)].count("\n") + 1


def test_semicolons_in_strings_and_comments_of_real_ddl() -> None:
    text = (
        "CREATE TABLE t (s String DEFAULT 'a;b', `we;ird` UInt8) -- c;\nENGINE = Memory;\n"
        "# hash; comment\nINSERT INTO t VALUES ('it\\'s;', 1);\n/* a; */ SELECT \"x;y\" FROM t;"
    )
    assert [s.line for s in split(text)] == [1, 4, 5]


def test_on_cluster_is_added_after_the_object_name() -> None:
    c = "trading"
    assert on_cluster("CREATE TABLE IF NOT EXISTS db.`t x` (a UInt8) ENGINE = Memory", c) == (
        "CREATE TABLE IF NOT EXISTS db.`t x` ON CLUSTER `trading` (a UInt8) ENGINE = Memory"
    )
    assert on_cluster("alter table t add column b UInt8", c) == "alter table t ON CLUSTER `trading` add column b UInt8"
    assert on_cluster("DROP TABLE IF EXISTS t SYNC;", c) == "DROP TABLE IF EXISTS t ON CLUSTER `trading` SYNC;"
    assert on_cluster("CREATE MATERIALIZED VIEW v TO t AS SELECT 1", c).startswith(
        "CREATE MATERIALIZED VIEW v ON CLUSTER"
    )
    assert on_cluster("RENAME TABLE a TO b;", c) == "RENAME TABLE a TO b ON CLUSTER `trading`;"
    assert (
        on_cluster("CREATE TABLE t ON CLUSTER '{cluster}' (a UInt8)", c)
        == "CREATE TABLE t ON CLUSTER 'trading' (a UInt8)"
    )
    assert on_cluster("INSERT INTO t VALUES (1)", c) == "INSERT INTO t VALUES (1)"
    assert on_cluster("SELECT 'CREATE TABLE x'", c) == "SELECT 'CREATE TABLE x'"


def test_cluster_placeholder_is_dropped_on_a_single_server() -> None:
    assert on_cluster("CREATE TABLE t ON CLUSTER '{cluster}' (a UInt8)", None) == "CREATE TABLE t (a UInt8)"
    assert on_cluster("DROP TABLE t ON CLUSTER {cluster}", None) == "DROP TABLE t"


def test_inline_values_become_insert_select_for_old_servers() -> None:
    assert inline_insert_as_select("INSERT INTO t (a, b) VALUES (1, 'x;)'), (2, [1, 2])") == (
        "INSERT INTO t (a, b) SELECT 1, 'x;)' UNION ALL SELECT 2, [1, 2]"
    )
    assert inline_insert_as_select("INSERT INTO t SELECT 1") is None
    assert inline_insert_as_select("SELECT 'VALUES (1)'") is None


def test_escaped_backslash_before_a_later_quote() -> None:
    """ClickHouse's backslash escapes: '\\\\' is one backslash, and the string ends at its quote."""
    assert len(split("SELECT '\\\\' AS `';x`;")) == 1
    assert [s.sql for s in split("SELECT '\\\\'; SELECT 'b';")] == [
        "SELECT '\\\\';",
        "SELECT 'b';",
    ]
    assert len(split("SELECT `a\\`;b` FROM t; SELECT 2;")) == 2
