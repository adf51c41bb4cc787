"""Redis: Python migrations with per-step progress, a hash for history, a renewed SET NX PX lock, layout check.

A "database" is a DB index (REDIS_DB, or the URL path `/3`): history, lock and data of one index are
independent of the others. Tests get a fresh index per test from `RedisBackend.isolated` (sandbox only:
it flushes the index it hands out).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dbtools import scripts
from dbtools.audit import Event, Reporter
from dbtools.backends.base import HISTORY_NAME, connection_name, owner_tag
from dbtools.errors import (
    ConfigError,
    ConnectionFailed,
    DatabaseMissing,
    HistoryMismatch,
    MissingDependency,
    UsageError,
)
from dbtools.leases import Heartbeat, Waiting, lease_seconds, take_or_wait
from dbtools.migrations import INT64_MAX, Migration
from dbtools.plan import AppliedMigration
from dbtools.redis_layout import INTERNAL, LOCK_KEY, Layout
from dbtools.settings import Settings, StoreDefaults, mask
from dbtools.sqltext import Statement
from dbtools.values import LEASE, Number

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.sandbox import DockerRecipe, ServerSpec
    from dbtools.seed.table import Table

SANDBOX_DATABASES = 1000  # DB indexes a sandbox server offers, one per test
OWN_OPTIONS = ("lock_ttl",)  # URL query options read here, not passed to redis-py
CONNECT_TIMEOUT = 5.0  # seconds for TCP connect, TLS handshake and the first PING
COMMAND_TIMEOUT = 60.0  # seconds for any later command
DEFAULT_LOCK_TTL = 30.0  # seconds; renewed every third of it while held
SAMPLES_PER_KIND = 5

# Release and renewal must only touch our own lock: compare the token server-side, atomically.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"

_ROW_FIELDS = tuple(AppliedMigration.__dataclass_fields__)
_next_index = itertools.count()


def local_recipe(workdir: Path, port: int, *, password: str = "") -> ServerSpec:
    """A throwaway redis-server on 127.0.0.1:`port`: no persistence, many DB indexes for test isolation."""
    import shutil

    from dbtools.sandbox import ServerSpec

    binary = shutil.which("redis-server")
    if binary is None:
        raise MissingDependency("redis: no redis-server binary on this machine", hint="apt-get install redis-server")
    # the config file comes first on redis-server's command line; it keeps the password out of `ps`
    argv = [binary, str(workdir / "redis.conf"), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(workdir), "--databases", str(SANDBOX_DATABASES), "--daemonize", "no"]
    quoted = '"' + "".join(f"\\x{ord(c):02x}" if c in '"\\' or not c.isprintable() else c for c in password) + '"'
    config = f"requirepass {quoted}\n" if password else ""  # quoted: any character survives redis.conf
    settings = Settings("redis", "redis", "127.0.0.1", port, "0", "", password, source="sandbox")
    return ServerSpec(argv=argv, settings=settings, files={"redis.conf": config})


def docker_recipe(*, password: str = "") -> DockerRecipe:
    """The official image (testcontainers path), configured like the local throwaway server."""
    from dbtools.sandbox import DockerRecipe

    command = ["redis-server", "--save", "", "--appendonly", "no", "--databases", str(SANDBOX_DATABASES)]
    if password:
        command += ["--requirepass", password]
    return DockerRecipe(
        image="redis:7-alpine",
        port=6379,
        command=command,
        settings=lambda host, port: Settings("redis", "redis", host, port, "0", "", password, source="sandbox"),
    )


def _mapped(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a lost connection in mid-run into ConnectionFailed (one line and a hint, not a traceback)."""

    @functools.wraps(method)
    def wrapper(self: RedisBackend, *args: Any, **kwargs: Any) -> Any:
        import redis.exceptions as rx

        try:
            return method(self, *args, **kwargs)
        except (rx.ConnectionError, rx.TimeoutError) as exc:
            raise self._connection_error(exc) from None

    return wrapper


@dataclass
class _Finding:
    """Violations of one kind for one pattern: how many, and a few keys to look at."""

    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, key: str) -> None:
        self.count += 1
        if len(self.samples) < SAMPLES_PER_KIND:
            self.samples.append(key)


