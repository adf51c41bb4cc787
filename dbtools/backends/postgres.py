"""PostgreSQL: transactional migrations with their history row, an advisory lock, psycopg2."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dbtools.backends import postgres_dialect as dialect
from dbtools.backends.base import (
    HISTORY_NAME,
    ForeignTable,
    history_row,
    owner_tag,
    statement_failed,
)
from dbtools.errors import (
    ConfigError,
    ConnectionFailed,
    DatabaseMissing,
    DbtoolsError,
    MigrationFailed,
    MissingDependency,
)
from dbtools.leases import Waiting, take_or_wait
from dbtools.migrations import INT64_MAX, Migration
from dbtools.plan import AppliedMigration
from dbtools.settings import Settings, StoreDefaults, mask
from dbtools.sqltext import Statement, split_blocks
from dbtools.values import POSTGRES_DURATION

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.audit import Event
    from dbtools.sandbox import DockerRecipe, ServerSpec
    from dbtools.seed.table import Table

LOCK_KEY = 0x6462746F6F6C73  # "dbtools": advisory locks are per database, so one constant key
# Session options: libpq URL query parameters we handle ourselves rather than pass to libpq.
SESSION_OPTIONS = ("lock_timeout", "statement_timeout")

_COLUMNS = (
    "version, name, checksum, status, statements_done, statements_total, progress_checksum, "
    "error, applied_at, execution_ms, applied_by, tool_version, adopted_from"
)
# tables written before `adopt` existed lack the last column until the next locked run adds it
_OLD_COLUMNS = _COLUMNS.removesuffix(", adopted_from")
# History statements name the table with its schema ({table}: "schema"."migration_history", fixed when
# the run connects), so a migration that runs SET search_path cannot send them elsewhere.
_CREATE_HISTORY = """
CREATE TABLE IF NOT EXISTS {table} (
    version            bigint PRIMARY KEY,
    name               text        NOT NULL,
    checksum           text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('applied', 'baseline', 'failed', 'running')),
    statements_done    integer     NOT NULL DEFAULT 0,
    statements_total   integer,
    progress_checksum  text        NOT NULL DEFAULT '',
    error              text,
    applied_at         timestamptz NOT NULL DEFAULT now(),
    execution_ms       integer     NOT NULL DEFAULT 0,
    applied_by         text        NOT NULL,
    tool_version       text        NOT NULL,
    adopted_from       text        NOT NULL DEFAULT ''
)"""
_ADD_ADOPTED_FROM = "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS adopted_from text NOT NULL DEFAULT ''"
_UPSERT = (
    "INSERT INTO {table} (" + _COLUMNS + ") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, "
    "status = EXCLUDED.status, statements_done = EXCLUDED.statements_done, "
    "statements_total = EXCLUDED.statements_total, progress_checksum = EXCLUDED.progress_checksum, "
    "error = EXCLUDED.error, applied_at = EXCLUDED.applied_at, execution_ms = EXCLUDED.execution_ms, "
    "applied_by = EXCLUDED.applied_by, tool_version = EXCLUDED.tool_version, adopted_from = EXCLUDED.adopted_from"
)

# The same, applied_at and execution_ms from the server's clock: from the transaction's start to the history write
# (a section sent in one query with its history row cannot be timed by the client before it is sent).
_UPSERT_TIMED = _UPSERT.replace(
    "%s, %s, %s, %s, %s)",
    "clock_timestamp(), (extract(epoch FROM clock_timestamp() - now()) * 1000)::integer, %s, %s, %s)",
)
_ONE_QUERY_BYTES = 1 << 20  # a section at least this big goes in its own query (no copy into a bigger one)
_AFTER_SECTION = b"\n;\n"  # ends a last statement written without a semicolon (or a trailing -- comment)
_LOCATE_BATCH = 1000  # statements per query when a failed section is run again to find the failing one


def _server_binaries() -> Path:
    """The newest installed PostgreSQL server bin folder (Debian layout), or pg_config's."""
    import shutil

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise MissingDependency(
        "postgres: no PostgreSQL server binaries (initdb) on this machine",
        hint="apt-get install postgresql (or use DBTOOLS_SANDBOX=docker where Docker runs)",
    )


