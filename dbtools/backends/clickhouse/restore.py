"""ClickHouse restore, all or nothing: into a scratch database first, switched into the target at the end.

ClickHouse has no transaction around DDL, so the backup is first restored in full into a new database
of the same server (`<db>__dbtools_restore_<token>`): every table, its rows and every view. A
statement the server refuses there - DDL an older release does not know, rows that do not fit - drops
the scratch database and leaves the target exactly as it was. Only then is it switched in: the
target's views are dropped (their CREATE kept), its tables moved aside into a second scratch database
by RENAME, the restored tables moved in, and the views created again from the restored definitions
(retargeted by the lexer, literals untouched). A failure while switching moves everything back.
The migration lock table stays in the target throughout: the restore holds it.

Materialized views with an inner table (no `TO`) are re-created empty: their rows live in a table
named after the view's internal id, which cannot follow it into another database.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbtools.backends.clickhouse.lock import LOCK_NAME
from dbtools.backends.clickhouse.sql import ServerError, identifier, quote, retarget
from dbtools.errors import DbtoolsError

if TYPE_CHECKING:
    from dbtools.backends.clickhouse import ClickHouseBackend

VIEWS = ("View", "MaterializedView", "LiveView", "WindowView")


def restore(backend: ClickHouseBackend, folder: Path, manifest: dict[str, Any], *, replace: bool) -> None:
    """An empty target: load straight into it, dropping what arrived if the server refuses a statement.
    A target to replace: load into a scratch database, then switch its objects in (see the module doc)."""

    target = backend.database
    refused = "nothing was restored: the target is exactly as it was. The DDL or data of the backup does not fit "
    refused += "this server (an older release?)"
    if not replace:
        try:
            _load(backend, folder, manifest, target)
        except ServerError as exc:
            _drop_all(backend, target)  # it held nothing a user could lose: give it back empty
            raise DbtoolsError(f"{backend._where}: restore failed: {exc.message[:300]}", hint=refused) from exc
        return
    engine = _engine(backend, target)
    if engine is None:
        raise DbtoolsError(
            f"{backend._where}: restore --force replaces a database by moving restored tables into it, which "
            f"its engine does not allow",
            hint="restore into a new database of a plain engine (Atomic, Ordinary), or empty this one first",
        )
    token = uuid.uuid4().hex[:12]
    scratch = f"{target}__dbtools_restore_{token}"
    backend._ddl(f"CREATE DATABASE {identifier(scratch)}{engine}")
    try:
        try:
            _load(backend, folder, manifest, scratch)
        except ServerError as exc:
            raise DbtoolsError(f"{backend._where}: restore failed: {exc.message[:300]}", hint=refused) from exc
        _switch(backend, scratch, target, token, engine)
    finally:
        backend._ddl(f"DROP DATABASE IF EXISTS {identifier(scratch)}")


def _drop_all(backend: ClickHouseBackend, database: str) -> None:
    """Drop every view, then every table, of `database` (the lock table stays)."""

    tables, views = _objects(backend, database)
    for name in [*views, *tables]:
        backend._ddl(f"DROP TABLE IF EXISTS {identifier(database)}.{identifier(name)}")


def _engine(backend: ClickHouseBackend, database: str) -> str | None:
    """` ENGINE = X` for scratch databases beside `database`: RENAME moves tables only between databases
    of one plain engine (a current server's Atomic, an old one's Ordinary); None for any other engine."""

    rows = backend._query(f"SELECT engine FROM system.databases WHERE name = {quote(database)}")
    engine = rows[0][0] if rows else ""
    return f" ENGINE = {engine}" if engine in ("Atomic", "Ordinary") else None


def _load(backend: ClickHouseBackend, folder: Path, manifest: dict[str, Any], database: str) -> None:
    """The whole backup into `database`: RESTORE ... AS for a BACKUP; else the tables, their rows,
    then the views (a view created before the rows would feed its target table a second time)."""

    details = manifest.get("details", {})
    source = details.get("database") or manifest.get("database") or backend.database
    if manifest["method"] == "BACKUP DATABASE":
        lock = f"{identifier(source)}.{LOCK_NAME}"  # a lock held when the backup was taken stays behind
        head = f"RESTORE DATABASE {identifier(source)} AS {identifier(database)} EXCEPT TABLES {lock}"
        backend._backup_statement(head, "FROM", folder, "SETTINGS allow_different_database_def = 1")
        return
    schema = json.loads((folder / "schema.json").read_text())
    tables = schema["tables"]
    for entry in [t for t in tables if t["data"] is not None]:
        backend._ddl(retarget(entry["create"], schema["database"], database))
        backend._import(entry["name"], folder / entry["data"], database=database)
    for entry in [t for t in tables if t["data"] is None]:
        backend._ddl(retarget(entry["create"], schema["database"], database))


def _objects(backend: ClickHouseBackend, database: str) -> tuple[list[str], dict[str, str]]:
    """(tables, {view: its CREATE}) of `database`; the lock table and views' inner tables left out."""

    rows = backend._query(f"SELECT name, engine FROM system.tables WHERE database = {quote(database)} ORDER BY name")
    tables, views = [], {}
    for name, engine in rows:
        if name == LOCK_NAME or name.startswith(".inner"):
            continue
        if engine in VIEWS:
            views[name] = backend._query(f"SHOW CREATE TABLE {identifier(database)}.{identifier(name)}")[0][0]
        else:
            tables.append(name)
    return tables, views


