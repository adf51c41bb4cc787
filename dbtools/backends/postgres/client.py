"""The psycopg2 connection: open (URL options, session options), connection errors, CREATE DATABASE, queries."""

from __future__ import annotations

import re
from collections.abc import Sequence

from dbtools.backends.base import owner_tag
from dbtools.errors import ConfigError, ConnectionFailed, DatabaseMissing, missing_driver
from dbtools.settings import Settings, mask

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any, ClassVar

# Session options: libpq URL query parameters we handle ourselves rather than pass to libpq.
SESSION_OPTIONS = ("lock_timeout", "statement_timeout")


def _server_message(exc: Exception) -> str:
    """The server's error without psycopg2's LINE/caret decoration (we name the file line)."""
    text = str(exc).strip()
    return text.split("\nLINE ")[0].split("\n")[0] if text else type(exc).__name__


class PostgresClient:
    """The session every other part of the backend runs its statements on."""

    name: ClassVar[str]
    settings: Settings
    _conn: Any

    def _open(self, database: str) -> Any:
        try:
            import psycopg2
        except ImportError:  # pragma: no cover - requirements install it
            raise missing_driver("postgres", "the psycopg2 driver") from None
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
            raise self._connection_error(str(exc), database) from exc
        except psycopg2.ProgrammingError as exc:  # libpq refused an option of the URL query
            reason = mask(str(exc), s).strip().removeprefix("invalid dsn: ")
            raise ConfigError(
                f"postgres: {s.source}: {reason}", hint="fix or remove that option in the URL query (libpq's options)"
            ) from exc
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
                ) from exc
        finally:
            conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement on this backend's connection and return its rows (tools and tests)."""
        return self._query(sql, params)

    def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
