"""ClickHouse: statement-level progress, an append-only history, a CREATE TABLE lock, cluster mode.

Two ways in behind one small client interface (`_Client`): the native protocol through
clickhouse-driver (`clickhouse://user:pass@host:9002/db` or the CLICKHOUSE_* variables), and the
embedded engine chdb (`chdb:///path/to/dir`), the current ClickHouse in-process. Drivers are
imported inside the methods that need them (chdb costs 1.3 s).

No transactions, so progress is recorded after every statement: when statement k of a migration
fails, history says `failed` with `statements_done = k - 1` and the server's message, and
`migrate --resume` continues at k (the runner checks the statements before k are unchanged).

History: table `migration_history`, a ReplacingMergeTree (ReplicatedReplacingMergeTree in
cluster mode) that is only ever appended to. Every write is a new row with a larger `revision`;
`forget` appends a tombstone (`deleted = 1`). Reads use `FINAL` and drop tombstones in Python,
so they are exact whether or not the background merges ran, and no mutation is ever needed.

The lock, and why it is safe
----------------------------
ClickHouse has no advisory locks, but `CREATE TABLE` of one name is atomic: the server takes a
per-name guard, so of two concurrent creates exactly one succeeds and the other gets "already
exists". The lock is the table `dbtools_migration_lock`; its holder (owner, host, pid, a random
token, acquire and renew times, lease) is written into the column DEFAULTs of that very CREATE,
so the identity of the holder is stored atomically with the lock itself and survives restarts.
A runner takes the lock by creating the table, polls until its timeout while it exists, and
releases it by dropping it, after checking the token is still its own.

Guaranteed: two runners against the same database never hold the lock at once, unless someone
runs `unlock --force` while the holder is alive (that is what --force means). The holder renews
its lease (an ALTER of a DEFAULT) between statements; a lock not renewed for longer than the
lease (CLICKHOUSE_LOCK_LEASE, default 600 s) is reported as stale, with the holder and the
`unlock --force` command, but never taken over automatically: a check-then-drop takeover can
race with a second taker, and only a human knows the holder is really gone. With chdb the
directory is opened by one process at a time, so a lock left by another pid can only belong to
a dead process and is cleared on the spot.

Cluster mode (CLICKHOUSE_CLUSTER=name): DDL gets `ON CLUSTER name` (or `{cluster}` in a
migration is filled in), the history table is ReplicatedReplacingMergeTree at
`/clickhouse/tables/{shard}/<db>/migration_history` (the servers need `{shard}` and `{replica}`
macros), the lock table is created `ON CLUSTER`, and every such statement returns only when every
host ran it (or fails naming the host; `distributed_ddl_task_timeout` bounds the wait). The
cluster lock is safe for the same reason plus one: all hosts execute the distributed DDL queue
in the same order, so the first queued create wins on every host and the second fails on every
host. Before reading history a runner runs `SYSTEM SYNC REPLICA` on it, so rows written through
another replica are seen.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from dbtools.backends import clickhouse_dialect as dialect
from dbtools.backends.base import HISTORY_NAME, ForeignTable, history_row, owner_tag, statement_failed
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
from dbtools.values import LEASE, Number

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.sandbox import DockerRecipe, ServerSpec
    from dbtools.seed.table import Table

LOCK_NAME = "dbtools_migration_lock"
DEFAULT_LEASE = 600.0  # seconds without renewal after which a lock is reported stale
HANDSHAKE_TIMEOUT = 3.0  # a ClickHouse server answers hello in milliseconds; HTTP ports never do
QUERY_TIMEOUT = 3600.0  # socket timeout for statements: long ALTERs send nothing while they run

# Server error codes we act on (ClickHouse's ErrorCodes.cpp).
UNKNOWN_TABLE, UNKNOWN_DATABASE, TABLE_EXISTS = 60, 81, 57
AUTH_CODES = (192, 193, 516)  # UNKNOWN_USER, WRONG_PASSWORD, AUTHENTICATION_FAILED
QUERY_WAS_CANCELLED = 394

_COLUMNS = (
    "version, name, checksum, status, statements_done, statements_total, progress_checksum, "
    "error, applied_at, execution_ms, applied_by, tool_version, adopted_from"
)
# tables written before `adopt` existed lack the last column until the next locked run adds it
_OLD_COLUMNS = _COLUMNS.removesuffix(", adopted_from")
UNKNOWN_IDENTIFIER = 47
_HISTORY_COLUMNS = """(
    version            Int64,
    name               String,
    checksum           String,
    status             String,
    statements_done    UInt32,
    statements_total   Nullable(UInt32),
    progress_checksum  String,
    error              Nullable(String),
    applied_at         DateTime,
    execution_ms       UInt64,
    applied_by         String,
    tool_version       String,
    adopted_from       String DEFAULT '',
    revision           UInt64,
    deleted            UInt8
)"""

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

# clickhouse-driver logs failed connects with a traceback through logging.lastResort: keep our stderr clean.
logging.getLogger("clickhouse_driver").addHandler(logging.NullHandler())


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


# -- clients -----------------------------------------------------------------------------------


class _Client(Protocol):
    """The few things the backend needs from a connection."""

    version: str

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement; rows for a SELECT, [] otherwise; raises ServerError."""

    def close(self) -> None: ...


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
            raise ServerError(exc.code, server_message(exc.message)) from None
        except (errors.NetworkError, errors.SocketTimeoutError, EOFError, OSError) as exc:
            raise ConnectionFailed(
                f"clickhouse at {self._address}: lost the connection ({exc or type(exc).__name__})",
                hint="check the server; `status --db clickhouse` shows where the run stopped",
            ) from None

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

    def close(self) -> None:
        self._client.disconnect()


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
            raise ServerError(int(code[1]) if code else 0, server_message(text)) from None
        raw = result.bytes() if result is not None else b""
        return [tuple(row) for row in json.loads(raw)["data"]] if raw else []

    def insert(self, table: str, columns: dict[str, Any], types: dict[str, str]) -> None:
        """INSERT ... SELECT from an Arrow table: the engine reads the columns without Python per row."""
        import pyarrow as pa

        arrow = pa.table({name: _arrow_column(values, types[name]) for name, values in columns.items()})  # noqa: F841
        names = ", ".join(map(identifier, columns))
        self.query(f"INSERT INTO {table} ({names}) SELECT {names} FROM Python(arrow)")

    def close(self) -> None:
        self._session.close()
        _OPEN_HERE[self._key] -= 1
        if not _OPEN_HERE[self._key]:
            del _OPEN_HERE[self._key]