def _switch(backend: ClickHouseBackend, scratch: str, target: str, token: str, engine: str) -> None:
    """Move the restored objects into `target`, what it held aside (dropped at the end); undo on failure."""

    def qualified(database: str, name: str) -> str:
        return f"{identifier(database)}.{identifier(name)}"

    aside = f"{target}__dbtools_old_{token}"
    new_tables, new_views = _objects(backend, scratch)
    old_tables, old_views = _objects(backend, target)
    done: list[tuple[str, str]] = []  # undo steps, newest last: (statement that undoes, description)
    backend._ddl(f"CREATE DATABASE {identifier(aside)}{engine}")
    try:
        for name in new_views:  # they read the scratch tables by name: re-created in the target below
            backend._ddl(f"DROP TABLE {qualified(scratch, name)}")
        for name, create in old_views.items():
            backend._ddl(f"DROP TABLE {qualified(target, name)}")
            done.append((create, f"view {name}"))
        for name in old_tables:
            backend._ddl(f"RENAME TABLE {qualified(target, name)} TO {qualified(aside, name)}")
            done.append((f"RENAME TABLE {qualified(aside, name)} TO {qualified(target, name)}", f"table {name}"))
        for name in new_tables:
            backend._ddl(f"RENAME TABLE {qualified(scratch, name)} TO {qualified(target, name)}")
            done.append((f"DROP TABLE {qualified(target, name)}", f"restored table {name}"))
        for name, create in new_views.items():
            backend._ddl(retarget(create, scratch, target))
            done.append((f"DROP TABLE {qualified(target, name)}", f"restored view {name}"))
    except ServerError as exc:
        for statement, _ in reversed(done):
            try:
                backend._ddl(statement)
            except ServerError as undo:
                raise DbtoolsError(
                    f"{backend._where}: restore failed while switching the restored tables in ({exc.message[:200]}), "
                    f"and putting the target back failed too ({undo.message[:200]})",
                    hint=f"the previous tables are in database {aside}; move them back with RENAME TABLE",
                ) from undo
        backend._ddl(f"DROP DATABASE IF EXISTS {identifier(aside)}")
        raise DbtoolsError(
            f"{backend._where}: restore failed while switching the restored tables in: {exc.message[:300]}",
            hint="nothing was restored: the target was put back exactly as it was",
        ) from exc
    backend._ddl(f"DROP DATABASE {identifier(aside)}")  # what --force replaced