def local_recipe(workdir: Path, port: int, *, password: str = "", durable: bool = False) -> ServerSpec:
    """A throwaway cluster: initdb + postgres in `workdir`, on 127.0.0.1:`port`.

    Without `durable`, fsync is off (tests); with it the server flushes like a real one (benchmarks)."""
    from dbtools.sandbox import ServerSpec

    bindir = _server_binaries()
    data = workdir / "data"
    init = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8", "--no-sync"]
    files = {}
    if password:
        files["pwfile"] = password + "\n"
        init += ["-A", "scram-sha-256", f"--pwfile={workdir / 'pwfile'}"]
    else:
        init += ["-A", "trust"]
    argv = [
        str(bindir / "postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-k",
        "",  # TCP only: a socket under a long folder (nox's TMPDIR in a deep checkout) exceeds 107 bytes
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "max_connections=60",
    ]
    if not durable:
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    settings = Settings(
        "postgres", "postgres", "127.0.0.1", port, "dbtools_sandbox", "postgres", password, source="sandbox"
    )
    return ServerSpec(argv=argv, settings=settings, prepare=[init], run_as="postgres", files=files)


def docker_recipe(*, password: str = "postgres") -> DockerRecipe:
    """The official image (testcontainers path): fsync off, like the local throwaway cluster."""
    from dbtools.sandbox import DockerRecipe

    return DockerRecipe(
        image="postgres:17-alpine",
        port=5432,
        env={"POSTGRES_PASSWORD": password, "POSTGRES_DB": "dbtools_sandbox"},
        command=["postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        settings=lambda host, port: Settings(
            "postgres", "postgres", host, port, "dbtools_sandbox", "postgres", password, source="sandbox"
        ),
    )


class PostgresBackend:
    """PostgreSQL through psycopg2. Each migration and its history row commit in one transaction."""

    name: ClassVar[str] = "postgres"
    defaults: ClassVar[StoreDefaults] = StoreDefaults(
        url_env="POSTGRES_URL",
        schemes=("postgres", "postgresql"),
        host=("POSTGRES_HOST", "localhost"),
        port=("POSTGRES_PORT", 5432),
        database=("POSTGRES_DB", "trading_users"),
        user=("POSTGRES_USER", "postgres"),
        password=("POSTGRES_PASSWORD", "postgres"),
        options={"lock_timeout": "POSTGRES_LOCK_TIMEOUT", "statement_timeout": "POSTGRES_STATEMENT_TIMEOUT"},
        kinds={"lock_timeout": POSTGRES_DURATION, "statement_timeout": POSTGRES_DURATION},
    )
    extensions: ClassVar[tuple[str, ...]] = ("sql",)
    packages: ClassVar[tuple[str, ...]] = ("psycopg2-binary", "pglast")  # pglast: the file reader (postgres_dialect)
    max_version: ClassVar[int] = INT64_MAX  # migration_history.version is bigint
    transactional_ddl: ClassVar[bool] = True
    new_template: ClassVar[str] = (
        "-- Migration: {description}\n"
        "-- migrate:up\n"
        "-- The up section and its history row commit in one transaction. Example:\n"
        "--   ALTER TABLE accounts ADD COLUMN nickname text;\n"
        "\n\n"
        "-- migrate:down\n"
        "-- Example:\n"
        "--   ALTER TABLE accounts DROP COLUMN nickname;\n"
        "\n"
    )

    local_recipe = staticmethod(local_recipe)
    docker_recipe = staticmethod(docker_recipe)
    sandbox_install_hint: ClassVar[str] = "apt-get install postgresql, or run Docker"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn: Any = None
        self._history = _qualified("public", HISTORY_NAME)
        self._upsert = _UPSERT.format(table=self._history)
        self._upsert_timed = _UPSERT_TIMED.format(table=self._history)

    # -- connection -------------------------------------------------------------------------

    def connect(self, *, create_database: bool = False) -> None:
        """Connect (autocommit); with `create_database`, create a missing database first."""
        try:
            self._conn = self._open(self.settings.database)
        except DatabaseMissing:
            if not create_database:
                raise
            self._create_database()
            self._conn = self._open(self.settings.database)
        # the schema unqualified names resolve to now, before any migration can change search_path
        schema = self._query("SELECT current_schema()")[0][0] or "public"
        self._history = _qualified(schema, HISTORY_NAME)
        self._upsert = _UPSERT.format(table=self._history)
        self._upsert_timed = _UPSERT_TIMED.format(table=self._history)

    def _open(self, database: str) -> Any:
        try:
            import psycopg2
        except ImportError:  # pragma: no cover - requirements install it
            raise MissingDependency(
                "postgres: the psycopg2 driver is not installed", hint="pip install -r requirements.txt"
            ) from None
        s = self.settings
        params: dict[str, Any] = {k: v for k, v in s.query.items() if k not in SESSION_OPTIONS}
        params.setdefault("connect_timeout", "5")
        params["application_name"] = owner_tag()[:63]
        options = {**{k: v for k, v in s.query.items() if k in SESSION_OPTIONS}, **s.options}
        if options:
            params["options"] = " ".join(f"-c {k}={v}" for k, v in options.items() if k in SESSION_OPTIONS)
        if s.password:
            params["password"] = s.password
        try:
            conn = psycopg2.connect(host=s.host, port=s.port, dbname=database, user=s.user, **params)
        except psycopg2.OperationalError as exc:
            raise self._connection_error(str(exc), database) from None
        except psycopg2.ProgrammingError as exc:  # libpq refused an option of the URL query
            reason = mask(str(exc), s).strip().removeprefix("invalid dsn: ")
            raise ConfigError(
                f"postgres: {s.source}: {reason}", hint="fix or remove that option in the URL query (libpq's options)"
            ) from None
        conn.autocommit = True
        return conn

    def _connection_error(self, text: str, database: str) -> ConnectionFailed:
        s = self.settings
        text = mask(text, s)
        first = text.strip().splitlines()[0] if text.strip() else "connection failed"
        first = re.sub(r'^connection to server at "[^"]*" \([^)]*\), port \d+ failed: ', "", first)
        where = f"postgres at {s.address}"
        url_hint = (
            f"check {s.source}" if s.source != "defaults" else "set POSTGRES_URL or POSTGRES_HOST/PORT/USER/PASSWORD"
        )
        if f'database "{database}" does not exist' in text:
            return DatabaseMissing(
                f"{where}: database {database!r} does not exist",
                hint="create it by adding --create-db, or point POSTGRES_DB / POSTGRES_URL at an existing one",
            )
        if "password authentication failed" in text or "no password supplied" in text:
            return ConnectionFailed(
                f"{where}: password authentication failed for user {s.user!r}",
                hint="check POSTGRES_PASSWORD (or the password in POSTGRES_URL)",
            )
        if "role" in text and "does not exist" in text:
            return ConnectionFailed(f"{where}: {first}", hint="check POSTGRES_USER (or the user in POSTGRES_URL)")
        if "could not translate host name" in text:
            return ConnectionFailed(f"{where}: unknown host {s.host!r}", hint=url_hint)
        if "Connection refused" in text or "timeout expired" in text or "No route" in text:
            reason = "timed out" if "timeout" in text else "connection refused"
            return ConnectionFailed(f"{where}: {reason}; is PostgreSQL running there?", hint=f"start it, or {url_hint}")
        return ConnectionFailed(f"{where}: {first}", hint=url_hint)

    def _create_database(self) -> None:
        from psycopg2 import sql

        conn = None
        for maintenance in ("postgres", "template1"):
            try:
                conn = self._open(maintenance)
                break
            except DatabaseMissing:
                continue
        if conn is None:
            raise ConnectionFailed(f"postgres at {self.settings.address}: no maintenance database to connect to")
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.settings.database)))
        except Exception as exc:
            if "already exists" not in str(exc):
                reason = mask(str(exc), self.settings).strip()
                raise ConnectionFailed(
                    f"postgres: could not create database {self.settings.database!r}: {reason}",
                    hint="create it by hand, or connect as a user with CREATEDB",
                ) from None
        finally:
            conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    # -- files --------------------------------------------------------------------------------

    @classmethod
    def split(cls, migration: Migration, *, down: bool = False) -> Sequence[Statement]:
        """Statements of the up (or down) section with their file lines (see postgres_dialect); goose's
        StatementBegin/End bodies are one statement each."""
        text, first_line, path = migration.section(down=down)
        blocks = migration.blocks if path == migration.path else ()
        return split_blocks(text, first_line, path.name, blocks, dialect.split)

    @staticmethod
    def runs_in_transaction(
        migration: Migration, statements: Sequence[Statement], server_version: int | None = None, *, down: bool = False
    ) -> bool:
        """False when the section's directive or marker says so, or a statement cannot run inside the
        transaction dbtools opens (it must run outside one, or the file controls its own transactions)."""
        declared = migration.down_transactional if down else migration.transactional
        if declared is not None:
            return declared
        if not isinstance(statements, dialect.Script):
            statements = dialect.Script.of(statements)
        return not statements.needs_autocommit(server_version)

    # -- history ------------------------------------------------------------------------------

    def history(self) -> list[AppliedMigration]:
        import psycopg2.errors

        try:
            rows = self._query(f"SELECT {_COLUMNS} FROM {self._history} ORDER BY version")
        except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName):
            return []
        except psycopg2.errors.UndefinedColumn:  # written by an older dbtools: read what it has
            rows = self._query(f"SELECT {_OLD_COLUMNS} FROM {self._history} ORDER BY version")
        return [AppliedMigration(*row) for row in rows]

    def ensure_history(self) -> None:
        self._query(_CREATE_HISTORY.format(table=self._history) + "; " + _ADD_ADOPTED_FROM.format(table=self._history))

    def record(self, row: AppliedMigration) -> None:
        self._query(self._upsert, _row_params(row))

    def record_many(self, rows: Sequence[AppliedMigration]) -> None:
        """Insert or replace several history rows in one transaction: all of them or none."""
        with self._conn.cursor() as cur:
            cur.execute("BEGIN")
            try:
                cur.executemany(self._upsert, [_row_params(row) for row in rows])
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def read_table(self, name: str) -> ForeignTable | None:
        """Another tool's history table (`schema.table` or a table on the search path); None if absent.
        A table the server cannot read (a failing view, no privilege) is one error naming it."""
        import psycopg2

        try:
            found = self._query("SELECT to_regclass(%s)::oid, to_regclass(%s)::text", (name, name))
            if not found or found[0][0] is None:
                return None
            oid, qualified = found[0]
            columns = self._query(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                (oid,),
            )
            with self._conn.cursor() as cur:
                cur.execute(f"SELECT * FROM {qualified}")  # the catalog's own quoting of the name
                names = [d[0] for d in cur.description]
                rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except psycopg2.Error as exc:
            raise DbtoolsError(
                f"postgres: could not read {name}: {_server_message(exc)}",
                hint=f"check that {name} is the other tool's history table and that this user may read it "
                "(--table NAME reads another)",
            ) from None
        return ForeignTable(qualified, dict(columns), rows)

    def forget(self, version: int) -> None:
        self._query(f"DELETE FROM {self._history} WHERE version = %s", (version,))

    # -- lock ---------------------------------------------------------------------------------

    @contextmanager
    def lock(self, timeout: float, on_wait: Waiting | None = None) -> Iterator[None]:
        """Session advisory lock, released by PostgreSQL itself if this process dies.

        Taken with `pg_try_advisory_lock` polled from an idle session (see dbtools.leases.take_or_wait):
        a waiter never sits inside a statement, so it holds no snapshot the holder's CREATE INDEX
        CONCURRENTLY would wait for, and no statement_timeout cuts the wait short. The attempt that
        succeeds also stamps the time into this session's application_name, for `lock_holder`."""
        prelude = ""
        if self._conn.server_version >= 140000:
            # notice a killed client within a second even while a long statement runs,
            # so its transaction rolls back and its lock frees promptly
            prelude = "SET client_connection_check_interval = 1000; "

        def attempt() -> bool:
            nonlocal prelude
            stamp = f"{owner_tag()[:36]} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
            taken = self._query(
                f"{prelude}SELECT CASE WHEN pg_try_advisory_lock({LOCK_KEY}) "
                "THEN set_config('application_name', %s, false) END",
                (stamp,),
            )
            prelude = ""
            return taken[0][0] is not None

        take_or_wait(
            self.name,
            repr(self.settings.database),
            attempt,
            self.lock_holder,
            timeout,
            on_wait=on_wait,
            breaking="if it hangs, end its session with `unlock --force --db postgres`",
        )
        try:
            yield
        finally:
            if self._conn is not None and not self._conn.closed:
                with suppress(Exception):  # if the session is gone, PostgreSQL released the lock with it
                    self._query(f"SELECT pg_advisory_unlock({LOCK_KEY})")

    def lock_holder(self) -> str | None:
        """`pid N (client, user, address) since T` of the session holding the lock, None when it is free."""
        rows = self._query(
            "SELECT a.pid, a.application_name, a.usename, host(a.client_addr), a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid = %s AND l.objid = %s "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF),
        )
        if not rows:
            return None
        pid, app, user, addr, connected = rows[0]
        stamped = re.fullmatch(r"(.*) since (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", app or "")
        client, since = (
            (stamped[1], stamped[2].replace("T", " ").replace("Z", " UTC"))
            if stamped
            else (app or "unnamed client", f"{connected:%Y-%m-%d %H:%M:%S %Z} (connected)")
        )
        return f"pid {pid} ({client}, user {user}, from {addr or 'local socket'}) since {since}"

    def break_lock(self) -> str | None:
        """End the session holding the lock (PostgreSQL frees a session's advisory locks with it)."""
        holder = self.lock_holder()
        if holder is None:
            return None
        pid = int(holder.split()[1])
        self._query("SELECT pg_terminate_backend(%s)", (pid,))
        return f"ended {holder}"

    # -- schema -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Tables, columns, constraints, indexes, views, types, functions, triggers, extensions of user schemas."""
        user_schemas = (
            "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%%' "
            "AND n.nspname NOT LIKE 'pg_toast_temp%%'"
        )
        queries = {
            "columns": f"""SELECT n.nspname || '.' || c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                    a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
                FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                  AND c.relname <> '{HISTORY_NAME}' AND {user_schemas} ORDER BY 1, a.attnum""",
            "relations": f"""SELECT n.nspname || '.' || c.relname, c.relkind::text,
                    CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relname NOT LIKE '{HISTORY_NAME}%%'
                  AND {user_schemas} ORDER BY 1""",
            "constraints": f"""SELECT n.nspname || '.' || c.relname, k.conname, pg_get_constraintdef(k.oid)
                FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relname <> '{HISTORY_NAME}' AND {user_schemas} ORDER BY 1, 2""",
            "indexes": f"""SELECT n.nspname || '.' || c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid
                FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relname <> '{HISTORY_NAME}' AND {user_schemas} ORDER BY 1, 2""",
            "types": f"""SELECT n.nspname || '.' || t.typname, t.typtype::text,
                    (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                     FROM pg_enum e WHERE e.enumtypid = t.oid)
                FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE t.typtype IN ('e', 'd', 'c') AND {user_schemas}
                  AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
                ORDER BY 1""",
            "functions": f"""SELECT n.nspname || '.' || p.proname
                    || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                    md5(pg_get_functiondef(p.oid))
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
                WHERE {user_schemas} AND p.prokind IN ('f', 'p') AND d.objid IS NULL ORDER BY 1""",
            "triggers": f"""SELECT n.nspname || '.' || c.relname, t.tgname, pg_get_triggerdef(t.oid)
                FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE NOT t.tgisinternal AND {user_schemas} ORDER BY 1, 2""",
            "extensions": "SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1",
            "schemas": f"""SELECT n.nspname FROM pg_namespace n WHERE {user_schemas} ORDER BY 1""",
        }
        return {name: [list(row) for row in self._query(sql)] for name, sql in queries.items()}

    def describe(self) -> list[dict[str, Any]]:
        """Tables and views of the public schema for docs/schema.md: purpose (COMMENT ON TABLE), columns,
        keys and foreign keys."""
        objects = self._query(
            "SELECT c.oid, c.relname, c.relkind::text, coalesce(obj_description(c.oid, 'pg_class'), '') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relname <> '{HISTORY_NAME}' "
            "ORDER BY c.relname"
        )
        kinds = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}
        described = []
        for oid, name, kind, purpose in objects:
            keys = {
                col: (ctype, ref)
                for col, ctype, ref in self._query(
                    "SELECT a.attname, k.contype::text, "
                    "CASE WHEN k.contype = 'f' THEN k.confrelid::regclass::text || '.' || "
                    "(SELECT attname FROM pg_attribute WHERE attrelid = k.confrelid AND attnum = k.confkey[1]) END "
                    "FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey) "
                    "WHERE k.conrelid = %s AND k.contype IN ('p', 'f') ORDER BY k.contype DESC, a.attnum",
                    (oid,),
                )
            }
            fields = []
            for column, ctype, not_null, default in self._query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                "coalesce(pg_get_expr(d.adbin, d.adrelid), CASE WHEN a.attidentity <> '' THEN 'identity' END) "
                "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                (oid,),
            ):
                notes = []
                key, ref = keys.get(column, (None, None))
                if key == "p":
                    notes.append("primary key")
                if key == "f":
                    notes.append(f"→ {ref}")
                if not_null and key != "p":
                    notes.append("not null")
                if default:
                    notes.append(f"default {default}")
                fields.append([column, ctype, ", ".join(notes)])
            indexes = [
                ("unique " if row[0].startswith("CREATE UNIQUE") else "") + row[0].split(" USING ", 1)[-1]
                for row in self._query(
                    "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s AND NOT indisprimary "
                    "ORDER BY 1",
                    (oid,),
                )
            ]
            described.append(
                {
                    "name": name,
                    "kind": kinds[kind],
                    "purpose": purpose,
                    "keys": "; ".join(f"index {i}" for i in indexes),
                    "fields": fields,
                    "references": [
                        [column, ref.split(".")[0], ref.split(".")[1]]
                        for column, (key, ref) in keys.items()
                        if key == "f"
                    ],
                }
            )
        return described

    # -- audit sink ---------------------------------------------------------------------------

    def write_log(self, events: Sequence[Event]) -> None:
        """Append events to `audit_logs` (the platform's schema) in one statement; nothing if it does not exist yet."""
        import json

        if not self._query("SELECT to_regclass('audit_logs') IS NOT NULL")[0][0]:
            return
        rows = [
            (
                owner_tag(),
                f"{e.action}.{e.status}",
                f"{e.store}.migration" if e.version is not None else e.store,
                str(e.version) if e.version is not None else e.name or None,
                "failure" if e.status == "failed" else "success",
                json.dumps(
                    {
                        "store": e.store,
                        "version": e.version,
                        "name": e.name,
                        "status": e.status,
                        "duration_ms": e.duration_ms,
                        "error": e.error,
                        "detail": e.detail or None,
                    }
                ),
            )
            for e in events
        ]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s::jsonb)"] * len(rows))
        self._query(
            f"INSERT INTO audit_logs (actor, action, entity_type, entity_id, outcome, details) VALUES {values}",
            [v for row in rows for v in row],
        )

    # -- seeding ------------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction around a seeding run: a failure leaves the tables as they were."""
        with self._conn.cursor() as cur:
            cur.execute("BEGIN")
            try:
                yield
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def count(self, target: str) -> int:
        """Rows in a table (0 when it does not exist)."""
        rows = self._query("SELECT to_regclass(%s) IS NOT NULL", (target,))
        return self._query(f'SELECT count(*) FROM "{target}"')[0][0] if rows[0][0] else 0

    def wipe(self, targets: Sequence[str]) -> None:
        """Empty the tables (and what references them) and restart their identity sequences."""
        if targets:
            self._query("TRUNCATE " + ", ".join(f'"{t}"' for t in targets) + " RESTART IDENTITY CASCADE")

    def load(self, table: Table) -> int:
        """COPY the rows in (one round trip per 50,000 rows); identity columns given explicitly are
        honoured (COPY overrides GENERATED ALWAYS) and their sequences moved past the loaded ids."""
        import psycopg2

        columns = list(table.columns)
        quoted = ", ".join(f'"{c}"' for c in columns)
        try:
            with self._conn.cursor() as cur:
                for chunk in _copy_chunks(table, 50_000):
                    cur.copy_expert(f'COPY "{table.target}" ({quoted}) FROM STDIN', chunk)
                sequence = None
                if "id" in columns:
                    cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", (f'"{table.target}"',))
                    sequence = cur.fetchone()[0]
                if sequence:
                    cur.execute(f'SELECT setval(%s, (SELECT max(id) FROM "{table.target}"))', (sequence,))
        except psycopg2.Error as exc:
            raise DbtoolsError(
                f"postgres: loading {table.target} failed: {_server_message(exc)}",
                hint="is the schema current (`migrate`)? with --reset the seeded tables are emptied first",
            ) from None
        return len(table)

    # -- apply / revert -----------------------------------------------------------------------

    def apply(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> AppliedMigration:
        if self.runs_in_transaction(migration, statements, self._conn.server_version):
            return self._apply_in_transaction(migration, statements)
        return self._apply_statement_by_statement(migration, statements, start_at)

    def _apply_in_transaction(self, m: Migration, statements: Sequence[Statement]) -> AppliedMigration:
        import psycopg2

        if isinstance(statements, dialect.Script) and statements.sendable(self._conn.server_version):
            return self._apply_as_one(m, statements)
        started = time.monotonic()
        cur = self._conn.cursor()
        index = -1
        try:
            for index in range(len(statements)):
                # BEGIN rides with the first statement: one round trip less per migration
                _execute(cur, statements[index], begin=index == 0)
            if not statements:
                cur.execute("BEGIN")
            row = history_row(
                m, status="applied", started=started, statements_done=len(statements), statements=statements
            )
            index = len(statements)
            cur.execute(self._upsert + "; COMMIT", _row_params(row))
            return row
        except psycopg2.Error as exc:
            cur.execute("ROLLBACK")
            if not 0 <= index < len(statements):
                raise _history_write_failed(m, exc) from None
            failure = statement_failed(self.name, m, statements, index, _server_message(exc), kept=False)
            from dbtools import interrupt

            if not interrupt.requested():  # stopped by Ctrl-C, the migration is simply not applied
                row = history_row(
                    m, status="failed", started=started, statements_done=0, statements=statements, error=failure.message
                )
                self.record(row)
            raise failure from None
        finally:
            cur.close()

    def _apply_as_one(self, m: Migration, script: dialect.Script) -> AppliedMigration:
        """The section and its history row in one transaction, sent as one multi-statement query: the
        server parses it, nothing is cut here. Only after a failure is the section cut, to name the
        statement (by the error's position, else by running it again in a transaction rolled back)."""
        started = time.monotonic()
        row = history_row(m, status="applied", started=started, statements_done=len(script), statements=script)
        with self._conn.cursor() as cur:
            params = _row_params(row)
            record = cur.mogrify(self._upsert_timed, params[:8] + params[10:])
            self._run_as_one(cur, m, script, record, started)
        return replace(row, applied_at=datetime.now(UTC), execution_ms=int((time.monotonic() - started) * 1000))

    def _run_as_one(
        self, cur: Any, m: Migration, script: dialect.Script, tail: bytes, started: float, *, down: bool = False
    ) -> None:
        """BEGIN; the section; `tail` (the history write); COMMIT - one round trip for a section under
        _ONE_QUERY_BYTES, else three, so a big section is encoded once and never copied into a bigger string."""
        import psycopg2

        from dbtools import interrupt

        body = script.text.encode()
        head = b"BEGIN;\n"
        in_tail = False
        try:
            with interrupt.cancellable(cur.connection.cancel):  # Ctrl-C cancels it on the server
                if len(body) < _ONE_QUERY_BYTES:
                    cur.execute(b"".join((head, body, _AFTER_SECTION, tail, b";\nCOMMIT")))
                else:
                    head = b""
                    cur.execute(b"BEGIN")
                    cur.execute(body)
                    del body
                    in_tail = True
                    cur.execute(tail + b";\nCOMMIT")
        except interrupt.Stopped as exc:  # Ctrl-C came first: nothing was sent
            raise MigrationFailed(f"postgres: migration {m.label} was not started: {exc}") from None
        except psycopg2.Error as exc:
            cur.execute("ROLLBACK")
            if interrupt.requested():  # cancelled by Ctrl-C: simply not applied, nothing to locate or record
                failure = MigrationFailed(
                    f"postgres: migration {m.label} was cancelled: {_server_message(exc)}",
                    hint="nothing of it was applied",
                )
                # which statement ran is unknown: the server was running the section as one query
                failure.where = f"one of its {len(script)} statement(s) (its section runs as one query)"  # type: ignore[attr-defined]
                raise failure from None
            where = None if in_tail else len(head)
            raise self._failed_as_one(cur, m, script, exc, tail, where, started, down) from None

    def _failed_as_one(
        self,
        cur: Any,
        m: Migration,
        script: dialect.Script,
        exc: Exception,
        tail: bytes,
        head: int | None,
        started: float,
        down: bool,
    ) -> MigrationFailed:
        """The error for a section sent whole that failed (rolled back): which statement, from the
        server's error position, else found by running the section again, statement by statement in
        batches, in a transaction that is rolled back; recorded as a failed row for an up section.
        `head`: characters sent before the section in the failed query (None: it was the history write)."""
        message = _server_message(exc)
        position = getattr(getattr(exc, "diag", None), "statement_position", None)
        index: int | None = None
        if head is not None and position and position.isdigit():
            offset = int(position) - 1 - head
            if offset >= len(script.text) + len(_AFTER_SECTION):
                head = None  # past the section: the history write failed
            elif offset >= 0 and len(script):
                index = script.index_at(min(offset, len(script.text) - 1))
        if index is None and head is not None:
            found = self._locate(cur, script, tail)
            if found is not None:
                index, message = found
                head = None if index == len(script) else head
        if head is None:
            return _history_write_failed(m, message, down=down)
        if index is None:
            failure = MigrationFailed(
                f"postgres: migration {m.label} failed: {' '.join(message.split())} (no statement named: it did "
                "not fail again when the section was run once more, statement by statement)",
                hint=f"nothing of it was applied; fix the file and run `{'rollback' if down else 'migrate'} "
                "--db postgres` again",
            )
        else:
            failure = statement_failed(self.name, m, script, index, message, kept=False, down=down)
        if not down:
            failed = history_row(
                m, status="failed", started=started, statements_done=0, statements=script, error=failure.message
            )
            self.record(failed)
        return failure

    def _locate(self, cur: Any, script: dialect.Script, tail: bytes) -> tuple[int, str] | None:
        """(index, server message) of the first statement that fails when the section runs again in a
        transaction that is then rolled back: batches of statements as one query, each behind a savepoint,
        and the failing batch one statement at a time; index len(script) when only `tail` (the history
        write) fails. None when nothing fails this time, or Ctrl-C stops the search."""
        from dbtools import interrupt

        cur.execute("BEGIN")
        try:
            with interrupt.cancellable(cur.connection.cancel):
                found = _first_failure(cur, script, tail)
        except interrupt.Stopped:
            found = None
        finally:
            cur.execute("ROLLBACK")
        return None if interrupt.requested() else found

    def _apply_statement_by_statement(
        self, m: Migration, statements: Sequence[Statement], start_at: int
    ) -> AppliedMigration:
        """Autocommit, one statement at a time; progress is recorded whenever no transaction is open
        (a file may manage its own BEGIN/COMMIT: its statements count once committed)."""
        import psycopg2
        from psycopg2.extensions import TRANSACTION_STATUS_IDLE

        started = time.monotonic()
        committed = start_at
        self.record(history_row(m, status="running", started=started, statements_done=committed, statements=statements))
        opened = 0  # the statement that opened the file's own transaction, if one is open
        with self._conn.cursor() as cur:
            for index in range(start_at, len(statements)):
                statement = statements[index]
                was_idle = self._conn.get_transaction_status() == TRANSACTION_STATUS_IDLE
                try:
                    _execute(cur, statement)
                except psycopg2.Error as exc:
                    raise self._stopped(m, statements, index, _server_message(exc), committed, started) from None
                idle = self._conn.get_transaction_status() == TRANSACTION_STATUS_IDLE
                if was_idle and not idle:
                    opened = index
                if idle and not was_idle and statement.kind == dialect.ROLLBACK:
                    # the file rolled its own transaction back: what ran in it did not stay
                    word = statement.sql.split(None, 1)[0].rstrip(";").upper()
                    message = (
                        f"the file's own {word} (line {statement.line}) rolled back statements "
                        f"{opened + 1}-{index + 1}, so nothing of them stayed"
                    )
                    raise self._stopped(m, statements, index, message, committed, started)
                if idle:
                    committed = index + 1
                    if committed < len(statements):
                        self.record(
                            history_row(
                                m, status="running", started=started, statements_done=committed, statements=statements
                            )
                        )
            if self._conn.get_transaction_status() != TRANSACTION_STATUS_IDLE:
                message = "the file opens a transaction it never commits"
                raise self._stopped(m, statements, len(statements) - 1, message, committed, started)
        row = history_row(m, status="applied", started=started, statements_done=committed, statements=statements)
        self.record(row)
        return row

    def _stopped(
        self, m: Migration, statements: Sequence[Statement], index: int, message: str, committed: int, started: float
    ) -> MigrationFailed:
        """Roll back an open transaction, record the failure with what stayed committed; the error to raise."""
        from psycopg2.extensions import TRANSACTION_STATUS_IDLE

        if self._conn.get_transaction_status() != TRANSACTION_STATUS_IDLE:
            self._query("ROLLBACK")
        failure = statement_failed(self.name, m, statements, index, message, kept=True, applied=committed)
        self.record(
            history_row(
                m,
                status="failed",
                started=started,
                statements_done=committed,
                statements=statements,
                error=failure.message,
            )
        )
        return failure

    def revert(self, migration: Migration, statements: Sequence[Statement]) -> None:
        import psycopg2

        delete = f"DELETE FROM {self._history} WHERE version = %s"
        in_tx = self.runs_in_transaction(migration, statements, self._conn.server_version, down=True)
        with self._conn.cursor() as cur:
            if in_tx and isinstance(statements, dialect.Script) and statements.sendable(self._conn.server_version):
                tail = cur.mogrify(delete, (migration.version,))
                self._run_as_one(cur, migration, statements, tail, time.monotonic(), down=True)
                return
            index = -1
            try:
                if in_tx:
                    cur.execute("BEGIN")
                for index in range(len(statements)):
                    _execute(cur, statements[index])
                cur.execute(delete + ("; COMMIT" if in_tx else ""), (migration.version,))
            except psycopg2.Error as exc:
                if in_tx:
                    cur.execute("ROLLBACK")
                if not 0 <= index < len(statements):
                    raise _history_write_failed(migration, exc) from None
                raise statement_failed(
                    self.name, migration, statements, index, _server_message(exc), kept=not in_tx, down=True
                ) from None

    # -- backup / restore / rehearse (capabilities used by dbtools.backup) ----------------------

    def backup_to(self, folder: Path) -> dict[str, Any]:
        """`pg_dump -Fc` of the database into folder/postgres.dump (see dbtools.backends.postgres_backup)."""
        from dbtools.backends import postgres_backup

        return postgres_backup.dump(self, folder)

    def restore_from(self, folder: Path, manifest: dict[str, Any], *, replace: bool = False) -> None:
        """Restore in one transaction; with `replace`, everything the target held is dropped in that same
        transaction first, so a failure anywhere leaves the target exactly as it was."""
        from dbtools.backends import postgres_backup

        postgres_backup.restore(self, folder, replace=replace)

    def is_empty(self) -> bool:
        """Nothing a user could lose: no table, view, sequence, type, function, schema other than an
        empty `public`, extension, publication, subscription, event trigger, foreign server, cast or
        large object."""
        return not self.contents()

    def contents(self) -> dict[str, int]:
        """What a restore would replace, counted by kind."""
        from dbtools.backends import postgres_backup

        return postgres_backup.contents(self)

    rehearsal_lock_timeout_ms: ClassVar[int] = 5000
    _STRONG_LOCKS: ClassVar[tuple[str, ...]] = (
        "ShareLock",
        "ShareRowExclusiveLock",
        "ExclusiveLock",
        "AccessExclusiveLock",
    )

    @contextmanager
    def rehearsal_cost(self) -> Iterator[dict[str, Any]]:
        """Locks one migration waited for and held (pg_locks sampled every 10 ms from a second
        session) and lock_timeout hits, with lock_timeout set on the migration's session."""
        import threading

        costs: dict[str, Any] = {"lock_timeout_ms": self.rehearsal_lock_timeout_ms}
        self._query(f"SET lock_timeout = {self.rehearsal_lock_timeout_ms}")
        pid = self._conn.get_backend_pid()
        watcher = self._open(self.settings.database)
        held: dict[tuple[str, str], list[float]] = {}
        waited: dict[tuple[str, str], list[float]] = {}
        stop = threading.Event()

        def sample() -> None:
            with watcher.cursor() as cur:
                while not stop.is_set():
                    cur.execute(
                        "SELECT coalesce(c.relname, l.locktype), l.mode, l.granted FROM pg_locks l "
                        "LEFT JOIN pg_class c ON c.oid = l.relation "
                        "WHERE l.pid = %s AND (l.locktype = 'relation' OR NOT l.granted)",  # own xid locks: noise
                        (pid,),
                    )
                    now = time.monotonic()
                    for relation, mode, granted in cur.fetchall():
                        if granted and mode not in self._STRONG_LOCKS:
                            continue
                        seen = (held if granted else waited).setdefault((relation, mode), [now, now])
                        seen[1] = now
                    stop.wait(0.01)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        hits = 0
        try:
            yield costs
        except MigrationFailed as exc:
            hits = int("lock timeout" in exc.message)
            raise
        finally:
            stop.set()
            thread.join()
            watcher.close()
            with suppress(Exception):
                self._query("RESET lock_timeout")
            costs["lock_timeout_hits"] = hits
            costs["lock_waits"] = [
                {"relation": r, "mode": m, "ms": int((t[1] - t[0]) * 1000)} for (r, m), t in waited.items()
            ]
            costs["locks_held"] = sorted(
                ({"relation": r, "mode": m, "ms": int((t[1] - t[0]) * 1000)} for (r, m), t in held.items()),
                key=lambda x: -x["ms"],
            )[:8]


def _qualified(schema: str, name: str) -> str:
    """ "schema"."name", each part quoted as an identifier."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema, name))


def _copy_chunks(table: Table, size: int) -> Iterator[io.StringIO]:
    """COPY text-format buffers of `size` rows each."""
    lists = [_as_list(values) for values in table.columns.values()]
    for start in range(0, len(table), size):
        rows = zip(*(col[start : start + size] for col in lists), strict=True)
        lines = ["\t".join(_copy_value(v) for v in row) for row in rows]
        yield io.StringIO("\n".join(lines) + "\n")


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    if isinstance(value, (list, tuple)):
        inner = ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value)
        return ("{" + inner + "}").translate(_COPY_ESCAPES)
    if isinstance(value, dict):
        import json

        return json.dumps(value).translate(_COPY_ESCAPES)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def _execute(cur: Any, statement: Statement, *, begin: bool = False) -> None:
    """Run one statement (`begin`: open the transaction in the same round trip); COPY ... FROM STDIN
    streams the data block that followed it in the file. Ctrl-C cancels it on the server (the
    driver then raises QueryCanceled, as it does for a statement Ctrl-C came before)."""
    from dbtools import interrupt

    try:
        with interrupt.cancellable(cur.connection.cancel):
            if statement.data is None:
                cur.execute(("BEGIN;\n" if begin else "") + statement.sql)
                return
            if begin:
                cur.execute("BEGIN")
            cur.copy_expert(statement.sql, io.StringIO(statement.data))
    except interrupt.Stopped as exc:
        from psycopg2.errors import QueryCanceled

        raise QueryCanceled(str(exc)) from None


def _first_failure(cur: Any, script: dialect.Script, tail: bytes) -> tuple[int, str] | None:
    """Run `script` then `tail` inside the open transaction (see `_locate`)."""
    import psycopg2

    text, total = script.text, len(script)
    first = 0
    while first < total:
        last = min(total, first + _LOCATE_BATCH) - 1
        start, end = script.span(first, last)
        try:
            cur.execute(("SAVEPOINT dbtools_locate;\n" + text[start:end] + "\n;").encode())
        except psycopg2.Error:
            cur.execute("ROLLBACK TO SAVEPOINT dbtools_locate")
            for index in range(first, last + 1):
                try:
                    cur.execute(script[index].sql)
                except psycopg2.Error as exc:
                    return index, _server_message(exc)
            return None
        first = last + 1
    try:
        cur.execute(tail)
    except psycopg2.Error as exc:
        return total, _server_message(exc)
    return None


def _row_params(row: AppliedMigration) -> tuple[Any, ...]:
    return (
        row.version,
        row.name,
        row.checksum,
        row.status,
        row.statements_done,
        row.statements_total,
        row.progress_checksum,
        row.error,
        row.applied_at,
        row.execution_ms,
        row.applied_by,
        row.tool_version,
        row.adopted_from,
    )


def _history_write_failed(m: Migration, exc: Exception | str, *, down: bool = False) -> MigrationFailed:
    what = "its history row could not be removed" if down else "its history row could not be written"
    reason = exc if isinstance(exc, str) else _server_message(exc)
    return MigrationFailed(
        f"postgres: migration {m.label} ran but {what}: {reason}",
        hint=f"nothing of it was kept; check that {HISTORY_NAME} is intact, then run "
        f"`{'rollback' if down else 'migrate'}` again",
    )


def _server_message(exc: Exception) -> str:
    """The server's error without psycopg2's LINE/caret decoration (we name the file line)."""
    text = str(exc).strip()
    return text.split("\nLINE ")[0].split("\n")[0] if text else type(exc).__name__