# -- sandbox recipes ---------------------------------------------------------------------------

_SERVER_CONFIG = """<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/server.err</errorlog></logger>
  <tcp_port>{port}</tcp_port><http_port>{http_port}</http_port><listen_host>127.0.0.1</listen_host>
  <path>{dir}/data/</path><tmp_path>{dir}/tmp/</tmp_path><user_files_path>{dir}/uf/</user_files_path>
  <format_schema_path>{dir}/fs/</format_schema_path>
  <users_config>users.xml</users_config><default_profile>default</default_profile>
  <default_database>default</default_database><mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>200</max_concurrent_queries>{cluster}
</yandex>
"""
_USERS = """<yandex><profiles><default/></profiles>
 <users><default><password>{password}</password><networks><ip>::/0</ip></networks>
  <profile>default</profile><quota>default</quota></default></users>
 <quotas><default/></quotas></yandex>
"""
_CLUSTER_CONFIG = """
  <interserver_http_port>{interserver}</interserver_http_port><interserver_http_host>127.0.0.1</interserver_http_host>
  <zookeeper><node><host>127.0.0.1</host><port>{zookeeper}</port></node></zookeeper>
  <macros><cluster>{cluster}</cluster><shard>01</shard><replica>{replica}</replica></macros>
  <remote_servers><{cluster}><shard><internal_replication>true</internal_replication>{replicas}
  </shard></{cluster}></remote_servers>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>"""


