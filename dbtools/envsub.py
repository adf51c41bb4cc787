"""goose's `-- +goose ENVSUB ON` / `OFF`: environment variables substituted into statements at run time.

Inside a region, `${NAME}`, `$NAME`, `${NAME:-default}` (unset or empty) and `${NAME-default}` (unset)
are replaced, as goose does; `\\$` keeps a literal `$`. An unset variable without a default is an
error naming the file and line (goose would silently put an empty string there). The statement keeps
the file's text beside the substituted one (`Statement.shown`): messages, history and checksums use
the file's text, and the substituted values are masked in any server message about the statement.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

from dbtools.errors import MigrationFileError, secret
from dbtools.migrations import Migration
from dbtools.sqltext import Statement

_REFERENCE = re.compile(
    r"\\\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
MIN_SECRET = 3  # values shorter than this are not masked (masking "a" would garble every message)


def resolve(
    m: Migration, statements: Sequence[Statement], environ: Mapping[str, str], *, down: bool = False
) -> Sequence[Statement]:
    """`statements` of `m` with the lines inside its ENVSUB regions substituted from `environ`."""
    if not m.envsub:
        return statements
    _, _, path = m.section(down=down)
    if path != m.path:  # a separate .down file has no goose annotations
        return statements
    return [_resolve(statement, m.envsub, environ, path.name) for statement in statements]


def check(m: Migration, statements: Sequence[Statement], environ: Mapping[str, str], *, down: bool = False) -> None:
    """Raise for a variable that is unset (what `migrate --dry-run` checks before anything runs)."""
    resolve(m, statements, environ, down=down)


def _resolve(
    statement: Statement, regions: Sequence[tuple[int, int]], environ: Mapping[str, str], source: str
) -> Statement:
    lines = statement.sql.split("\n")
    values: list[str] = []
    changed = False
    for offset, line in enumerate(lines):
        number = statement.line + offset
        if "$" not in line or not any(first <= number <= last for first, last in regions):
            continue
        lines[offset] = _REFERENCE.sub(
            functools.partial(_value, environ=environ, source=source, line=number, values=values), line
        )
        changed = True
    if not changed:
        return statement
    secrets = tuple(sorted({v for v in values if len(v) >= MIN_SECRET}, key=len, reverse=True))
    for value in secrets:
        secret(value)  # a driver's error may quote the statement: `--debug` masks the value there too
    return statement._replace(sql="\n".join(lines), shown=statement.sql, secrets=secrets)


def _value(match: re.Match[str], environ: Mapping[str, str], source: str, line: int, values: list[str]) -> str:
    if match.group(0) == "\\$":
        return "$"
    name = match["braced"] or match["bare"]
    value = environ.get(name)
    if match["op"] == ":-" and not value:
        return match["default"]
    if match["op"] == "-" and value is None:
        return match["default"]
    if value is None:
        raise MigrationFileError(
            f"{source}:{line}: ${{{name}}} is not set (the line is inside `-- +goose ENVSUB ON`)",
            hint=f"export {name} before running, or give a default: ${{{name}:-value}}",
        )
    values.append(value)
    return value
