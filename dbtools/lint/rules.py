"""Rules for every store (down sections, file names) and for SQL stores (drops, schema mixed with data).

A check takes one migration and the store's earlier migrations (oldest first) and yields Findings.

Deprecation, as the seed's best practices ask ("don't drop columns at once, first mark them
deprecated"), is a comment in the database catalogue, so clients reading the schema see it too.
An earlier migration's up section must hold one of, with the comment text starting "deprecated"
(any case):

* PostgreSQL: `COMMENT ON TABLE t IS 'deprecated: ...'` or `COMMENT ON COLUMN t.c IS 'deprecated ...'`;
* ClickHouse: `ALTER TABLE t MODIFY COMMENT 'deprecated ...'`, `ALTER TABLE t COMMENT COLUMN c
  'deprecated ...'` or `ALTER TABLE t MODIFY COLUMN c ... COMMENT 'deprecated ...'`.

A deprecated table may lose its columns too. Names compare without their schema/database part.
Dropping in an up section what that same up section created (a staging table, a column just
added) is fine, and down sections are never checked for drops: undoing is their job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from dbtools import backends
from dbtools.errors import MigrationFileError
from dbtools.lint.findings import Finding, finding
from dbtools.lint.tokens import (
    NO_ALTER,
    Tok,
    alter_table,
    created_table,
    dialect,
    dropped_column,
    dropped_tables,
    qualified_name,
    skip,
)
from dbtools.lint.tokens import statements as parsed
from dbtools.migrations import Migration
from dbtools.sqltext import Statement

MAX_NAME = 60  # characters of the description: long enough to say what, short enough for a listing
_SNAKE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_DML = {"INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "TRUNCATE"}
_DDL = {"CREATE", "ALTER", "DROP", "COMMENT", "RENAME", "EXCHANGE"}
_ADD_NOT_COLUMN = {
    "CONSTRAINT", "INDEX", "PROJECTION", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "EXCLUDE", "STATISTICS",
}  # fmt: skip


def missing_down(m: Migration, earlier: Sequence[Migration]) -> Iterator[Finding]:
    """missing-down: the migration cannot be rolled back."""
    if m.down is None:
        marker = "`-- migrate:down` and the statements" if m.kind == "sql" else "a `down` function with the code"
        yield finding(
            "missing-down",
            m.store,
            m.path,
            1,
            f"{m.path.name} has no down section, so `rollback` cannot revert it",
            f"add {marker} that undo the up section; if it truly cannot be undone, say why with "
            "`-- dbtools:lint-ignore missing-down <reason>`",
        )


def unreadable(m: Migration, earlier: Sequence[Migration]) -> Iterator[Finding]:
    """unreadable: a section the store's lexer refuses, as `migrate` would refuse it before running anything."""
    module = dialect(m.store)
    if module is None or m.kind != "sql":
        return
    sections = [(m.up, m.path, m.up_line)]
    if m.down is not None and (m.down_path or m.path).suffix == ".sql":
        sections.append((m.down, m.down_path or m.path, 1 if m.down_path else m.down_line))
    for text, path, first_line in sections:
        try:
            module.split(text, first_line=first_line, source=path.name)
        except MigrationFileError as exc:
            line = exc.line if exc.line is not None else first_line
            message = exc.message.removeprefix(f"{path.name}:{line}: ")
            yield finding("unreadable", m.store, path, line, message, exc.hint or "fix the text at that line")


def file_name(m: Migration, earlier: Sequence[Migration]) -> Iterator[Finding]:
    """file-name: descriptions are short lower-case snake_case, so listings and history read alike."""
    problems = []
    if not _SNAKE.match(m.name):
        problems.append("is not lower-case snake_case (a-z, 0-9, single underscores)")
    if len(m.name) > MAX_NAME:
        problems.append(f"is {len(m.name)} characters long (at most {MAX_NAME})")
    if problems:
        suggestion = re.sub(r"[^a-z0-9]+", "_", m.name.lower()).strip("_")[:MAX_NAME].rstrip("_") or "migration"
        yield finding(
            "file-name",
            m.store,
            m.path,
            1,
            f"description {m.name!r} " + " and ".join(problems),
            f"rename it to {m.path.name.replace(m.name, suggestion, 1)} before it is applied anywhere "
            "(history keeps the name)",
        )


def _up(m: Migration) -> tuple[tuple[Statement, tuple[Tok, ...]], ...]:
    return parsed(m) if m.kind == "sql" else ()


def _deprecations(m: Migration) -> set[tuple[str, str | None]]:
    """(table, column or None for the whole table) marked deprecated by `m`'s up section."""
    marked: set[tuple[str, str | None]] = set()
    for _, toks in _up(m):
        words = [t.kw for t in toks[:3]]
        if words[:2] == ["COMMENT", "ON"] and len(words) > 2 and words[2] in {"TABLE", "COLUMN"}:
            parts, i = qualified_name(toks, 3)
            if parts and i < len(toks) and toks[i].kw == "IS" and _deprecated_text(toks[i + 1 :]):
                if words[2] == "TABLE":
                    marked.add((parts[-1], None))
                elif len(parts) >= 2:
                    marked.add((parts[-2], parts[-1]))
            continue
        alter = alter_table(toks) or NO_ALTER
        for action in alter.actions:
            head = [t.kw for t in action[:2]]
            if head == ["MODIFY", "COMMENT"] and _deprecated_text(action[2:3]):
                marked.add((alter.table, None))
            elif head in (["COMMENT", "COLUMN"], ["MODIFY", "COLUMN"]):
                i = 2 + (2 if [t.kw for t in action[2:4]] == ["IF", "EXISTS"] else 0)
                comment = action[i + 1 :] if head[0] == "COMMENT" else _after_comment(action)
                if i < len(action) and _deprecated_text(comment[:1]):
                    marked.add((alter.table, action[i].name))
    return marked


