"""PostgreSQL backups: pg_dump to a custom-format archive; restore all or nothing in one transaction.

A restore runs pg_restore's SQL through psql inside ONE transaction that first drops everything the
target held (with `replace`): a restore that fails at any point - a DROP it may not run, a
statement of the archive, a unique index the data breaks - rolls back as a whole, and the target is
exactly as it was. The password travels in the tools' environment, never on their command line.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbtools.backends.base import owner_tag
from dbtools.errors import DbtoolsError, MissingDependency
from dbtools.settings import Settings, mask

if TYPE_CHECKING:
    from dbtools.backends.postgres import PostgresBackend

USER_SCHEMA = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'"


def _not_extension_member(catalog: str, alias: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '{catalog}'::regclass "
        f"AND d.objid = {alias}.oid AND d.deptype = 'e')"
    )


# Everything a user could lose, by kind: what makes a target "not empty" (a lone, empty `public` does not).
CONTENTS = f"""
SELECT kind, count(*) FROM (
  SELECT 'table, view or sequence' AS kind FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {USER_SCHEMA}
  UNION ALL SELECT 'type' FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    WHERE {USER_SCHEMA} AND {_not_extension_member("pg_type", "t")} AND (t.typtype IN ('e', 'd', 'r', 'm')
      OR (t.typtype = 'c' AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = t.typrelid) = 'c'))
  UNION ALL SELECT 'function or procedure' FROM pg_catalog.pg_proc p
    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE {USER_SCHEMA} AND {_not_extension_member("pg_proc", "p")}
  UNION ALL SELECT 'operator, collation or text search object' FROM (
      SELECT oprnamespace AS ns, oid, 'pg_operator'::regclass AS cls FROM pg_catalog.pg_operator
      UNION ALL SELECT collnamespace, oid, 'pg_collation'::regclass FROM pg_catalog.pg_collation
      UNION ALL SELECT cfgnamespace, oid, 'pg_ts_config'::regclass FROM pg_catalog.pg_ts_config
      UNION ALL SELECT dictnamespace, oid, 'pg_ts_dict'::regclass FROM pg_catalog.pg_ts_dict
    ) o JOIN pg_catalog.pg_namespace n ON n.oid = o.ns
    WHERE {USER_SCHEMA} AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
      WHERE d.classid = o.cls AND d.objid = o.oid AND d.deptype = 'e')
  UNION ALL SELECT 'schema' FROM pg_catalog.pg_namespace n WHERE {USER_SCHEMA} AND n.nspname <> 'public'
  UNION ALL SELECT 'extension' FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql'
  UNION ALL SELECT 'publication' FROM pg_catalog.pg_publication
  UNION ALL SELECT 'subscription' FROM pg_catalog.pg_subscription s
    JOIN pg_catalog.pg_database db ON db.oid = s.subdbid WHERE db.datname = current_database()
  UNION ALL SELECT 'event trigger' FROM pg_catalog.pg_event_trigger
  UNION ALL SELECT 'foreign server' FROM pg_catalog.pg_foreign_server f
    WHERE {_not_extension_member("pg_foreign_server", "f")}
  UNION ALL SELECT 'foreign-data wrapper' FROM pg_catalog.pg_foreign_data_wrapper f
    WHERE {_not_extension_member("pg_foreign_data_wrapper", "f")}
  UNION ALL SELECT 'cast' FROM pg_catalog.pg_cast c WHERE c.oid >= 16384 AND {_not_extension_member("pg_cast", "c")}
  UNION ALL SELECT 'large object' FROM pg_catalog.pg_largeobject_metadata
) found GROUP BY kind ORDER BY kind
"""

# What a replacing restore drops, in this order (event triggers first, so no DROP fires one): the rows
# of a query, and for each the format() call dropping it. Schemas go last, with all they hold.
_DROPS = (
    ("SELECT evtname FROM pg_catalog.pg_event_trigger", "'DROP EVENT TRIGGER %I', r.evtname"),
    ("SELECT pubname FROM pg_catalog.pg_publication", "'DROP PUBLICATION %I', r.pubname"),
    (
        "SELECT extname FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql'",
        "'DROP EXTENSION IF EXISTS %I CASCADE', r.extname",
    ),
    ("SELECT srvname FROM pg_catalog.pg_foreign_server", "'DROP SERVER IF EXISTS %I CASCADE', r.srvname"),
    (
        "SELECT fdwname FROM pg_catalog.pg_foreign_data_wrapper",
        "'DROP FOREIGN DATA WRAPPER IF EXISTS %I CASCADE', r.fdwname",
    ),
    (
        "SELECT c.castsource::regtype AS source, c.casttarget::regtype AS target FROM pg_catalog.pg_cast c\n"
        f"           WHERE c.oid >= 16384 AND {_not_extension_member('pg_cast', 'c').replace('%%', '%')}",
        "'DROP CAST IF EXISTS (%s AS %s) CASCADE', r.source, r.target",
    ),
    (
        f"SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE {USER_SCHEMA.replace('%%', '%')}",
        "'DROP SCHEMA %I CASCADE', r.nspname",
    ),
)
_DROP_LOOPS = "".join(f"  FOR r IN {query} LOOP\n    EXECUTE format({drop});\n  END LOOP;\n" for query, drop in _DROPS)

# Run first in the restore's transaction (with `replace`): drop what CONTENTS counts, leave an empty
# `public`. Computed by the server inside the transaction, so it sees exactly what it drops.
CLEAR = f"""
SET client_min_messages = warning;
DO $dbtools$
DECLARE r record;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_subscription s JOIN pg_catalog.pg_database db ON db.oid = s.subdbid
             WHERE db.datname = current_database()) THEN
    RAISE EXCEPTION 'the target has subscriptions, which cannot be dropped inside a transaction'
      USING HINT = 'drop them (DROP SUBSCRIPTION) and restore again';
  END IF;
  PERFORM pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata;
{_DROP_LOOPS}  CREATE SCHEMA public;
  GRANT USAGE ON SCHEMA public TO PUBLIC;
  IF current_setting('server_version_num')::int >= 150000 THEN
    ALTER SCHEMA public OWNER TO pg_database_owner;
  END IF;