def _server_binary() -> str:
    found = shutil.which("clickhouse-server") or next(
        (p for p in ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse") if os.path.exists(p)), None
    )
    if found is None:
        raise MissingDependency(
            "clickhouse: no clickhouse-server binary on this machine",
            hint="apt-get install clickhouse-server (or use CLICKHOUSE_URL=chdb:///dir for the embedded engine)",
        )
    return found


def local_recipe(
    workdir: Path,
    port: int,
    *,
    password: str = "",
    http_port: int | None = None,
    cluster: str | None = None,
    replica: str = "r1",
    replica_ports: Sequence[int] = (),
    zookeeper_port: int | None = None,
    interserver_port: int | None = None,
) -> ServerSpec:
    """A throwaway clickhouse-server (Debian's 18.16 works) in `workdir` on 127.0.0.1:`port`.

    With `cluster`, `zookeeper_port` and `replica_ports` it is one replica of a one-shard cluster."""
    from dbtools.sandbox import ServerSpec, free_port

    cluster_xml = ""
    if cluster:
        replicas = "".join(
            f"\n    <replica><host>127.0.0.1</host><port>{p}</port></replica>" for p in replica_ports or (port,)
        )
        cluster_xml = _CLUSTER_CONFIG.format(
            interserver=interserver_port or free_port(),
            zookeeper=zookeeper_port,
            cluster=cluster,
            replica=replica,
            replicas=replicas,
        )
    config = _SERVER_CONFIG.format(dir=workdir, port=port, http_port=http_port or free_port(), cluster=cluster_xml)
    settings = Settings("clickhouse", "clickhouse", "127.0.0.1", port, "default", "default", password, source="sandbox")
    return ServerSpec(
        argv=[_server_binary(), f"--config-file={workdir / 'config.xml'}"],
        settings=settings,
        files={"config.xml": config, "users.xml": _USERS.format(password=_xml_escape(password))},
    )


def docker_recipe() -> DockerRecipe:
    """The official image (testcontainers path): a current server on its native port, user default."""
    from dbtools.sandbox import DockerRecipe

    return DockerRecipe(
        image="clickhouse/clickhouse-server:25.8",
        port=9000,
        env={"CLICKHOUSE_SKIP_USER_SETUP": "1"},
        settings=lambda host, port: Settings(
            "clickhouse", "clickhouse", host, port, "dbtools_sandbox", "default", "", source="sandbox"
        ),
    )


def embedded_recipe(workdir: Path, **_options: Any) -> Settings:
    """Settings for chdb on a session directory inside `workdir` (see dbtools.sandbox.embedded)."""
    try:
        import chdb  # noqa: F401  - only to say plainly that it is missing
    except ImportError:
        raise MissingDependency("clickhouse: the chdb package is not installed", hint="pip install chdb") from None
    path = workdir / "chdb"
    return Settings("clickhouse", "chdb", "", 0, "default", "", "", path=str(path), source="sandbox")


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _http_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when host:port speaks HTTP (ClickHouse's 8123 interface) rather than the native protocol."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


# -- the backend -------------------------------------------------------------------------------


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


class ClickHouseBackend:
    """ClickHouse over the native protocol or embedded chdb; see the module docstring for the guarantees."""

    name: ClassVar[str] = "clickhouse"
    # the embedded engine is current ClickHouse; a local server binary may be an old release (Debian's
    # 18.16 refuses DateTime64, codecs, TTL), so throwaway servers for users prefer chdb
    sandbox_order: ClassVar[tuple[str, ...]] = ("docker", "embedded", "local")
    defaults: ClassVar[StoreDefaults] = StoreDefaults(
        url_env="CLICKHOUSE_URL",
        schemes=("clickhouse", "chdb"),
        host=("CLICKHOUSE_HOST", "localhost"),
        port=("CLICKHOUSE_NATIVE_PORT", 9002),
        database=("CLICKHOUSE_DB", "default"),
        user=("CLICKHOUSE_USER", "default"),
        password=("CLICKHOUSE_PASSWORD", ""),
        options={
            "cluster": "CLICKHOUSE_CLUSTER",
            "lock_lease": "CLICKHOUSE_LOCK_LEASE",
            "connect_timeout": "CLICKHOUSE_CONNECT_TIMEOUT",
            "ddl_timeout": "CLICKHOUSE_DDL_TIMEOUT",
        },
        kinds={
            "lock_lease": LEASE,
            "connect_timeout": Number(0.1, 3600, unit="seconds"),
            "ddl_timeout": Number(1, 86400, whole=True, unit="seconds"),
        },
    )
    extensions: ClassVar[tuple[str, ...]] = ("sql",)
    packages: ClassVar[tuple[str, ...]] = ("clickhouse-driver", "chdb", "pyarrow")
    max_version: ClassVar[int] = INT64_MAX  # migration_history.version is Int64
    transactional_ddl: ClassVar[bool] = False
    new_template: ClassVar[str] = (
        "-- Migration: {description}\n"
        "-- migrate:up\n"
        "-- ClickHouse DDL has no transactions: a run that stops half-way is resumed, so write every\n"
        "-- statement so that it succeeds when run again (IF NOT EXISTS / IF EXISTS). Example:\n"
        "--   ALTER TABLE trades ADD COLUMN IF NOT EXISTS fee Decimal(18, 8) DEFAULT 0;\n"
        "\n\n"
        "-- migrate:down\n"
        "-- Example:\n"
        "--   ALTER TABLE trades DROP COLUMN IF EXISTS fee;\n"
        "\n"
    )

    local_recipe = staticmethod(local_recipe)
    embedded_recipe = staticmethod(embedded_recipe)
    docker_recipe = staticmethod(docker_recipe)
    sandbox_install_hint: ClassVar[str] = "apt-get install clickhouse-server, or pip install chdb"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded = bool(settings.path)
        self.database = settings.database or settings.query.get("database") or "default"
        self.cluster: str | None = self._option("cluster") or None
        self.lease = float(self._option("lock_lease") or DEFAULT_LEASE)
        self._client: _Client | None = None
        self._revision = 0
        self._lock_token: str | None = None
        self._renewed = 0.0
        if self.cluster and self.embedded:
            raise ConfigError(
                "clickhouse: CLICKHOUSE_CLUSTER does not apply to chdb (one embedded engine, no cluster)",
                hint="unset CLICKHOUSE_CLUSTER, or point CLICKHOUSE_URL at a server of the cluster",
            )

    def _option(self, name: str) -> str:
        return str(self.settings.options.get(name) or self.settings.query.get(name) or "")

    @property
    def _where(self) -> str:
        return (
            f"clickhouse (chdb) at {self.settings.path}" if self.embedded else f"clickhouse at {self.settings.address}"
        )

    # -- connection -------------------------------------------------------------------------

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
        try:
            import clickhouse_driver  # noqa: F401
        except ImportError:  # pragma: no cover - requirements install it
            raise MissingDependency(
                "clickhouse: the clickhouse-driver package is not installed", hint="pip install -r requirements.txt"
            ) from None
        from clickhouse_driver import errors

        timeout = float(self._option("connect_timeout") or HANDSHAKE_TIMEOUT)
        ddl_timeout = int(self._option("ddl_timeout") or 0) or None
        try:
            return _NativeClient(self.settings, database, timeout=timeout, ddl_timeout=ddl_timeout)
        except errors.ServerException as exc:
            raise self._server_refused(exc.code, server_message(exc.message)) from None
        except (errors.SocketTimeoutError, errors.NetworkError, errors.UnexpectedPacketFromServerError, OSError) as exc:
            raise self._unreachable(str(exc), timeout) from None
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
                ) from None
            if "Error initializing EmbeddedServer" in text or "Cannot lock file" in text:
                raise self._busy(_busy_pid(path) or "another process") from None
            raise ConnectionFailed(f"{self._where}: {server_message(text)}") from None

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
            ) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        assert self._client is not None, "connect() first"
        return self._client.query(sql)

    def _ddl(self, sql: str) -> None:
        """A statement whose result (ON CLUSTER returns a row per host) we do not need."""
        self._query(sql)

    def _run(self, sql: str) -> None:
        """A migration's statement: Ctrl-C kills it on the server (chdb cannot: it ends, the run stops)."""
        from dbtools import interrupt

        try:
            with interrupt.cancellable(getattr(self._client, "cancel", None)):
                self._ddl(sql)
        except interrupt.Stopped as exc:
            raise ServerError(QUERY_WAS_CANCELLED, str(exc)) from None

    @property
    def _history(self) -> str:
        return f"{identifier(self.database)}.{HISTORY_NAME}"

    @property
    def _lock(self) -> str:
        return f"{identifier(self.database)}.{LOCK_NAME}"

    # -- files --------------------------------------------------------------------------------

    @classmethod
    def split(cls, migration: Migration, *, down: bool = False) -> Sequence[Statement]:
        """Statements of the up (or down) section with their file lines (see clickhouse_dialect); goose's
        StatementBegin/End bodies are one statement each."""
        text, first_line, path = migration.section(down=down)
        blocks = migration.blocks if path == migration.path else ()
        return split_blocks(text, first_line, path.name, blocks, dialect.split)

    # -- history ------------------------------------------------------------------------------

    def history(self) -> list[AppliedMigration]:
        """The newest row per version (FINAL), tombstones dropped; [] before the table exists."""
        if self.cluster:
            with suppress(ServerError):  # rows written through other replicas must be here first
                self._ddl(f"SYSTEM SYNC REPLICA {self._history}")
        try:
            rows = self._history_rows(_COLUMNS)
        except ServerError as exc:
            if exc.code == UNKNOWN_TABLE:
                return []
            if exc.code != UNKNOWN_IDENTIFIER:
                raise
            rows = self._history_rows(_OLD_COLUMNS)  # written by an older dbtools: read what it has
        result = []
        for row in rows:
            *fields, revision, deleted = row
            self._revision = max(self._revision, int(revision))
            if int(deleted):
                continue
            fields[8] = datetime.fromtimestamp(int(fields[8]), UTC)
            result.append(AppliedMigration(*fields))
        return result

    def _history_rows(self, columns: str) -> list[tuple[Any, ...]]:
        return self._query(
            f"SELECT {columns.replace('applied_at', 'toUnixTimestamp(applied_at)')}, revision, deleted "
            f"FROM {self._history} FINAL ORDER BY version"
        )

    def ensure_history(self) -> None:
        if self.cluster:
            path = f"/clickhouse/tables/{{shard}}/{self.database}/{HISTORY_NAME}"
            engine = f"ReplicatedReplacingMergeTree({quote(path)}, '{{replica}}', revision)"
        else:
            engine = "ReplacingMergeTree(revision)"
        sql = f"CREATE TABLE IF NOT EXISTS {self._history} {_HISTORY_COLUMNS} ENGINE = {engine} ORDER BY version"
        self._ddl(on_cluster(sql, self.cluster))
        has_column = self._query(
            f"SELECT count() FROM system.columns WHERE database = {quote(self.database)} "
            f"AND table = {quote(HISTORY_NAME)} AND name = 'adopted_from'"
        )
        if not int(has_column[0][0]):  # a table an older dbtools made (18.16 has no ADD COLUMN IF NOT EXISTS)
            alter = f"ALTER TABLE {self._history} ADD COLUMN adopted_from String DEFAULT '' AFTER tool_version"
            self._ddl(on_cluster(alter, self.cluster))

    def record(self, row: AppliedMigration) -> None:
        self._insert(row, deleted=False)

    def record_many(self, rows: Sequence[AppliedMigration]) -> None:
        """All rows in one INSERT: one block, which ClickHouse writes whole or not at all."""
        if rows:
            values = ", ".join(f"({self._literals(row, deleted=False)})" for row in rows)
            self._query(f"INSERT INTO {self._history} ({_COLUMNS}, revision, deleted) VALUES {values}")
            self._renew()

    def forget(self, version: int) -> None:
        self._insert(AppliedMigration(version=version, name="", checksum="", status="forgotten"), deleted=True)

    def _insert(self, row: AppliedMigration, *, deleted: bool) -> None:
        literals = self._literals(row, deleted=deleted)
        self._query(f"INSERT INTO {self._history} ({_COLUMNS}, revision, deleted) VALUES ({literals})")
        self._renew()

    def _literals(self, row: AppliedMigration, *, deleted: bool) -> str:
        applied_at = int((row.applied_at or datetime.now(UTC)).timestamp())
        values = (
            row.version,
            row.name,
            row.checksum,
            row.status,
            row.statements_done,
            row.statements_total,
            row.progress_checksum,
            row.error,
            f"toDateTime({applied_at})",
            row.execution_ms,
            row.applied_by,
            row.tool_version,
            row.adopted_from,
            self._next_revision(),
            int(deleted),
        )
        return ", ".join(v if isinstance(v, str) and v.startswith("toDateTime(") else quote(v) for v in values)

    def read_table(self, name: str) -> ForeignTable | None:
        """Another tool's history table in this database, None if absent. Replacing engines are read
        with FINAL (as dbmate reads its own); DateTime values come back as UTC datetimes."""
        try:
            found = self._query(
                f"SELECT engine FROM system.tables WHERE database = {quote(self.database)} AND name = {quote(name)}"
            )
            if not found:
                return None
            engine = str(found[0][0])
            columns = self._query(
                f"SELECT name, type FROM system.columns WHERE database = {quote(self.database)} "
                f"AND table = {quote(name)}"  # in definition order (18.16's system.columns has no `position`)
            )
            types = {str(n): str(t) for n, t in columns}
            selected = ", ".join(
                f"toUnixTimestamp({identifier(n)})" if "DateTime" in t else identifier(n) for n, t in types.items()
            )
            final = " FINAL" if re.search(r"(Replacing|Collapsing)MergeTree", engine) else ""
            found = self._query(f"SELECT {selected} FROM {identifier(self.database)}.{identifier(name)}{final}")
        except ServerError as exc:  # a table the server cannot read (a view over a dropped table, no grant)
            raise DbtoolsError(
                f"{self._where}: could not read {name}: {exc.message}",
                hint=f"check that {name} is the other tool's history table and that this user may read it "
                "(--table NAME reads another)",
            ) from None
        rows = []
        for values in found:
            row = {}
            for (column, kind), value in zip(types.items(), values, strict=True):
                if "DateTime" in kind and value is not None:
                    value = datetime.fromtimestamp(int(value), UTC)
                row[column] = value
            rows.append(row)
        return ForeignTable(name, types, rows, engine)

    def _next_revision(self) -> int:
        """Larger than every revision seen: the newest row of a version wins even if clocks step back."""
        self._revision = max(time.time_ns(), self._revision + 1)
        return self._revision

    # -- lock ---------------------------------------------------------------------------------

    @contextmanager
    def lock(self, timeout: float, on_wait: Waiting | None = None) -> Iterator[None]:
        """Create the lock table (atomic); wait while another run holds it; drop it on exit."""
        token = uuid.uuid4().hex
        take_or_wait(
            self.name,
            repr(self.database),
            lambda: self._try_lock(token),
            self.lock_holder,
            timeout,
            on_wait=on_wait,
            breaking="if its holder is gone (a stale lock says so), break it with `unlock --force --db clickhouse`",
        )
        self._lock_token, self._renewed = token, time.monotonic()
        try:
            yield
        finally:
            self._lock_token = None
            if self._client is not None:
                with suppress(ServerError):
                    self._release(token)

    def _try_lock(self, token: str) -> bool:
        now = int(time.time())
        columns = {
            "owner": quote(owner_tag()),
            "host": quote(socket.gethostname()),
            "pid": str(os.getpid()),
            "token": quote(token),
            "acquired_at": str(now),
            "renewed_at": str(now),
            "lease": str(int(self.lease)),
        }
        types = {"pid": "UInt32", "acquired_at": "UInt64", "renewed_at": "UInt64", "lease": "UInt32"}
        body = ", ".join(f"{name} {types.get(name, 'String')} DEFAULT {value}" for name, value in columns.items())
        sql = f"CREATE TABLE {self._lock} ({body}) ENGINE = MergeTree ORDER BY tuple()"
        if self._holder() is None:  # look first: every ON CLUSTER attempt is a queued distributed DDL
            try:
                self._ddl(on_cluster(sql, self.cluster))
                return True
            except ServerError as exc:
                if exc.code != TABLE_EXISTS and "already exists" not in exc.message:
                    raise
        if self.embedded:  # one process per chdb directory: a lock from another pid is a dead run's
            holder = self._holder()
            if holder and int(holder["pid"]) != os.getpid():
                self._ddl(f"DROP TABLE IF EXISTS {self._lock}")
        return False

    def _renew(self) -> None:
        """Push the lease forward (at most every lease/3), so a long run is not reported stale."""
        if self._lock_token is None or time.monotonic() - self._renewed < self.lease / 3:
            return
        self._renewed = time.monotonic()
        sql = f"ALTER TABLE {self._lock} MODIFY COLUMN renewed_at UInt64 DEFAULT {int(time.time())}"
        with suppress(ServerError):
            self._ddl(on_cluster(sql, self.cluster))

    def _release(self, token: str) -> None:
        holder = self._holder()
        if holder is not None and holder.get("token") == token:  # unlock --force may have freed it for another run
            self._ddl(on_cluster(f"DROP TABLE IF EXISTS {self._lock}", self.cluster))

    def _holder(self) -> dict[str, str] | None:
        """The lock table's DEFAULTs (owner, host, pid, token, times), None when there is no lock."""
        rows = self._query(
            "SELECT name, default_expression FROM system.columns "
            f"WHERE database = {quote(self.database)} AND table = {quote(LOCK_NAME)}"
        )
        return {name: _literal(expr) for name, expr in rows} if rows else None

    def lock_holder(self) -> str | None:
        holder = self._holder()
        if holder is None:
            return None
        now = time.time()
        acquired = datetime.fromtimestamp(int(holder.get("acquired_at", "0")), UTC)
        idle = now - int(holder.get("renewed_at", "0"))
        lease = int(holder.get("lease", str(int(DEFAULT_LEASE))))
        text = (
            f"{holder.get('owner', 'unknown')} (host {holder.get('host', '?')}), since {acquired:%Y-%m-%d %H:%M:%S} UTC"
        )
        if idle > lease:
            text += f", stale: not renewed for {idle:.0f} s (lease {lease} s)"
        return text

    def break_lock(self) -> str | None:
        """Drop the lock table whoever holds it (`unlock --force`)."""
        holder = self.lock_holder()
        if holder is None:
            return None
        self._ddl(on_cluster(f"DROP TABLE IF EXISTS {self._lock}", self.cluster))
        return f"removed the lock held by {holder}"

    # -- schema -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Tables and views of the database with their normalised CREATE statements and columns."""
        db = quote(self.database)
        hidden = f"name NOT IN ({quote(HISTORY_NAME)}, {quote(LOCK_NAME)}) AND name NOT LIKE '.inner%'"
        tables = self._query(
            "SELECT name, engine, create_table_query FROM system.tables "
            f"WHERE database = {db} AND {hidden} ORDER BY name"
        )
        columns = self._query(
            "SELECT table, name, type, default_kind, default_expression FROM system.columns "
            f"WHERE database = {db} AND table NOT IN ({quote(HISTORY_NAME)}, {quote(LOCK_NAME)}) "
            "AND table NOT LIKE '.inner%' ORDER BY table, name"
        )
        return {
            "tables": [[name, engine, self._normalise(query)] for name, engine, query in tables],
            "columns": [list(row) for row in columns],
        }

    def _normalise(self, create: str) -> str:
        """A CREATE statement without this database's name or UUIDs, so two databases compare equal."""
        for prefix in (f"{identifier(self.database)}.", f"{self.database}."):
            create = create.replace(prefix, "")
        return re.sub(r"\s+UUID '[0-9a-f-]{36}'", "", " ".join(create.split()))

    # -- apply / revert -----------------------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        """Tables and views for docs/schema.md: purpose (table COMMENT), engine, keys, TTL and columns."""
        db = quote(self.database)
        hidden = f"name NOT IN ({quote(HISTORY_NAME)}, {quote(LOCK_NAME)}) AND name NOT LIKE '.inner%'"
        described = []
        for name, engine, comment, sorting, partition, create in self._query(
            "SELECT name, engine, comment, sorting_key, partition_key, create_table_query FROM system.tables "
            f"WHERE database = {db} AND {hidden} ORDER BY name"
        ):
            ttl = re.search(r"\bTTL\s+(.+?)(?:\s+SETTINGS\b|\s+COMMENT\b|$)", create)
            engine_full = re.search(r"\bENGINE = (\w+(?:\([^)]*\))?)", create)
            keys = [f"engine {engine_full[1] if engine_full else engine}"]
            keys += [f"ORDER BY ({sorting})"] if sorting else []
            keys += [f"PARTITION BY {partition}"] if partition else []
            keys += [f"TTL {ttl[1].strip()}"] if ttl and "View" not in engine else []
            target = re.search(r"\bTO\s+(?:`?\w+`?\.)?`?(\w+)`?", create) if engine == "MaterializedView" else None
            keys += [f"writes to {target[1]}"] if target else []
            fields = [
                [column, ctype, "sorting key" if in_key else ""]
                for column, ctype, in_key in self._query(
                    "SELECT name, type, is_in_sorting_key FROM system.columns "
                    f"WHERE database = {db} AND table = {quote(name)} ORDER BY position"
                )
            ]
            kind = {"View": "view", "MaterializedView": "materialized view"}.get(engine, "table")
            described.append(
                {
                    "name": name,
                    "kind": kind,
                    "purpose": comment,
                    "keys": "; ".join(keys),
                    "fields": fields if kind != "materialized view" else [],
                    "references": [],
                }
            )
        return described

    # -- seeding ------------------------------------------------------------------------------

    def count(self, target: str) -> int:
        """Rows in a table (0 when it does not exist)."""
        exists = self._query(
            f"SELECT count() FROM system.tables WHERE database = {quote(self.database)} AND name = {quote(target)}"
        )
        return int(self._query(f"SELECT count() FROM {self._table(target)}")[0][0]) if exists[0][0] else 0

    def wipe(self, targets: Sequence[str]) -> None:
        """Empty the tables and the tables their materialized views write to (else aggregates double)."""
        fed = set()
        for target in targets:
            rows = self._query(
                "SELECT dependencies_table FROM system.tables "
                f"WHERE database = {quote(self.database)} AND name = {quote(target)}"
            )
            for view in rows[0][0] if rows else []:
                create = self._query(
                    "SELECT create_table_query FROM system.tables "
                    f"WHERE database = {quote(self.database)} AND name = {quote(view)}"
                )
                found = re.search(r"\bTO\s+(?:[`\w]+\.)?`?(\w+)`?", create[0][0]) if create else None
                if found:
                    fed.add(found[1])
        for target in [*targets, *sorted(fed - set(targets))]:
            self._ddl(f"TRUNCATE TABLE IF EXISTS {self._table(target)}")

    def load(self, table: Table) -> int:
        """Insert a seeding table column by column (Arrow into chdb, columnar native blocks into a server)."""
        types = dict(
            self._query(
                "SELECT name, type FROM system.columns "
                f"WHERE database = {quote(self.database)} AND table = {quote(table.target)}"
            )
        )
        missing = [name for name in table.columns if name not in types]
        if missing:
            raise DbtoolsError(
                f"clickhouse: {table.target} has no column(s) {', '.join(missing)}",
                hint="is the schema current? run `migrate --db clickhouse`",
            )
        assert self._client is not None, "connect() first"
        try:
            self._client.insert(self._table(table.target), dict(table.columns), types)
        except ServerError as exc:
            raise DbtoolsError(
                f"clickhouse: loading {table.target} failed: {exc}", hint="see the server message"
            ) from None
        return len(table)

    def _table(self, name: str) -> str:
        return f"{identifier(self.database)}.{identifier(name)}"

    def apply(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> AppliedMigration:
        """One statement at a time, progress recorded after each (no transactions in ClickHouse)."""
        started = time.monotonic()
        self.record(
            history_row(migration, status="running", started=started, statements_done=start_at, statements=statements)
        )
        for index in range(start_at, len(statements)):
            try:
                self._run(on_cluster(statements[index].sql, self.cluster))
            except ServerError as exc:
                failure = statement_failed(self.name, migration, statements, index, exc.message, kept=True)
                self.record(
                    history_row(
                        migration,
                        status="failed",
                        started=started,
                        statements_done=index,
                        statements=statements,
                        error=failure.message,
                    )
                )
                raise failure from None
            if index + 1 < len(statements):
                self.record(
                    history_row(
                        migration, status="running", started=started, statements_done=index + 1, statements=statements
                    )
                )
        row = history_row(
            migration, status="applied", started=started, statements_done=len(statements), statements=statements
        )
        self.record(row)
        return row

    def revert(self, migration: Migration, statements: Sequence[Statement]) -> None:
        """Run the down statements one by one, then forget the version; history stays applied on failure."""
        for index, statement in enumerate(statements):
            try:
                self._run(on_cluster(statement.sql, self.cluster))
            except ServerError as exc:
                raise statement_failed(
                    self.name, migration, statements, index, exc.message, kept=True, down=True
                ) from None
            self._renew()
        try:
            self.forget(migration.version)
        except ServerError as exc:
            raise MigrationFailed(
                f"clickhouse: migration {migration.label} was rolled back but its history row could not be "
                f"removed: {exc.message}",
                hint="check migration_history, then run `repair --db clickhouse`",
            ) from None

    # -- backup / restore / rehearse (capabilities used by dbtools.backup) ----------------------

    def _user_tables(self) -> list[tuple[str, str]]:
        """(name, engine) of this database's tables (history included, lock and inner tables not)."""
        return [
            (name, engine)
            for name, engine in self._query(
                f"SELECT name, engine FROM system.tables WHERE database = {quote(self.database)} ORDER BY name"
            )
            if name != LOCK_NAME and not name.startswith(".inner")
        ]

    def backup_to(self, folder: Path) -> dict[str, Any]:
        """The server's BACKUP DATABASE where it can write to `folder` (chdb, a local current server),
        else SHOW CREATE DDL plus each table's data in Native format; the manifest says which."""
        details: dict[str, Any] = {"database": self.database, "server_version": self._client.version}
        details["engine"] = "chdb" if self.embedded else "server"
        reason = "the server has no BACKUP statement (before 22.x)"
        if self._major >= 23 and (self.embedded or self.settings.host in ("127.0.0.1", "localhost", "::1")):
            try:
                db = identifier(self.database)  # the lock this backup holds is not part of it
                self._backup_statement(f"BACKUP DATABASE {db} EXCEPT TABLES {db}.{LOCK_NAME}", "TO", folder)
                return {
                    "files": {"clickhouse": "ClickHouse BACKUP of the database (schema, data, migration_history)"},
                    "tool": f"ClickHouse {self._client.version} BACKUP",
                    "method": "BACKUP DATABASE",
                    "details": details,
                }
            except ServerError as exc:
                shutil.rmtree(folder / "clickhouse", ignore_errors=True)
                _raise_if_disk_full(exc)
                reason = f"BACKUP refused: {exc.message[:200]}"
        details["why_not_backup"] = reason
        return {**self._dump_native(folder), "details": details}

    @property
    def _major(self) -> int:
        assert self._client is not None
        return int(self._client.version.split(".")[0])

    def _backup_statement(self, head: str, direction: str, folder: Path, tail: str = "") -> None:
        """BACKUP/RESTORE to File(folder/clickhouse) (chdb sessions start with backups.allowed_path set;
        a server needs it in its config, else this fails and the caller falls back)."""
        path = quote(str(folder / "clickhouse"))
        self._ddl(f"{head} {direction} File({path}) {tail}".rstrip())

    def _dump_native(self, folder: Path) -> dict[str, Any]:
        """schema.json (SHOW CREATE per table, tables before views) + data/NNN.native per table."""
        (folder / "data").mkdir()
        tables = []
        digests: dict[str, str] = {}
        db = identifier(self.database)
        for index, (name, engine) in enumerate(self._user_tables()):
            create = self._query(f"SHOW CREATE TABLE {db}.{identifier(name)}")[0][0]
            entry = {"name": name, "engine": engine, "create": create, "data": None}
            if engine not in ("View", "MaterializedView", "Dictionary"):
                entry["data"] = f"data/{index:04d}.native"
                digest = self._export(name, folder / entry["data"])
                if digest:
                    digests[entry["data"]] = digest
            tables.append(entry)
        schema = {"database": self.database, "tables": tables}
        (folder / "schema.json").write_text(json.dumps(schema, indent=1))
        tool = "chdb" if self.embedded else "clickhouse-client"
        return {
            "files": {
                "schema.json": "SHOW CREATE of every table and view, in restore order",
                "data": "table rows, Native format",
            },
            "tool": f"{tool} {self._client.version}",
            "method": "SHOW CREATE + SELECT * FORMAT Native",
            "sha256": digests,
        }

    def _export(self, table: str, path: Path) -> str | None:
        """Write the table's rows to `path` in Native format; the SHA-256 when it was computed on the way."""
        source = f"{identifier(self.database)}.{identifier(table)}"
        if self.embedded:
            try:
                self._ddl(f"INSERT INTO FUNCTION file({quote(str(path))}, 'Native') SELECT * FROM {source}")
            except ServerError as exc:
                _raise_if_disk_full(exc)
                raise DbtoolsError(f"{self._where}: exporting {table} failed: {exc.message[:300]}") from None
            if not path.exists():  # an empty table writes no file
                path.write_bytes(b"")
            return None
        return self._client_tool(f"SELECT * FROM {source} FORMAT Native", into=path)

    def _client_tool(self, query: str, *, into: Path | None = None, stdin: Any = None) -> str | None:
        """clickhouse-client with the password in a private config file (never on the command line).

        With `into`, its output streams through here to that file and is hashed on the way (the
        SHA-256 is returned), so hashing overlaps the client's work instead of re-reading the file."""
        import errno
        import subprocess
        import tempfile

        binary = shutil.which("clickhouse-client")
        if binary is None:
            raise MissingDependency(
                "clickhouse: backup and restore of this server need clickhouse-client",
                hint="apt-get install clickhouse-client (the same release as the server)",
            )
        s = self.settings
        with tempfile.TemporaryDirectory(prefix="dbtools-ch-") as private:
            config = Path(private) / "client.xml"
            config.write_text(
                f"<config><host>{_xml_escape(s.host)}</host><port>{s.port}</port><user>{_xml_escape(s.user)}</user>"
                f"<password>{_xml_escape(s.password)}</password></config>"
            )
            argv = [binary, f"--config-file={config}", "--query", query]
            with subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=stdin, stderr=subprocess.PIPE) as client:
                digest = _stream(client.stdout, into) if into is not None else None
                _, errors = client.communicate()
        if client.returncode:
            text = mask(errors.decode(errors="replace"), s).strip() or f"exit code {client.returncode}"
            if "No space left" in text:
                raise OSError(errno.ENOSPC, "No space left on device")
            raise DbtoolsError(f"{self._where}: clickhouse-client failed: {server_message(text)[:300]}")
        return digest

    def restore_from(self, folder: Path, manifest: dict[str, Any], *, replace: bool = False) -> None:
        """Restore into a scratch database, then switch it in: all or nothing (dbtools.backends.clickhouse_restore)."""
        from dbtools.backends import clickhouse_restore

        clickhouse_restore.restore(self, folder, manifest, replace=replace)

    def _retarget(self, create: str, source: str) -> str:
        """A SHOW CREATE statement of database `source` rewritten for this database."""
        return retarget(create, source, self.database)

    def _import(self, table: str, path: Path, *, database: str | None = None) -> None:
        """Load a Native-format file into `table` of `database` (this one by default)."""
        if path.stat().st_size == 0:
            return
        target = f"{identifier(database or self.database)}.{identifier(table)}"
        if self.embedded:
            self._ddl(f"INSERT INTO {target} FROM INFILE {quote(str(path))} FORMAT Native")
        else:
            with open(path, "rb") as rows:
                self._client_tool(f"INSERT INTO {target} FORMAT Native", stdin=rows)

    @staticmethod
    def restore_provider(manifest: dict[str, Any]) -> str | None:
        """The sandbox that can restore this backup: chdb for a BACKUP or a current server's DDL,
        the local server binary for an old server's DDL (it may not run on a current engine's)."""
        details = manifest.get("details", {})
        if manifest["method"] == "BACKUP DATABASE" or details.get("engine") == "chdb":
            return "embedded"
        head = str(details.get("server_version", "0")).split(".")[0]
        major = int(head) if head.isascii() and head.isdigit() else 0
        return "local" if major < 23 else None

    def is_empty(self) -> bool:
        """No table or view in the database."""
        return not self._user_tables()

    @contextmanager
    def rehearsal_cost(self) -> Iterator[dict[str, Any]]:
        """Mutations (ALTER ... UPDATE/DELETE, MODIFY COLUMN rewrites) still running when the migration returned."""
        costs: dict[str, Any] = {}
        try:
            yield costs
        finally:
            try:
                rows = self._query(
                    "SELECT table, command, parts_to_do FROM system.mutations "
                    f"WHERE database = {quote(self.database)} AND is_done = 0"
                )
                costs["mutations_running"] = len(rows)
                costs["mutations"] = [{"table": t, "command": c[:120], "parts_to_do": p} for t, c, p in rows]
            except ServerError as exc:
                costs["mutations_running"] = f"unknown ({exc.message[:120]})"


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


def _stream(source: Any, path: Path) -> str:
    """Copy a pipe to a file, returning the SHA-256 of what passed.

    The pipe is grown to 1 MiB (Linux) and read in 256 KiB chunks, so the producer keeps writing
    while this process hashes: hashing overlaps the dump instead of following it."""
    import fcntl
    import hashlib

    with suppress(OSError):
        fcntl.fcntl(source.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        while chunk := source.read1(1 << 18):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _raise_if_disk_full(exc: ServerError) -> None:
    """A server error that is really a full disk becomes ENOSPC, which dbtools.backup reports as such."""
    import errno

    if "No space left" in exc.message or "errno: 28" in exc.message:
        raise OSError(errno.ENOSPC, "No space left on device") from None


def _literal(expression: str) -> str:
    """The value of a DEFAULT literal as system.columns shows it: '...' unescaped, numbers as they are."""
    expression = expression.strip()
    cast = re.fullmatch(r"CAST\((.*), '[^']*'\)", expression, re.DOTALL)  # 18.x shows CAST(1795599415, 'UInt64')
    if cast:
        expression = cast[1].strip()
    if len(expression) >= 2 and expression[0] == expression[-1] == "'":
        return re.sub(r"\\(.)", r"\1", expression[1:-1])
    return expression
