"""The connection: native (clickhouse-driver) or embedded (chdb) clients behind one interface, and its errors."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import uuid
from pathlib import Path
from typing import Any, ClassVar, Protocol

from dbtools.backends.base import owner_tag
from dbtools.backends.clickhouse.sql import (
    AUTH_CODES,
    UNKNOWN_DATABASE,
    ServerError,
    identifier,
    inline_insert_as_select,
    on_cluster,
    quote,
    server_message,
)
from dbtools.errors import ConnectionFailed, DatabaseMissing, MissingDependency, missing_driver
from dbtools.settings import Settings, mask

HANDSHAKE_TIMEOUT = 3.0  # a ClickHouse server answers hello in milliseconds; HTTP ports never do
QUERY_TIMEOUT = 3600.0  # socket timeout for statements: long ALTERs send nothing while they run
# clickhouse-driver logs failed connects with a traceback through logging.lastResort: keep our stderr clean.
logging.getLogger("clickhouse_driver").addHandler(logging.NullHandler())


class _Client(Protocol):
    """The few things the backend needs from a connection."""

    version: str

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement; rows for a SELECT, [] otherwise; raises ServerError."""

    def insert(self, table: str, columns: dict[str, Any], types: dict[str, str]) -> None:
        """Insert whole columns (Native on a server, Arrow in chdb)."""

    def alone(self) -> bool:
        """True when nothing but this session can reach the data (chdb, its only session in this process)."""

    def close(self) -> None: ...


_VALUES = re.compile(r"\bVALUES\b", re.IGNORECASE)


class _NativeClient:
    """clickhouse-driver over the native TCP protocol."""

    def __init__(self, settings: Settings, database: str, *, timeout: float, ddl_timeout: int | None) -> None:
        from clickhouse_driver import Client

        server_settings: dict[str, Any] = {}
        if ddl_timeout is not None:
            server_settings["distributed_ddl_task_timeout"] = ddl_timeout
        self._client = Client(
            settings.host,
            port=settings.port,
            database=database,
            user=settings.user,
            password=settings.password,
            connect_timeout=timeout,
            send_receive_timeout=timeout,  # bounds the handshake; raised below once connected
            client_name=owner_tag()[:60],
            settings=server_settings,
        )
        self._address = f"{settings.host}:{settings.port}"
        self._settings, self._timeout = settings, timeout
        self._query_id = ""  # of the statement running now, for `cancel`
        self.version = self._client.execute("SELECT version()")[0][0]  # connects: handshake under `timeout`
        self._inline_data = int(self.version.split(".")[0]) >= 20  # older servers want INSERT rows as blocks
        connection = self._client.connection
        connection.send_receive_timeout = QUERY_TIMEOUT
        connection.socket.settimeout(QUERY_TIMEOUT)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        from clickhouse_driver import errors

        if not self._inline_data:
            if _VALUES.search(sql):  # most statements (history writes too) have no VALUES: no lexing for them
                sql = inline_insert_as_select(sql) or sql
            if re.match(r"\s*INSERT\b[^(]*?\bFORMAT\s+\w+\s*\S", sql, re.IGNORECASE | re.DOTALL):
                raise ServerError(
                    0,
                    f"server {self.version} cannot take inline FORMAT data over the native protocol; "
                    "write the rows as VALUES (...) or INSERT ... SELECT",
                )
        self._query_id = uuid.uuid4().hex
        try:
            return self._client.execute(sql, query_id=self._query_id) or []
        except errors.ServerException as exc:
            raise ServerError(exc.code, server_message(exc.message)) from exc
        except (errors.NetworkError, errors.SocketTimeoutError, EOFError, OSError) as exc:
            raise ConnectionFailed(
                f"clickhouse at {self._address}: lost the connection ({exc or type(exc).__name__})",
                hint="check the server; `status --db clickhouse` shows where the run stopped",
            ) from exc

    def cancel(self) -> None:
        """KILL QUERY the statement this client runs, from a second connection (called from another
        thread; the driver's own cancel packet would end the query as if it had succeeded)."""
        from clickhouse_driver import Client

        s = self._settings
        killer = Client(
            s.host, port=s.port, user=s.user, password=s.password, connect_timeout=self._timeout, send_receive_timeout=5
        )
        try:
            killer.execute(f"KILL QUERY WHERE query_id = {quote(self._query_id)} ASYNC")
        finally:
            killer.disconnect()

    def insert(self, table: str, columns: dict[str, list[Any]], types: dict[str, str]) -> None:
        """Columnar INSERT through the native protocol (the driver packs each column itself)."""
        from decimal import Decimal

        names = list(columns)
        data = [
            [Decimal(str(v)) for v in values] if types[name].startswith("Decimal") else values
            for name, values in ((n, columns[n]) for n in names)
        ]
        self._client.execute(f"INSERT INTO {table} ({', '.join(map(identifier, names))}) VALUES", data, columnar=True)

    def alone(self) -> bool:
        return False  # a server: any client may connect

    def close(self) -> None:
        self._client.disconnect()