END
$dbtools$;
"""


def contents(backend: PostgresBackend) -> dict[str, int]:
    """What the target holds that a restore would replace, counted by kind ({} when empty)."""
    return dict(backend._query(CONTENTS))


def tool(backend: PostgresBackend, name: str) -> tuple[str, int]:
    """The newest installed client tool (pg_dump, pg_restore, psql) and its major version; refuse one
    older than the server."""
    # Debian keeps one folder per major version (the folder names it: no process to start);
    # elsewhere ask the one on PATH
    versions = {
        str(p): int(p.parent.parent.name)
        for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}")
        if p.parent.parent.name.isdigit()
    }
    on_path = shutil.which(name)
    if not versions and on_path:
        done = subprocess.run([on_path, "--version"], capture_output=True, text=True)
        match = re.search(r"(\d+)(?:\.\d+)?", done.stdout)
        if done.returncode == 0 and match:
            versions[on_path] = int(match[1])
    if not versions:
        raise MissingDependency(
            f"postgres: {name} is not installed", hint="apt-get install postgresql-client (matching the server)"
        )
    path = max(versions, key=lambda p: versions[p])
    client, server = versions[path], backend._conn.server_version // 10000
    if client < server:
        raise MissingDependency(
            f"postgres: {name} is version {client} but the server is PostgreSQL {server}; "
            f"{name} must be at least the server's major version",
            hint=f"install postgresql-client-{server} (or newer) and retry",
        )
    return path, client


def conninfo_dbname(name: str) -> str:
    """A libpq connection string naming database `name` and nothing else (quotes and backslashes escaped)."""
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _environment(s: Settings) -> dict[str, str]:
    """The client tools' environment: the password and TLS files here, never on the command line."""
    env = {**os.environ, "PGAPPNAME": owner_tag()[:63], "PGCONNECT_TIMEOUT": "5"}
    env.pop("PGPASSWORD", None)
    if s.password:
        env["PGPASSWORD"] = s.password
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
        if key in s.query:
            env[f"PG{key.upper()}"] = s.query[key]
    return env


def _connection(s: Settings) -> list[str]:
    # --dbname is read as a connection string when it holds `=` or a URI prefix: give it one whose
    # only keyword is dbname, the name quoted, so "x port=5433" stays a name and points nowhere else
    return [
        f"--host={s.host}",
        f"--port={s.port}",
        f"--username={s.user}",
        f"--dbname={conninfo_dbname(s.database)}",
        "--no-password",  # never prompt: the password is in the environment or absent
    ]