def _after_comment(action: Sequence[Tok]) -> Sequence[Tok]:
    for i, tok in enumerate(action):
        if tok.kw == "COMMENT":
            return action[i + 1 :]
    return ()


def _deprecated_text(toks: Sequence[Tok]) -> bool:
    return bool(toks) and toks[0].kind == "string" and toks[0].text.lstrip().lower().startswith("deprecated")


def drop_without_deprecation(m: Migration, earlier: Sequence[Migration]) -> Iterator[Finding]:
    """drop-without-deprecation: DROP TABLE / DROP COLUMN in an up section with no earlier deprecation."""
    deprecated: set[tuple[str, str | None]] = set()
    for previous in earlier:
        deprecated |= _deprecations(previous)
    created: set[tuple[str, str | None]] = set()  # made earlier in this same up section
    for _, toks in _up(m):
        table = created_table(toks)
        if table:
            created.add((table, None))
        for name, tok in dropped_tables(toks):
            if (name, None) not in deprecated | created:
                yield _drop_finding(m, tok.line, f"DROP TABLE {name}", _mark(m, name))
        alter = alter_table(toks) or NO_ALTER
        for action in alter.actions:
            added = added_column(action)
            if added:
                created.add((alter.table, added))
            column = dropped_column(action)
            if column is None:
                continue
            keys = {(alter.table, None), (alter.table, column)}
            if not keys & (deprecated | created):
                yield _drop_finding(
                    m,
                    action[0].line,
                    f"DROP COLUMN {alter.table}.{column}",
                    _mark(m, alter.table, column),
                )


def _mark(m: Migration, table: str, column: str | None = None) -> str:
    """How the store marks a table or column deprecated (its backend's `deprecation_mark`)."""
    from dbtools.backends.base import DeprecationMarks

    cls = backends.load(m.store)
    assert isinstance(cls, DeprecationMarks), f"{m.store} runs the drop rule but declares no deprecation_mark"
    return cls.deprecation_mark(table, column)


def added_column(action: Sequence[Tok]) -> str | None:
    """The column an ALTER TABLE action `ADD [COLUMN] [IF NOT EXISTS] c ...` adds (PG allows no COLUMN)."""
    if not action or action[0].kw != "ADD" or len(action) < 2 or action[1].kw in _ADD_NOT_COLUMN:
        return None
    i = skip(action, 1, "COLUMN")
    i = skip(action, i, "IF", "NOT", "EXISTS")
    return action[i].name if i < len(action) and action[i].kind == "word" else None


def _drop_finding(m: Migration, line: int, what: str, mark: str) -> Finding:
    return finding(
        "drop-without-deprecation",
        m.store,
        m.path,
        line,
        f"{what} without an earlier deprecation: clients still using it break the moment this runs",
        f"first ship a migration that marks it deprecated (e.g. {mark}) and stop using it, then drop it in a "
        "later migration; or `-- dbtools:lint-ignore drop-without-deprecation <why it is safe>`",
    )


def _dml_target(toks: Sequence[Tok]) -> tuple[str | None, int]:
    """(table, line) an INSERT / UPDATE / DELETE / MERGE / COPY / TRUNCATE writes to."""
    first = toks[0].kw
    i = 1
    if first in {"INSERT", "MERGE"}:
        i = 2 if len(toks) > 1 and toks[1].kw == "INTO" else 1
        i += 1 if len(toks) > i and toks[i].kw == "TABLE" else 0  # ClickHouse: INSERT INTO TABLE t
    elif first == "DELETE":
        i = 2 if len(toks) > 1 and toks[1].kw == "FROM" else 1
    elif first == "TRUNCATE":
        i = 2 if len(toks) > 1 and toks[1].kw == "TABLE" else 1
        i += 3 if [t.kw for t in toks[i : i + 2]] == ["IF", "EXISTS"] else 0
    i += 1 if len(toks) > i and toks[i].kw == "ONLY" else 0
    parts, _ = qualified_name(toks, i)
    return (parts[-1] if parts else None), toks[0].line


def schema_and_data(m: Migration, earlier: Sequence[Migration]) -> Iterator[Finding]:
    """schema-and-data: one migration = one responsibility, made precise.

    Flags an up section that holds DDL and also writes data into a table it did not create: a schema
    change bundled with a backfill or cleanup of existing rows (split them: the backfill is slow, needs
    batching and its own rollback story). Filling a table created in the same migration is fine.
    """
    ddl = False
    created: set[str] = set()
    writes: list[tuple[str, int]] = []
    for _, toks in _up(m):
        if not toks:
            continue
        table = created_table(toks)
        if table:
            created.add(table)
        if toks[0].kw in _DDL:
            ddl = True
        elif toks[0].kw in _DML:
            target, line = _dml_target(toks)
            if target:
                writes.append((target, line))
    if not ddl:
        return
    for target, line in writes:
        if target not in created:
            yield finding(
                "schema-and-data",
                m.store,
                m.path,
                line,
                f"this migration changes the schema and also rewrites existing data in {target}",
                "one migration = one responsibility: move the data change into its own migration "
                "(batched if the table is large), or "
                "`-- dbtools:lint-ignore schema-and-data <why they must go together>`",
            )


# The rules a SQL store's backend lists among its lint checks (see `lint_checks()` in its __init__.py).
SQL_CHECKS = (drop_without_deprecation, schema_and_data)
