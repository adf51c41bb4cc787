"""ClickHouse rules: heavy mutations and DDL that cannot be re-run.

Why re-runnable: ClickHouse has no transactional DDL, so a migration that stops half-way (a lost
connection, an ON CLUSTER statement that reached some replicas) is resumed or re-run, and every
statement must then succeed again. So CREATE needs IF NOT EXISTS (or OR REPLACE), DROP needs
IF EXISTS, and so do ALTER's ADD / DROP / RENAME of columns, indexes, projections and constraints.
Both up and down sections are checked: rollbacks stop half-way too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from dbtools.lint.findings import Finding, finding
from dbtools.lint.tokens import NO_ALTER, Tok, alter_table, has_seq, kws
from dbtools.lint.tokens import statements as parsed
from dbtools.migrations import Migration

# After `MODIFY COLUMN name`, these words change metadata only; anything else is a type, which rewrites.
_MODIFY_NOT_TYPE = {
    "DEFAULT", "MATERIALIZED", "ALIAS", "EPHEMERAL", "COMMENT", "CODEC", "TTL", "REMOVE", "MODIFY", "RESET",
    "FIRST", "AFTER", "SETTINGS", "STATISTICS",
}  # fmt: skip
_OBJECT_WORDS = {
    "TEMPORARY", "MATERIALIZED", "LIVE", "WINDOW", "VIEW", "TABLE", "DATABASE", "DICTIONARY", "FUNCTION",
    "USER", "ROLE", "ROW", "POLICY", "QUOTA", "SETTINGS", "PROFILE", "NAMED", "COLLECTION", "INDEX",
}  # fmt: skip
_ALTER_OBJECTS = {"COLUMN", "INDEX", "PROJECTION", "CONSTRAINT", "STATISTICS"}


def _sections(m: Migration, *, down: bool) -> Iterator[tuple[tuple[Tok, ...], str, str]]:
    """(tokens, file path, "up" | "down") per statement of the up section, and of the down one if asked."""
    if m.kind != "sql":
        return
    for _, toks in parsed(m):
        if toks:
            yield toks, str(m.path), "up"
    if down and m.down is not None and (m.down_path or m.path).suffix == ".sql":
        for _, toks in parsed(m, down=True):
            if toks:
                yield toks, str(m.down_path or m.path), "down"


# A problem found in one statement: (rule id, line, message, hint), made a Finding by the check.
_Problem = tuple[str, int, str, str]


def mutations(m: Migration, earlier: Sequence[Migration]) -> Iterator[Finding]:
    """ch-mutation, ch-modify-column-type, ch-rewrite in the up section."""
    for toks, _, _ in _sections(m, down=False):
        for rule, line, message, hint in _rewrites(toks):
            yield finding(rule, m.store, m.path, line, message, hint)


def _rewrites(toks: Sequence[Tok]) -> Iterator[_Problem]:
    """The mutations and rewrites one statement starts."""
    head = kws(toks, 0, 3)
    if head[0] == "DELETE" or (head[0] == "UPDATE" and "SET" in kws(toks, 0, 6)):
        yield (
            "ch-rewrite",
            toks[0].line,
            f"lightweight {head[0]}: marks rows in every part it touches, and merges pay for it later",
            "on a large table prefer dropping partitions or a TTL; run it as its own migration off-peak",
        )
    elif head[0] == "OPTIMIZE" and "FINAL" in kws(toks, 0, 12):
        yield (
            "ch-rewrite",
            toks[0].line,
            "OPTIMIZE ... FINAL merges every part of the table (or partition) into one: hours on a large table",
            "leave merging to ClickHouse; if needed, run it for one PARTITION outside migrations",
        )
    alter = alter_table(toks) or NO_ALTER
    for action in alter.actions:
        yield from _action(alter.table, action)


def _action(table: str, action: Sequence[Tok]) -> Iterator[_Problem]:
    words = kws(action, 0, 2)
    line = action[0].line
    if words[0] in {"UPDATE", "DELETE"}:
        yield (
            "ch-mutation",
            line,
            f"ALTER TABLE {table} {words[0]} is a mutation: it rewrites every part it matches, runs in the "
            "background after the migration returns and cannot be rolled back",
            "fix the data at insert time, drop or replace whole partitions, or let a TTL age rows out; if it "
            "must run, give it its own migration and `-- dbtools:lint-ignore ch-mutation <size and reason>`",
        )
    elif words == ["MODIFY", "COLUMN"]:
        i = 4 if kws(action, 2, 2) == ["IF", "EXISTS"] else 2
        after = action[i + 1] if i + 1 < len(action) else None
        if after is not None and after.kw not in _MODIFY_NOT_TYPE:
            column = action[i].name
            yield (
                "ch-modify-column-type",
                line,
                f"MODIFY COLUMN {table}.{column} with a type: a type change rewrites the column in every part",
                "add a new column with the new type (DEFAULT or MATERIALIZED from the old one), move readers, then "
                "deprecate the old one; or `-- dbtools:lint-ignore ch-modify-column-type <why it is small/same type>`",
            )
    elif words[0] in {"MATERIALIZE", "CLEAR"}:
        yield (
            "ch-rewrite",
            line,
            f"ALTER TABLE {table} {' '.join(w for w in words if w)} rewrites existing parts as a mutation",
            "fine on a small table; on a large one run it separately, off-peak, per PARTITION",
        )


def not_idempotent(m: Migration, earlier: Sequence[Migration]) -> Iterator[Finding]:
    """ch-not-idempotent: statements that fail when a half-done migration is run again."""
    for toks, path, section in _sections(m, down=True):
        problem = _idempotency_problem(toks)
        if problem is None:
            continue
        yield finding(
            "ch-not-idempotent",
            m.store,
            path,
            problem[1].line,
            f"{problem[0]} ({section} section): re-running a half-done migration fails here",
            "ClickHouse DDL is not transactional, so a stopped migration is run again: write "
            "CREATE ... IF NOT EXISTS, DROP ... IF EXISTS, ADD ... IF NOT EXISTS, DROP/RENAME COLUMN IF EXISTS",
        )


def _idempotency_problem(toks: Sequence[Tok]) -> tuple[str, Tok] | None:
    """(what is wrong, where) for a statement that fails on a second run, else None."""
    head = kws(toks, 0, 10)
    if head[0] == "CREATE":
        if head[1:3] == ["OR", "REPLACE"] or has_seq(head, "IF", "NOT", "EXISTS"):
            return None
        return f"CREATE {' '.join(_object_words(head[1:]))} without IF NOT EXISTS", toks[0]
    if head[0] == "DROP":
        if has_seq(head[:6], "IF", "EXISTS"):
            return None
        return f"DROP {' '.join(_object_words(head[1:]))} without IF EXISTS", toks[0]
    alter = alter_table(toks) or NO_ALTER
    for action in alter.actions:
        words = kws(action, 0, 5)
        if words[0] == "ADD" and words[1] in _ALTER_OBJECTS and words[2:5] != ["IF", "NOT", "EXISTS"]:
            return f"ALTER TABLE {alter.table} ADD {words[1]} without IF NOT EXISTS", action[0]
        if words[0] in {"DROP", "RENAME"} and words[1] in _ALTER_OBJECTS and words[2:4] != ["IF", "EXISTS"]:
            return f"ALTER TABLE {alter.table} {words[0]} {words[1]} without IF EXISTS", action[0]
    return None


def _object_words(words: Sequence[str]) -> list[str]:
    """The object kind a CREATE / DROP names: `MATERIALIZED VIEW`, `TABLE`, ... (the keywords before the name)."""
    out = []
    for word in words:
        if word not in _OBJECT_WORDS:
            break
        out.append(word)
    return out or ["object"]