class RedisBackend:
    """Redis through redis-py. Migrations are Python scripts; no transactions, so progress is per step."""

    name: ClassVar[str] = "redis"
    defaults: ClassVar[StoreDefaults] = StoreDefaults(
        url_env="REDIS_URL",
        schemes=("redis", "rediss"),
        host=("REDIS_HOST", "localhost"),
        port=("REDIS_PORT", 6379),
        database=("REDIS_DB", "0"),
        user=("REDIS_USER", ""),  # an ACL user (Redis 6+); empty means the default user
        password=("REDIS_PASSWORD", ""),
        options={"lock_ttl": "REDIS_LOCK_TTL"},
        kinds={"lock_ttl": LEASE, "database": Number(0, 2**31 - 1, whole=True)},  # database: the DB index
    )
    extensions: ClassVar[tuple[str, ...]] = ("py",)
    packages: ClassVar[tuple[str, ...]] = ("redis",)
    max_version: ClassVar[int] = INT64_MAX  # the same bound as the other stores, so a version means the same everywhere
    transactional_ddl: ClassVar[bool] = False
    new_template: ClassVar[str] = (
        "# Migration: {description}\n"
        '"""r is a redis.Redis client returning str. Walk keys with SCAN in batches, never KEYS, so the\n'
        "server keeps serving; declare new key patterns in migrations/redis/layout.toml. A run may be\n"
        'resumed, so each step must be safe to run again (dbtools.redis_tools has SCAN-based helpers)."""\n'
        "\n\n"
        "def up(r):\n"
        "    # Example: give every session that has no TTL one of a day.\n"
        '    #   for key in r.scan_iter(match="sessions:*", count=1000):\n'
        "    #       if r.ttl(key) == -1:\n"
        "    #           r.expire(key, 86400)\n"
        "    pass\n"
        "\n\n"
        "def down(r):\n"
        "    pass\n"
    )
    layout: ClassVar[Layout] = Layout()
    scan_count: ClassVar[int] = 1000

    local_recipe = staticmethod(local_recipe)
    docker_recipe = staticmethod(docker_recipe)
    sandbox_install_hint: ClassVar[str] = "apt-get install redis-server, or run Docker"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._r: Any = None
        self._beat: Heartbeat | None = None
        self._script_r: Any = None

    @classmethod
    def isolated(cls, base: Settings, token: str) -> Settings:
        """Settings for a DB index no other test of this process uses, flushed (sandbox servers only)."""
        if base.source != "sandbox":
            raise UsageError(
                f"redis: refusing to flush a DB index on {base.address}, which is not a sandbox",
                hint="run the tests against a sandbox server (dbtools.sandbox.start('redis'))",
            )
        index = 1 + next(_next_index) % (SANDBOX_DATABASES - 1)  # index 0 stays the sandbox's own
        settings = base.with_database(str(index))
        backend = cls(settings)
        backend.connect()
        try:
            backend._r.flushdb()
        finally:
            backend.close()
        return settings

    # -- connection -------------------------------------------------------------------------

    def connect(self, *, create_database: bool = False) -> None:
        """Connect and PING. DB indexes always exist, so `create_database` has nothing to create."""
        self._r = self._client(decode=True, timeout=CONNECT_TIMEOUT)
        try:
            self._r.ping()
            # connected: commands may now run long (a script's big DEL); the next one reconnects with that
            self._r.connection_pool.connection_kwargs["socket_timeout"] = COMMAND_TIMEOUT
            self._r.connection_pool.reset()
        except Exception as exc:
            self._r.close()
            self._r = None
            if isinstance(exc, TypeError):  # redis-py passes unknown URL options on to the connection
                raise self._option_error(exc) from None
            raise self._connection_error(exc) from None

    def _client(self, *, decode: bool, timeout: float = COMMAND_TIMEOUT) -> Any:
        """A redis-py client; `timeout` bounds every read, the TLS handshake included (a rediss:// URL
        pointed at a plain server would otherwise wait that long for a handshake that never comes)."""
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:  # pragma: no cover - requirements install it
            raise MissingDependency(
                "redis: the redis driver is not installed", hint="pip install -r requirements.txt"
            ) from None
        s = self.settings
        if not s.database.isdigit():
            raise ConfigError(
                f"redis: database {s.database!r} is not a DB index",
                hint="set REDIS_DB (or the URL path, redis://host:6379/0) to a number from 0",
            )
        query = {k: v for k, v in s.query.items() if k not in OWN_OPTIONS}
        try:
            return redis.Redis.from_url(
                replace(s, query=query).url,
                decode_responses=decode,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=timeout,
                client_name=connection_name(),
                # no silent retries: re-sending a command that may have run (INCR, RPUSH) would apply it twice
                retry=Retry(NoBackoff(), 0),
            )
        except (ValueError, TypeError) as exc:
            raise self._option_error(exc) from None

    def _option_error(self, exc: Exception) -> ConfigError:
        """An option of the URL query that redis-py refuses (a bad value, or no such option)."""
        unknown = re.search(r"unexpected keyword argument '([^']*)'", str(exc))
        reason = f"unknown option {unknown[1]!r}" if unknown else mask(str(exc), self.settings).rstrip(".")
        return ConfigError(
            f"redis: {self.settings.source}: {reason}",
            hint="fix or remove that option in the URL query (redis-py's from_url options)",
        )

    def _connection_error(self, exc: Exception) -> ConnectionFailed:
        import redis.exceptions as rx

        s = self.settings
        text = mask(str(exc), s).strip() or type(exc).__name__
        where = f"redis at {s.address}"
        check = f"check {s.source}" if s.source != "defaults" else "set REDIS_URL or REDIS_HOST/PORT/DB/PASSWORD"
        if isinstance(exc, rx.AuthenticationError) or "NOAUTH" in text or "WRONGPASS" in text:
            who = f"user {s.user!r}" if s.user else "the default user"
            return ConnectionFailed(
                f"{where}: authentication failed for {who} ({text})",
                hint="check REDIS_PASSWORD (or the password in REDIS_URL)",
            )
        if "DB index is out of range" in text:
            return DatabaseMissing(
                f"{where}: DB index {s.database} does not exist on this server",
                hint="use a REDIS_DB below the server's `databases` setting (16 unless configured)",
            )
        if "Connection refused" in text:
            return ConnectionFailed(
                f"{where}: connection refused; is Redis running there?", hint=f"start it, or {check}"
            )
        if "Name or service not known" in text or "nodename nor servname" in text:
            return ConnectionFailed(f"{where}: unknown host {s.host!r}", hint=check)
        if (isinstance(exc, rx.TimeoutError) or "Timeout" in text) and s.scheme == "rediss":
            return ConnectionFailed(
                f"{where}: timed out in the TLS handshake; does this port speak TLS?",
                hint=f"use redis:// for a server without TLS, or {check}",
            )
        if isinstance(exc, rx.TimeoutError) or "Timeout" in text:
            return ConnectionFailed(f"{where}: timed out; is Redis running there?", hint=f"start it, or {check}")
        if "Connection closed by server" in text or "Protocol Error" in text or "ssl" in text.lower():
            return ConnectionFailed(
                f"{where}: the server there does not speak the Redis protocol ({text})",
                hint=f"is {s.port} the Redis port (6379 by default)? {check}; use rediss:// for TLS",
            )
        return ConnectionFailed(f"{where}: {text}", hint=check)

    def close(self) -> None:
        if self._script_r is not None:
            self._script_r.close()
            self._script_r = None
        if self._r is not None:
            self._r.close()
            self._r = None

    def _script_client(self) -> Any:
        """The client migration scripts get: its own connection, so a script's SELECT (another DB
        index) or CLIENT commands never redirect the history and lock commands on ours."""
        if self._script_r is None:
            self._script_r = self._client(decode=True)
        return self._script_r

    # -- files --------------------------------------------------------------------------------

    def split(self, migration: Migration, *, down: bool = False) -> list[Statement]:
        """The steps of `up` (or `down`): see dbtools.scripts."""
        return scripts.steps(migration, down=down)

    # -- history ------------------------------------------------------------------------------

    @_mapped
    def history(self) -> list[AppliedMigration]:
        self._history_is_a_hash()
        fields = self._r.hgetall(HISTORY_NAME)
        rows = [self._row(version, text) for version, text in fields.items()]
        return sorted(rows, key=lambda row: row.version)

    def _row(self, version: str, text: str) -> AppliedMigration:
        try:
            data = json.loads(text)
            data = {k: data.get(k) for k in _ROW_FIELDS if k in data}
            if data.get("applied_at"):
                data["applied_at"] = datetime.fromisoformat(data["applied_at"])
            row = AppliedMigration(**data)
        except (ValueError, TypeError) as exc:
            raise HistoryMismatch(
                f"redis: field {version!r} of the {HISTORY_NAME} hash is not a dbtools history row ({exc})",
                hint=f"inspect it with HGET {HISTORY_NAME} {version}; remove it with `repair` or HDEL",
            ) from None
        if str(row.version) != version:
            raise HistoryMismatch(
                f"redis: field {version!r} of {HISTORY_NAME} holds the row of version {row.version}",
                hint=f"inspect it with HGET {HISTORY_NAME} {version}",
            )
        return row

    def _history_is_a_hash(self) -> None:
        kind = self._r.type(HISTORY_NAME)
        if kind not in ("hash", "none"):
            raise HistoryMismatch(
                f"redis: key {HISTORY_NAME} is a {kind}, but dbtools keeps its history there as a hash",
                hint=f"rename that key (RENAME {HISTORY_NAME} ...) or use another REDIS_DB",
            )

    @_mapped
    def ensure_history(self) -> None:
        """Nothing to create (the hash appears with its first field); refuse a foreign key of that name."""
        self._history_is_a_hash()

    @_mapped
    def record(self, row: AppliedMigration) -> None:
        self._r.hset(HISTORY_NAME, str(row.version), _row_json(row))

    @_mapped
    def record_many(self, rows: Sequence[AppliedMigration]) -> None:
        """All rows in one HSET: Redis applies a command whole."""
        if rows:
            self._r.hset(HISTORY_NAME, mapping={str(row.version): _row_json(row) for row in rows})

    @_mapped
    def forget(self, version: int) -> None:
        self._r.hdel(HISTORY_NAME, str(version))

    # -- lock ---------------------------------------------------------------------------------

    @property
    def lock_ttl(self) -> float:
        return lease_seconds(self.settings, DEFAULT_LOCK_TTL, "REDIS_LOCK_TTL")

    @contextmanager
    def lock(self, timeout: float, on_wait: Waiting | None = None) -> Iterator[None]:
        """SET NX PX with a unique token; a heartbeat renews it; only our token releases it."""
        ttl_ms = int(self.lock_ttl * 1000)
        token = json.dumps({"token": uuid.uuid4().hex, "owner": owner_tag(), "since": time.time()})
        take_or_wait(
            self.name,
            f"DB {self.settings.database}",
            lambda: self._try_take(token, ttl_ms),
            self.lock_holder,
            timeout,
            on_wait=on_wait,
            breaking="a dead run's lock expires by itself, or free it now with `unlock --force --db redis`",
        )
        beat = Heartbeat(lambda: bool(self._r.eval(_RENEW, 1, LOCK_KEY, token, ttl_ms)), ttl_ms / 3000)
        self._beat = beat
        try:
            with beat:
                yield
        finally:
            if self._r is not None:
                with suppress(Exception):  # if we cannot reach Redis, the lock expires by itself
                    self._r.eval(_RELEASE, 1, LOCK_KEY, token)

    @_mapped
    def _try_take(self, token: str, ttl_ms: int) -> bool:
        return bool(self._r.set(LOCK_KEY, token, nx=True, px=ttl_ms))

    def lock_lost(self) -> str | None:
        """Why the lock this run took is no longer ours, None while it is (or when none was taken)."""
        return self._beat.lost if self._beat is not None else None

    @_mapped
    def lock_holder(self) -> str | None:
        pipe = self._r.pipeline(transaction=False)
        pipe.get(LOCK_KEY)
        pipe.pttl(LOCK_KEY)
        value, pttl = pipe.execute()
        if value is None:
            return None
        try:
            data = json.loads(value)
            since = datetime.fromtimestamp(data["since"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            who = f"{data['owner']} since {since}"
        except (ValueError, KeyError, TypeError):
            who = f"an unknown client (value {value[:60]!r})"
        expiry = f"expires in {pttl / 1000:.1f} s unless renewed" if pttl >= 0 else "never expires"
        return f"{who} ({expiry})"

    @_mapped
    def break_lock(self) -> str | None:
        """Delete the lock key whoever holds it; the holder's heartbeat then notices and stops."""
        holder = self.lock_holder()
        if holder is None:
            return None
        self._r.delete(LOCK_KEY)
        return f"deleted the lock of {holder}"

    # -- apply / revert -----------------------------------------------------------------------

    def apply(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> AppliedMigration:
        fns = scripts.callables(migration, scripts.load(migration), statements)
        client = self._script_client()
        return scripts.run_steps(
            self, migration, statements, lambda i: fns[i](client), start_at=start_at, guard=self.lock_lost
        )

    def revert(self, migration: Migration, statements: Sequence[Statement]) -> None:
        fns = scripts.callables(migration, scripts.load(migration, down=True), statements)
        client = self._script_client()
        scripts.revert_steps(self, migration, statements, lambda i: fns[i](client))

    # -- live data ----------------------------------------------------------------------------

    def scan_typed(self, *, with_ttl: Callable[[str], bool] = lambda key: True) -> Iterator[tuple[str, str, int]]:
        """(key, type, pttl) for every key, SCANning in batches with TYPE/PTTL pipelined per batch.

        Keys are decoded leniently (binary keys show escaped); keys gone since SCAN are skipped.
        PTTL is only asked where `with_ttl(key)`; elsewhere it reads -3."""
        raw = self._client(decode=False)
        try:
            cursor = 0
            while True:
                cursor, batch = raw.scan(cursor, count=self.scan_count)
                keys = [k.decode("utf-8", "backslashreplace") for k in batch]
                pipe = raw.pipeline(transaction=False)
                wants = []
                for raw_key, key in zip(batch, keys, strict=True):
                    pipe.type(raw_key)
                    wants.append(with_ttl(key))
                    if wants[-1]:
                        pipe.pttl(raw_key)
                answers = iter(pipe.execute())
                for key, want in zip(keys, wants, strict=True):
                    kind = next(answers).decode()
                    pttl = next(answers) if want else -3
                    if kind != "none":
                        yield key, kind, pttl
                if cursor == 0:
                    return
        finally:
            raw.close()

    @_mapped
    def check(self, report: Reporter) -> int:
        """Every key against the declared layout: wrong type, missing or unexpected TTL, no pattern.

        Reports one event per (problem, pattern) with a count and sample keys; returns the number of
        keys in violation. SCAN can return a key twice, so violating keys are de-duplicated."""
        started = time.monotonic()
        findings: dict[tuple[str, str], _Finding] = {}
        seen_bad: set[str] = set()
        scanned = 0

        def wants_ttl(key: str) -> bool:
            found = self.layout.find(key)
            return found is not None and found.ttl is not None

        for key, kind, pttl in self.scan_typed(with_ttl=wants_ttl):
            scanned += 1
            problem = self._problem(key, kind, pttl)
            if problem is None or key in seen_bad:
                continue
            seen_bad.add(key)
            findings.setdefault(problem, _Finding()).add(key)
        for (problem, pattern), finding in sorted(findings.items()):
            detail = f"{finding.count} key(s) {problem}" + (f" [{pattern}]" if pattern else "")
            report(Event(self.name, "check", "violation", detail=f"{detail}; e.g. {', '.join(finding.samples)}"))
        seconds = time.monotonic() - started
        total = sum(f.count for f in findings.values())
        rate = f", {scanned / seconds:,.0f} keys/s" if seconds > 0 else ""
        report(
            Event(
                self.name,
                "check",
                "scanned",
                duration_ms=int(seconds * 1000),
                detail=f"{scanned} key(s) in DB {self.settings.database}{rate}; {total} violation(s)",
            )
        )
        return total

    def _problem(self, key: str, kind: str, pttl: int) -> tuple[str, str] | None:
        """(what is wrong, pattern) for one key, None when it fits the layout."""
        structure = self.layout.find(key)
        if structure is None:
            return "match no declared pattern", ""
        if kind != structure.type:
            return f"are {kind}, declared {structure.type}", structure.pattern
        if structure.ttl is True and pttl == -1:
            return "have no TTL, declared with one", structure.pattern
        if structure.ttl is False and pttl >= 0:
            return "have a TTL, declared without (they would vanish)", structure.pattern
        return None

    @_mapped
    def describe(self) -> list[dict[str, Any]]:
        """The declared key layout for docs/schema.md: Redis' schema is its key patterns."""
        from dbtools.redis_layout import INTERNAL

        rules = {True: "must expire", False: "never expires", None: "TTL optional"}
        return [
            {
                "name": s.pattern,
                "kind": s.type,
                "purpose": s.description,
                "keys": rules[s.ttl] + (f" (default {s.default_ttl} s)" if s.default_ttl else ""),
                "fields": [],
                "references": [],
            }
            for s in self.layout.structures
            if s not in INTERNAL
        ]

    # -- seeding ------------------------------------------------------------------------------

    def count(self, target: str) -> int:
        """Keys of a declared pattern (`sessions:{session_id}`) or one exact key, counted with SCAN."""
        from dbtools.redis_layout import Structure

        glob = Structure(target, "string", None, "").glob
        return sum(1 for _ in self._r.scan_iter(match=glob, count=1000))

    def wipe(self, targets: Sequence[str]) -> None:
        """Delete the keys of the patterns (SCAN in batches, UNLINK so the server frees memory lazily)."""
        from dbtools.redis_layout import Structure

        for target in targets:
            batch = []
            for key in self._r.scan_iter(match=Structure(target, "string", None, "").glob, count=1000):
                batch.append(key)
                if len(batch) == 1000:
                    self._r.unlink(*batch)
                    batch = []
            if batch:
                self._r.unlink(*batch)

    def load(self, table: Table) -> int:
        """Write keys through one pipeline: lists (`items`), hashes (`fields`), strings (`value`), each
        replaced whole and given its `ttl` (seconds) when the table has one."""
        pipe = self._r.pipeline(transaction=False)
        for row in table.rows():
            key = row["key"]
            pipe.delete(key)
            if "items" in row:
                if row["items"]:
                    pipe.rpush(key, *row["items"])
            elif "fields" in row:
                pipe.hset(key, mapping=row["fields"])
            else:
                pipe.set(key, row["value"])
            if row.get("ttl"):
                pipe.expire(key, int(row["ttl"]))
        pipe.execute()
        return len(table)

    def snapshot(self) -> dict[str, Any]:
        """Declared patterns with the types and TTL states seen; undeclared keys one by one (type, TTL).

        Keys of declared patterns are data, so only their shape counts; history and lock are left out."""
        patterns: dict[str, set[tuple[str, bool]]] = {}
        keys: dict[str, list[Any]] = {}
        internal = {s.pattern for s in INTERNAL}
        for key, kind, pttl in self.scan_typed():
            structure = self.layout.find(key)
            if structure is None:
                keys[key] = [kind, pttl >= 0]
            elif structure.pattern not in internal:
                patterns.setdefault(structure.pattern, set()).add((kind, pttl >= 0))
        return {
            "patterns": {p: sorted([k, t] for k, t in shapes) for p, shapes in sorted(patterns.items())},
            "keys": dict(sorted(keys.items())),
        }

    # -- backup / restore (capabilities used by dbtools.backup; see dbtools.backends.redis_backup) -------

    @_mapped
    def backup_to(self, folder: Path) -> dict[str, Any]:
        """Every key as DUMP + PTTL into folder/redis.dump (the lock left out)."""
        from dbtools.backends import redis_backup

        return redis_backup.dump(self, folder)

    @_mapped
    def restore_from(self, folder: Path, manifest: dict[str, Any], *, replace: bool = False) -> None:
        """RESTORE every key into a spare DB index, then SWAPDB it with this one: all or nothing."""
        from dbtools.backends import redis_backup

        redis_backup.restore(self, folder, replace=replace)

    @_mapped
    def is_empty(self) -> bool:
        """No key in this DB index but the migration lock."""
        from dbtools.backends import redis_backup

        return redis_backup.is_empty(self)


def _row_json(row: AppliedMigration) -> str:
    data = asdict(row)
    data["applied_at"] = row.applied_at.isoformat() if row.applied_at else None
    return json.dumps(data)
