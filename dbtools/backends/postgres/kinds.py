"""What a PostgreSQL statement is: the kinds dbtools acts on, decided on its parse tree (or by its words)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dbtools.backends.postgres.words import _is_comment, _rx

# Statement kinds (Statement.kind); "" is an ordinary statement.
NO_TRANSACTION = "no-transaction"  # PostgreSQL refuses it inside a transaction block
ADD_ENUM_VALUE = "add-enum-value"  # ALTER TYPE ... ADD VALUE: refused in a transaction before PostgreSQL 12
COPY_IN = "copy-in"  # COPY ... FROM STDIN with its data block (Statement.data)
BEGIN, COMMIT, ROLLBACK = "begin", "commit", "rollback"  # the file's own transaction control
SAVEPOINT, ROLLBACK_TO, RELEASE = "savepoint", "rollback-to", "release"
TRANSACTION_CONTROL = frozenset({BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ROLLBACK_TO, RELEASE})


def classify(sql: str) -> str:
    """The kind of one statement: NO_TRANSACTION, ADD_ENUM_VALUE, a transaction-control kind, or "".

    Decided on pglast's parse tree; a statement it cannot parse (newer syntax, or an error the server
    will report) is judged on its keywords."""
    import pglast

    try:
        parsed = pglast.parse_sql(sql)
    except pglast.parser.ParseError:
        return _classify_words(sql)
    kinds = {_kind_of(raw.stmt) for raw in parsed} - {""}
    return min(kinds) if kinds else ""


def _kind_of(node: Any) -> str:
    from pglast import ast, enums

    if isinstance(node, ast.TransactionStmt):
        kind = enums.TransactionStmtKind
        if node.kind is None:
            return NO_TRANSACTION
        return {
            kind.TRANS_STMT_BEGIN: BEGIN,
            kind.TRANS_STMT_START: BEGIN,
            kind.TRANS_STMT_COMMIT: COMMIT,
            kind.TRANS_STMT_ROLLBACK: ROLLBACK,
            kind.TRANS_STMT_SAVEPOINT: SAVEPOINT,
            kind.TRANS_STMT_RELEASE: RELEASE,
            kind.TRANS_STMT_ROLLBACK_TO: ROLLBACK_TO,
        }.get(node.kind, NO_TRANSACTION)  # PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED
    if isinstance(node, ast.IndexStmt | ast.DropStmt):
        return NO_TRANSACTION if node.concurrent else ""
    if isinstance(node, ast.ReindexStmt):
        whole = node.kind in (
            enums.ReindexObjectType.REINDEX_OBJECT_SCHEMA,
            enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM,
            enums.ReindexObjectType.REINDEX_OBJECT_DATABASE,
        )
        return NO_TRANSACTION if whole or _option_on(node.params, "concurrently") else ""
    if isinstance(node, ast.VacuumStmt):
        return NO_TRANSACTION if node.is_vacuumcmd else ""
    if isinstance(node, ast.ClusterStmt):
        return NO_TRANSACTION if node.relation is None else ""
    if isinstance(node, ast.DiscardStmt):
        return NO_TRANSACTION if node.target == enums.DiscardMode.DISCARD_ALL else ""
    if isinstance(node, ast.AlterDatabaseStmt):
        return NO_TRANSACTION if any(o.defname == "tablespace" for o in node.options or ()) else ""
    if isinstance(node, ast.AlterTableStmt):
        detach = enums.AlterTableType.AT_DetachPartition
        return (
            NO_TRANSACTION
            if any(c.subtype == detach and getattr(c.def_, "concurrent", False) for c in node.cmds or ())
            else ""
        )
    if isinstance(node, ast.AlterEnumStmt):
        return ADD_ENUM_VALUE if node.newVal is not None and node.oldVal is None else ""
    no_transaction = (
        ast.CreatedbStmt,
        ast.DropdbStmt,
        ast.CreateTableSpaceStmt,
        ast.DropTableSpaceStmt,
        ast.AlterSystemStmt,
        ast.CreateSubscriptionStmt,
        ast.AlterSubscriptionStmt,
        ast.DropSubscriptionStmt,
    )
    return NO_TRANSACTION if isinstance(node, no_transaction) else ""


def _option_on(options: Sequence[Any] | None, name: str) -> bool:
    """True when the option list holds `name` switched on (`(CONCURRENTLY)` or `(CONCURRENTLY true)`)."""
    for option in options or ():
        if option.defname == name:
            value = getattr(getattr(option, "arg", None), "val", getattr(option, "arg", None))
            text = str(getattr(value, "sval", getattr(value, "ival", getattr(value, "boolval", value)))).lower()
            return option.arg is None or text in ("true", "on", "1", "yes")
    return False


_WORD_RULES = [
    (r"^(?:BEGIN|START TRANSACTION)\b", BEGIN),
    (r"^(?:COMMIT|END|ROLLBACK|ABORT) PREPARED\b", NO_TRANSACTION),
    (r"^(?:COMMIT|END)\b", COMMIT),
    (r"^ROLLBACK (?:WORK |TRANSACTION )?TO\b", ROLLBACK_TO),
    (r"^(?:ROLLBACK|ABORT)\b", ROLLBACK),
    (r"^SAVEPOINT\b", SAVEPOINT),
    (r"^RELEASE\b", RELEASE),
    (r"^PREPARE TRANSACTION\b", NO_TRANSACTION),
    (
        (
            r"^(?:(?:CREATE|DROP) (?:UNIQUE )?INDEX CONCURRENTLY|REINDEX\b.*\b(?:CONCURRENTLY|SCHEMA|DATABASE|SYSTEM)"
            r"|VACUUM|CLUSTER$|DISCARD ALL|(?:CREATE|DROP) (?:DATABASE|TABLESPACE)|(?:CREATE|ALTER|DROP) SUBSCRIPTION"
            r"|ALTER SYSTEM|ALTER DATABASE\b.*\bSET TABLESPACE|ALTER TABLE\b.*\bDETACH PARTITION\b.*\bCONCURRENTLY)\b"
        ),
        NO_TRANSACTION,
    ),
    (r"^ALTER TYPE\b.*\bADD VALUE\b", ADD_ENUM_VALUE),
]


def _classify_words(sql: str) -> str:
    """The kind from the statement's words outside literals and comments (when it does not parse)."""
    from pglast import parser

    try:
        tokens = parser.scan(sql)
    except parser.ParseError:
        return ""
    words = " ".join(
        sql[t.start : t.end + 1].upper() for t in tokens if not _is_comment(t) and t.name not in ("SCONST", "ASCII_59")
    )
    for pattern, kind in _WORD_RULES:
        if _rx(pattern).search(words):
            return kind
    return ""