def _failure(s: Settings, name: str, stderr: str, hint: str) -> Exception:
    """The first error line a client tool printed, as one DbtoolsError (ENOSPC as OSError)."""
    text = mask(stderr, s).strip()
    if "No space left on device" in text:
        return OSError(errno.ENOSPC, "No space left on device")
    lines = [ln for ln in text.splitlines() if "error" in ln.lower()] or text.splitlines() or ["no output"]
    first = re.sub(r"^psql:[^:]*:\d+: ", "", lines[0]).removeprefix(f"{name}: ").removeprefix("error: ")
    return DbtoolsError(f"postgres: {name} failed: {first.removeprefix('ERROR:').strip()}", hint=hint)


def dump(backend: PostgresBackend, folder: Path) -> dict[str, Any]:
    """`pg_dump -Fc` of the database (schema, data, migration_history) into folder/postgres.dump."""
    s = backend.settings
    path, major = tool(backend, "pg_dump")
    argv = [path, "--format=custom", f"--file={folder / 'postgres.dump'}", *_connection(s)]
    done = subprocess.run(argv, env=_environment(s), capture_output=True, text=True)
    if done.returncode:
        raise _failure(s, "pg_dump", done.stderr, "nothing was kept of the backup; see the message")
    return {
        "files": {"postgres.dump": "pg_dump custom-format archive: schema, data and migration_history"},
        "tool": f"pg_dump {major}",
        "method": "pg_dump --format=custom",
        "details": {"server_version": backend._conn.server_version, "pg_dump_major": major},
    }


def restore(backend: PostgresBackend, folder: Path, *, replace: bool) -> None:
    """pg_restore's SQL (owners and grants of the source left out, so it restores under any role) run
    by psql in one transaction, after CLEAR when `replace`. pg_restore's output is relayed through
    this process: should pg_restore fail half-way, psql is killed before it sees the end of its input,
    so the transaction never commits."""
    s = backend.settings
    restorer, _ = tool(backend, "pg_restore")
    env = _environment(s)
    nothing = "nothing was restored: the target database is exactly as it was (one transaction)"
    if not replace:  # nothing to drop: pg_restore's own single transaction is all or nothing, and faster
        argv = [restorer, "--exit-on-error", "--single-transaction", "--no-owner", "--no-acl", *_connection(s)]
        done = subprocess.run([*argv, str(folder / "postgres.dump")], env=env, capture_output=True, text=True)
        if done.returncode:
            raise _failure(s, "pg_restore", done.stderr, nothing)
        return
    psql, _ = tool(backend, "psql")
    with tempfile.TemporaryDirectory(prefix="dbtools-pg-") as private:
        first = Path(private) / "clear.sql"
        first.write_text(CLEAR)
        sql_argv = [restorer, "--no-owner", "--no-acl", "--file=-", str(folder / "postgres.dump")]
        run_argv = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", str(first), "-f", "-"]
        with (
            open(Path(private) / "pg_restore.err", "w+b") as source_err,
            open(Path(private) / "psql.err", "w+b") as sink_err,
        ):
            source = subprocess.Popen(sql_argv, stdout=subprocess.PIPE, stderr=source_err)
            sink = subprocess.Popen(
                [*run_argv, *_connection(s)], env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=sink_err
            )
            complete = False
            try:
                try:
                    while chunk := source.stdout.read1(1 << 20):  # type: ignore[union-attr]
                        sink.stdin.write(chunk)  # type: ignore[union-attr]
                except BrokenPipeError:  # psql stopped at an error (ON_ERROR_STOP) and rolled back
                    pass
                if source.wait() == 0 and sink.poll() is None:
                    complete = True
                    sink.stdin.close()  # type: ignore[union-attr]  # the whole input: psql commits now
            except BrokenPipeError:
                pass
            finally:
                if not complete:
                    sink.kill()  # never let psql read the end of a half input: it would commit it
                if source.poll() is None:
                    source.kill()
                sink.wait()
                source.wait()
            if sink.returncode == 0 and complete:
                return
            if source.returncode != 0 and not complete:
                source_err.seek(0)
                raise _failure(s, "pg_restore", source_err.read().decode(errors="replace"), nothing)
            sink_err.seek(0)
            raise _failure(s, "psql", sink_err.read().decode(errors="replace"), nothing)
