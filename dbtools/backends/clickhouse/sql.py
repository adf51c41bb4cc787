"""ClickHouse SQL text: server errors, literals and identifiers, ON CLUSTER, inline INSERTs, database qualifiers."""

from __future__ import annotations

import re
from typing import Any

from dbtools.backends.clickhouse import dialect

# Server error codes we act on (ClickHouse's ErrorCodes.cpp).
UNKNOWN_TABLE, UNKNOWN_DATABASE, TABLE_EXISTS = 60, 81, 57
AUTH_CODES = (192, 193, 516)  # UNKNOWN_USER, WRONG_PASSWORD, AUTHENTICATION_FAILED
QUERY_WAS_CANCELLED = 394
UNKNOWN_IDENTIFIER = 47
THROW_IF = 395  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO: a guarded history write found the lock not ours
# DDL that takes `ON CLUSTER` right after the object's name (quoted, qualified or plain).
_NAME = r"(?:`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"|[A-Za-z_][\w$]*)"
_DDL = re.compile(
    r"^\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?|DROP\s+(?:TEMPORARY\s+)?|ALTER\s+|TRUNCATE\s+"
    r"|OPTIMIZE\s+|ATTACH\s+|DETACH\s+|EXCHANGE\s+)"
    r"(?:TABLE|VIEW|MATERIALIZED\s+VIEW|LIVE\s+VIEW|DATABASE|DICTIONARY|TABLES)\s+"
    r"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"
    rf"{_NAME}(?:\s*\.\s*{_NAME})?",
    re.IGNORECASE,
)
_RENAME = re.compile(r"^\s*RENAME\s+(?:TABLE|DATABASE|DICTIONARY)\b", re.IGNORECASE)
_ON_CLUSTER_NEXT = re.compile(r"\s+ON\s+CLUSTER\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\s+ON\s+CLUSTER\s+(?:'\{cluster\}'|\{cluster\}|`\{cluster\}`)", re.IGNORECASE)


class ServerError(Exception):
    """A statement the server refused: its error code and its message without the stack trace."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def server_message(text: str) -> str:
    """ClickHouse's message without `Code: N. DB::Exception:` decoration and stack trace."""
    text = text.split("Stack trace:")[0].split("\n\n0. ")[0]
    text = re.sub(r"^\s*Code: \d+\.?\s*", "", text)
    text = re.sub(r"(?:^|\s)(?:DB::Exception|e\.displayText\(\) = DB::Exception): ", " ", text)
    return " ".join(text.split()).rstrip(".,") or "unknown server error"


def quote(value: Any) -> str:
    """A ClickHouse literal for a Python value (str, int, None)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(int(value))
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def identifier(name: str) -> str:
    """A backquoted identifier."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def on_cluster(sql: str, cluster: str | None) -> str:
    """`sql` for cluster `cluster` (None: a single server).

    `{cluster}` placeholders are filled in; DDL without ON CLUSTER gets it after the object name.
    On a single server `ON CLUSTER {cluster}` is removed, so one file serves both set-ups."""
    if cluster is None:
        return _PLACEHOLDER.sub("", sql)
    sql = sql.replace("{cluster}", cluster)
    clause = f" ON CLUSTER {identifier(cluster)}"
    if _RENAME.match(sql):
        if re.search(r"\bON\s+CLUSTER\b", sql, re.IGNORECASE):
            return sql
        body = sql.rstrip().rstrip(";").rstrip()
        return body + clause + sql[len(body) :]
    match = _DDL.match(sql)
    if match is None or _ON_CLUSTER_NEXT.match(sql, match.end()):
        return sql
    return sql[: match.end()] + clause + sql[match.end() :]


def inline_insert_as_select(sql: str) -> str | None:
    """`INSERT INTO t (c) VALUES (1, 'a'), (2, 'b')` as `INSERT INTO t (c) SELECT 1, 'a' UNION ALL SELECT 2, 'b'`.

    Old servers (before 20.x) wait for the rows as data blocks after an INSERT over the native
    protocol even when they are inline, so clickhouse-driver hangs; INSERT ... SELECT has no data
    part. None when the statement is not an INSERT with inline VALUES."""
    if not re.match(r"\s*INSERT\b", sql, re.IGNORECASE):
        return None
    depth, prefix_end = 0, None
    rows: list[str] = []
    start = 0
    for token in dialect.tokens(sql):
        if prefix_end is None:
            if token.kind == dialect.WORD and token.text.upper() == "VALUES" and depth == 0:
                prefix_end = token.start
            depth += (token.text == "(") - (token.text == ")") if token.kind == dialect.PUNCT else 0
        elif token.kind == dialect.PUNCT and token.text == "(":
            depth += 1
            if depth == 1:
                start = token.start + 1
        elif token.kind == dialect.PUNCT and token.text == ")":
            depth -= 1
            if depth == 0:
                rows.append(sql[start : token.start])
    if prefix_end is None or not rows:
        return None
    return sql[:prefix_end] + " UNION ALL ".join(f"SELECT {row}" for row in rows)


def retarget(sql: str, source: str, target: str) -> str:
    """`sql` with every database qualifier `source.` (plain, `quoted` or "quoted") made `target.`.

    Works on the ClickHouse lexer's tokens: string literals, comments and column names that merely
    look like `source.` are kept byte for byte; only a name token followed by a dot, and not itself
    after a dot (`t.source.c` is a column path), is a database qualifier."""
    pieces = list(dialect.tokens(sql))
    out = []
    for index, token in enumerate(pieces):
        value = token.text
        if (
            token.kind in (dialect.WORD, dialect.QUOTED)
            and _unquoted(value) == source
            and _neighbour(pieces, index, -1) != "."
            and _neighbour(pieces, index, 1) == "."
        ):
            value = identifier(target)
        out.append(value)
    return "".join(out)


def _neighbour(pieces: list[dialect.Token], index: int, step: int) -> str:
    """The text of the nearest token before (step -1) or after (+1) `index` that is not whitespace or a comment."""
    index += step
    while 0 <= index < len(pieces):
        if pieces[index].significant:
            return pieces[index].text
        index += step
    return ""


def _unquoted(name: str) -> str:
    r"""An identifier as ClickHouse reads it: `a\`b` and "a""b" without their quotes and escapes."""
    if len(name) >= 2 and name[0] == name[-1] and name[0] in '`"':
        quote_char = name[0]
        inner = name[1:-1].replace(quote_char * 2, quote_char)
        return re.sub(r"\\(.)", r"\1", inner)
    return name