def _arrow_column(values: Any, column_type: str) -> Any:
    """An Arrow array for one column of a seeding table, shaped for the ClickHouse column type."""
    import numpy as np
    import pyarrow as pa

    inner = (
        column_type.removeprefix("Nullable(").removesuffix(")") if column_type.startswith("Nullable(") else column_type
    )
    if inner.startswith("Decimal"):
        return pa.array([None if v is None else format(float(v), ".8f") for v in _plain_list(values)], pa.string())
    if inner.startswith("Map("):
        value_type = pa.float64()
        return pa.array([list(d.items()) for d in _plain_list(values)], pa.map_(pa.string(), value_type))
    if inner.startswith(("UUID", "String", "LowCardinality", "Enum")):
        if isinstance(values, np.ndarray):  # arrow converts an array of str without a Python loop of ours
            return pa.array(values, pa.string())
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    if isinstance(values, np.ndarray) and values.dtype != object:
        return pa.array(values)
    return pa.array(_plain_list(values))


def _plain_list(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


_OPEN_HERE: dict[str, int] = {}  # chdb directories this process has open -> sessions


def _busy_pid(path: str) -> str | None:
    """`pid N` (or `another process`) when another process holds the chdb directory, else None.

    The engine flocks `<dir>/status` while it runs; testing that lock first keeps chdb's own
    multi-line complaint off the terminal. Skipped when this process holds it (flock would say busy)."""
    import fcntl

    status = Path(path) / "status"
    if os.path.realpath(path) in _OPEN_HERE or not status.exists():
        return None
    with open(status, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            match = re.search(rb"PID:\s*(\d+)", handle.read())
            return f"pid {int(match[1])}" if match else "another process"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


class _EmbeddedClient:
    """chdb: the ClickHouse engine in this process, on a persistent session directory."""

    def __init__(self, path: str) -> None:
        from chdb import session

        self._key = os.path.realpath(path)
        # backups.allowed_path is read only when the engine starts; BACKUP/RESTORE to File() need it
        # (in-process SQL can write any file through file() anyway, so "/" opens nothing new)
        self._session = session.Session(f"{path}?backups.allowed_path=/")
        _OPEN_HERE[self._key] = _OPEN_HERE.get(self._key, 0) + 1
        self._session.query("SET output_format_json_quote_64bit_integers = 0")
        self.version = self.query("SELECT version()")[0][0]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            result = self._session.query(sql, "JSONCompact")
        except RuntimeError as exc:
            text = str(exc)
            code = re.search(r"Code: (\d+)", text)
            raise ServerError(int(code[1]) if code else 0, server_message(text)) from exc
        raw = result.bytes() if result is not None else b""
        return [tuple(row) for row in json.loads(raw)["data"]] if raw else []

    def insert(self, table: str, columns: dict[str, Any], types: dict[str, str]) -> None:
        """INSERT ... SELECT from an Arrow table: the engine reads the columns without Python per row."""
        import pyarrow as pa

        arrow = pa.table({name: _arrow_column(values, types[name]) for name, values in columns.items()})  # noqa: F841
        names = ", ".join(map(identifier, columns))
        self.query(f"INSERT INTO {table} ({names}) SELECT {names} FROM Python(arrow)")

    def alone(self) -> bool:
        # the engine flocks the directory against other processes (`_busy_pid`); other sessions of this
        # process are counted in _OPEN_HERE
        return _OPEN_HERE.get(self._key) == 1

    def close(self) -> None:
        self._session.close()
        _OPEN_HERE[self._key] -= 1
        if not _OPEN_HERE[self._key]:
            del _OPEN_HERE[self._key]


def _http_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when host:port speaks HTTP (ClickHouse's 8123 interface) rather than the native protocol."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


class ClickHouseConnection:
    """The client every other part of the backend runs its statements on."""

    name: ClassVar[str]
    settings: Settings
    embedded: bool
    database: str
    cluster: str | None
    lease: float
    _client: _Client | None

    def _option(self, name: str) -> str:
        return str(self.settings.options.get(name) or self.settings.query.get(name) or "")

    @property
    def _where(self) -> str:
        return (
            f"clickhouse (chdb) at {self.settings.path}" if self.embedded else f"clickhouse at {self.settings.address}"
        )

    def connect(self, *, create_database: bool = False) -> None:
        """Connect; with `create_database`, create a missing database instead of raising DatabaseMissing."""
        if self.embedded:
            self._client = self._open_embedded()
        else:
            try:
                self._client = self._open_native(self.database)
            except DatabaseMissing:
                if not create_database:
                    raise
                self._client = self._open_native("system")
                self._create_database()
                self._client.close()
                self._client = self._open_native(self.database)
            return
        exists = self._client.query(f"SELECT count() FROM system.databases WHERE name = {quote(self.database)}")
        if not exists[0][0]:
            if not create_database:
                raise self._missing_database()
            self._create_database()
        self._client.query(f"USE {identifier(self.database)}")

    def _open_native(self, database: str) -> _Client:
        # clickhouse-driver fills a 146,000-day Date lookup table when imported (0.12-0.2 s, a third of a
        # run's start-up) unless this names a range to fill: one day, the rest computed when first met
        os.environ.setdefault("CLICKHOUSE_DRIVER_LASY_DATE_LUT", "1970-01-01:1970-01-01")
        try:
            import clickhouse_driver  # noqa: F401
        except ImportError:  # pragma: no cover - requirements install it
            raise missing_driver("clickhouse", "the clickhouse-driver package") from None
        from clickhouse_driver import errors

        timeout = float(self._option("connect_timeout") or HANDSHAKE_TIMEOUT)
        ddl_timeout = int(self._option("ddl_timeout") or 0) or None
        try:
            return _NativeClient(self.settings, database, timeout=timeout, ddl_timeout=ddl_timeout)
        except errors.ServerException as exc:
            raise self._server_refused(exc.code, server_message(exc.message)) from exc
        except (errors.SocketTimeoutError, errors.NetworkError, errors.UnexpectedPacketFromServerError, OSError) as exc:
            raise self._unreachable(str(exc), timeout) from exc
        except EOFError:
            raise self._unreachable("the server closed the connection", timeout) from None

    def _server_refused(self, code: int, message: str) -> ConnectionFailed:
        s = self.settings
        if code == UNKNOWN_DATABASE:
            return self._missing_database()
        if code in AUTH_CODES or "password" in message.lower():
            return ConnectionFailed(
                f"{self._where}: authentication failed for user {s.user!r} (wrong password or unknown user)",
                hint="check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD (or the user and password in CLICKHOUSE_URL)",
            )
        return ConnectionFailed(f"{self._where}: {mask(message, s)}", hint=self._settings_hint())

    def _unreachable(self, text: str, timeout: float) -> ConnectionFailed:
        s = self.settings
        if _http_answers(s.host, s.port):
            return ConnectionFailed(
                f"{self._where}: port {s.port} is ClickHouse's HTTP interface, not the native protocol",
                hint="set CLICKHOUSE_NATIVE_PORT (or the port in CLICKHOUSE_URL) to the native TCP port "
                "(tcp_port in the server config: 9000 by default, 9002 in this project's setup), not 8123",
            )
        text = mask(text, s)
        if "timed out" in text or "timeout" in text.lower():
            reason = f"no answer within {timeout:g} s"
        elif "refused" in text.lower():
            reason = "connection refused"
        elif "Name or service not known" in text or "resolve" in text.lower():
            return ConnectionFailed(f"{self._where}: unknown host {s.host!r}", hint=self._settings_hint())
        else:
            reason = text.strip().splitlines()[0] if text.strip() else "connection failed"
        return ConnectionFailed(
            f"{self._where}: {reason}; is clickhouse-server running there?",
            hint=f"start it, or {self._settings_hint()} (CLICKHOUSE_CONNECT_TIMEOUT raises the {timeout:g} s limit)",
        )

    def _settings_hint(self) -> str:
        if self.settings.source not in ("defaults", "sandbox"):
            return f"check {self.settings.source}"
        return "set CLICKHOUSE_URL or CLICKHOUSE_HOST/NATIVE_PORT/USER/PASSWORD"

    def _missing_database(self) -> DatabaseMissing:
        return DatabaseMissing(
            f"{self._where}: database {self.database!r} does not exist",
            hint="create it by adding --create-db, or point CLICKHOUSE_DB / CLICKHOUSE_URL at an existing one",
        )

    def _open_embedded(self) -> _Client:
        try:
            import chdb  # noqa: F401
        except ImportError:
            raise MissingDependency(
                "clickhouse: CLICKHOUSE_URL asks for chdb, which is not installed", hint="pip install chdb"
            ) from None
        path = self.settings.path
        Path(path).mkdir(parents=True, exist_ok=True)
        holder = _busy_pid(path)
        if holder:
            raise self._busy(holder)
        try:
            return _EmbeddedClient(path)
        except RuntimeError as exc:
            text = str(exc)
            if "already initialized with path" in text:
                other = re.search(r"path '([^']*)'", text)
                raise ConnectionFailed(
                    f"{self._where}: this process already has another chdb directory open "
                    f"({other[1] if other else 'unknown'}); chdb opens one directory per process",
                    hint="use the same directory, or run the other one in a separate process",
                ) from exc
            if "Error initializing EmbeddedServer" in text or "Cannot lock file" in text:
                raise self._busy(_busy_pid(path) or "another process") from exc
            raise ConnectionFailed(f"{self._where}: {server_message(text)}") from exc

    def _busy(self, holder: str) -> ConnectionFailed:
        return ConnectionFailed(
            f"{self._where}: the chdb directory is in use by {holder}; chdb opens a directory in one process at a time",
            hint="wait for that process to finish (or stop it), or use another directory",
        )

    def _create_database(self) -> None:
        sql = f"CREATE DATABASE IF NOT EXISTS {identifier(self.database)}"
        try:
            self._ddl(on_cluster(sql, self.cluster))
        except ServerError as exc:
            raise ConnectionFailed(
                f"{self._where}: could not create database {self.database!r}: {exc.message}",
                hint="create it by hand, or connect as a user allowed to CREATE DATABASE",
            ) from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement on this backend's connection and return its rows (tools and tests)."""
        return self._query(sql)

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        assert self._client is not None, "connect() first"
        return self._client.query(sql)

    def _ddl(self, sql: str) -> None:
        """A statement whose result (ON CLUSTER returns a row per host) we do not need."""
        self._query(sql)
