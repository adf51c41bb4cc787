"""MongoDB: Python (and mongosh JavaScript) migrations with per-step progress, a `migrations` collection
for history, and a lease lock document renewed while a run holds it.

Credentials: with a password set, the user authenticates against `authSource=admin` unless the URL's
`?authSource=` or MONGO_AUTH_SOURCE says otherwise (the seed's admin/password is a root user, which
lives in `admin`). Without a password nothing authenticates (MongoDB has no empty passwords).
Lock expiry compares client clocks: hosts running migrations should keep NTP time.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode

from dbtools import scripts
from dbtools.backends.base import ForeignTable, applied_by, owner_tag
from dbtools.backends.mongodb_backup import TRANSIENT
from dbtools.errors import (
    ConfigError,
    ConnectionFailed,
    DatabaseMissing,
    DbtoolsError,
    HistoryMismatch,
    MigrationFailed,
    MissingDependency,
)
from dbtools.leases import Heartbeat, Waiting, lease_seconds, take_or_wait
from dbtools.migrations import INT64_MAX, Migration
from dbtools.plan import AppliedMigration
from dbtools.settings import Settings, StoreDefaults, mask
from dbtools.sqltext import Statement
from dbtools.values import LEASE

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.audit import Event
    from dbtools.sandbox import DockerRecipe, ServerSpec
    from dbtools.seed.table import Table

HISTORY = "migrations"  # the seed's name
LOCKS = "migration_lock"
LOCK_ID = "migrate"
OWN_OPTIONS = ("lock_ttl", "auth_source")  # read here, never passed to the driver
DEFAULT_LOCK_TTL = 30.0  # seconds; renewed every third of it while held
DEFAULT_TIMEOUT_MS = 5000  # server selection and connect: fail in seconds, not pymongo's 30 s
DOCKER_IMAGE = "mongo:8"
# sandboxes are throwaway test servers: failpoints (configureFailPoint) let tests inject server faults
TEST_COMMANDS = ("--setParameter", "enableTestCommands=1")
SECANTUSD = "secantusd-py"  # SecantusDB's server launcher (console script of the secantusdb package)

_ROW_FIELDS = tuple(AppliedMigration.__dataclass_fields__)


def local_recipe(workdir: Path, port: int) -> ServerSpec:
    """A throwaway `mongod` on 127.0.0.1:`port` (needs mongod on PATH; none is installable on our CI)."""
    from dbtools.sandbox import ServerSpec

    binary = shutil.which("mongod")
    if binary is None:
        raise MissingDependency(
            "mongodb: no mongod binary on PATH",
            hint="install MongoDB server, run Docker, or point MONGO_URL at a server",
        )
    (workdir / "db").mkdir(parents=True, exist_ok=True)
    argv = [binary, "--dbpath", str(workdir / "db"), "--port", str(port), "--bind_ip", "127.0.0.1"]
    argv += ["--nounixsocket", "--quiet", "--wiredTigerCacheSizeGB", "0.25", *TEST_COMMANDS]
    return ServerSpec(argv=argv, settings=_sandbox_settings("127.0.0.1", port), label="mongod")


def find_mongosh(near: Path) -> str | None:
    """mongosh on PATH, else the project's own from `npm install`: node_modules/.bin/mongosh in the
    folder of `near` (a migration file) or any folder above it, as npm itself looks."""
    found = shutil.which("mongosh")
    if found:
        return found
    for folder in Path(near).resolve().parents:
        local = folder / "node_modules" / ".bin" / "mongosh"
        if local.is_file() and os.access(local, os.X_OK):
            return str(local)
    return None


def secantusd_path() -> str | None:
    """SecantusDB's launcher: beside this interpreter (the dev/test install), else on PATH (a tool venv)."""
    beside = Path(sys.executable).parent / SECANTUSD
    return str(beside) if beside.is_file() else shutil.which(SECANTUSD)


def secantusdb_label() -> str:
    """What the SecantusDB provider is, for every message and report that names it."""
    from importlib import metadata

    try:
        version = " " + metadata.version("secantusdb")  # package metadata only: SecantusDB is never imported
    except metadata.PackageNotFoundError:  # the launcher comes from another environment
        version = ""
    return f"SecantusDB{version}, a MongoDB-compatible development server, not mongod"


def secantusdb_recipe(workdir: Path, port: int) -> ServerSpec:
    """A throwaway SecantusDB server (PyPI `secantusdb`, GPL-2.0: a separate process, never imported here)
    with its WiredTiger files in the sandbox folder. `--standalone` gives the same topology as the mongod
    and Docker sandboxes; test commands are on, as there (failpoints for fault tests). Its data is thrown
    away, so it is stopped with SIGKILL: after heavy use its clean shutdown takes seconds."""
    import signal

    from dbtools.sandbox import ServerSpec

    launcher = secantusd_path()
    if launcher is None:
        raise MissingDependency(
            f"mongodb: no {SECANTUSD} (SecantusDB) in this environment or on PATH",
            hint="pip install -r requirements-dev.txt (it brings secantusdb for tests and development)",
        )
    argv = [launcher, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(workdir / "data")]
    argv += ["--standalone", "--cache-size", "256M", "--log-level", "WARNING", "--enable-test-commands"]
    return ServerSpec(
        argv=argv,
        settings=_sandbox_settings("127.0.0.1", port),
        label=secantusdb_label(),
        stop_signal=signal.SIGKILL,
    )


def docker_recipe() -> DockerRecipe:
    """The official image (testcontainers path), without authentication like the local server."""
    from dbtools.sandbox import DockerRecipe

    return DockerRecipe(
        image=DOCKER_IMAGE,
        port=27017,
        command=["mongod", "--bind_ip_all", "--wiredTigerCacheSizeGB", "0.25", *TEST_COMMANDS],
        settings=_sandbox_settings,
    )


def _sandbox_settings(host: str, port: int) -> Settings:
    return Settings("mongodb", "mongodb", host, port, "dbtools_sandbox", "", "", source="sandbox")


def sandbox_probe(settings: Settings) -> None:
    """Readiness: one `hello` round trip on a direct connection that answers as a writable primary
    (creates nothing on the server)."""
    import pymongo

    client = pymongo.MongoClient(
        settings.host, settings.port, directConnection=True, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        reply = client.admin.command("hello")
    finally:
        client.close()
    if not reply.get("isWritablePrimary"):
        raise RuntimeError(f"{settings.address} answers hello but is not a writable primary yet")


def _mapped(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a lost connection in mid-run into ConnectionFailed (one line and a hint, not a traceback)."""

    @functools.wraps(method)
    def wrapper(self: MongoBackend, *args: Any, **kwargs: Any) -> Any:
        import pymongo.errors

        try:
            return method(self, *args, **kwargs)
        except pymongo.errors.ConnectionFailure as exc:
            raise self._connection_error(exc) from None

    return wrapper


class MongoBackend:
    """MongoDB through pymongo. No multi-document transactions assumed (standalone servers have none),
    so a migration records its progress after every step."""

    name: ClassVar[str] = "mongodb"
    defaults: ClassVar[StoreDefaults] = StoreDefaults(
        url_env="MONGO_URL",
        schemes=("mongodb", "mongodb+srv"),
        host=("MONGO_HOST", "localhost"),
        port=("MONGO_PORT", 27017),
        database=("MONGO_DATABASE", "trading_meta"),
        user=("MONGO_USER", "admin"),
        password=("MONGO_PASSWORD", "password"),
        options={"lock_ttl": "MONGO_LOCK_TTL", "auth_source": "MONGO_AUTH_SOURCE"},
        kinds={"lock_ttl": LEASE},
    )
    extensions: ClassVar[tuple[str, ...]] = ("py", "js")
    packages: ClassVar[tuple[str, ...]] = ("pymongo", "secantusdb")  # SecantusDB: the sandbox server, run apart
    max_version: ClassVar[int] = INT64_MAX  # BSON int64
    transactional_ddl: ClassVar[bool] = False
    new_template: ClassVar[str] = (
        "# Migration: {description}\n"
        '"""db is a pymongo Database. A run may be resumed, so each step must be safe to run again;\n'
        'list the steps (`up = [create_index, backfill]`) to have progress recorded after each."""\n'
        "\n\n"
        "def up(db):\n"
        "    # Example:\n"
        '    #   db.strategy_configs.create_index([("owner_id", 1)], name="owner_id_1")\n'
        "    pass\n"
        "\n\n"
        "def down(db):\n"
        "    # Example:\n"
        '    #   db.strategy_configs.drop_index("owner_id_1")\n'
        "    pass\n"
    )
    templates: ClassVar[dict[str, str]] = {
        "js": "// Migration: {description}\n// Runs in mongosh with `db` set to the migration database.\n\n"
        "function up(db) {{\n}}\n\nfunction down(db) {{\n}}\n"
    }

    # sandboxes: a real mongod first (Docker, then on PATH), then SecantusDB from the dev/test install
    sandbox_order: ClassVar[tuple[str, ...]] = ("docker", "local", "secantusdb")
    sandbox_variants: ClassVar[dict[str, str]] = {"secantusdb": "local"}
    local_recipe = staticmethod(local_recipe)
    secantusdb_recipe = staticmethod(secantusdb_recipe)
    docker_recipe = staticmethod(docker_recipe)
    sandbox_probe = staticmethod(sandbox_probe)
    sandbox_install_hint: ClassVar[str] = (
        "no MongoDB server here: set MONGO_URL, put mongod on PATH, run Docker, or "
        "pip install -r requirements-dev.txt (SecantusDB)"
    )

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._db: Any = None
        self._beat: Heartbeat | None = None

    # -- connection -------------------------------------------------------------------------

    @property
    def auth_source(self) -> str:
        q = {k.lower(): v for k, v in self.settings.query.items()}
        return q.get("authsource") or self.settings.options.get("auth_source") or "admin"

    def uri(self, *, credentials: bool = False) -> str:
        """The connection URI; the password only with `credentials` (for mongosh's environment, never output)."""
        s = self.settings
        host = f"[{s.host}]" if ":" in s.host else s.host
        netloc = host if s.scheme == "mongodb+srv" else f"{host}:{s.port}"  # SRV records carry the ports
        query = {k: v for k, v in s.query.items() if k not in OWN_OPTIONS and k.lower() != "authsource"}
        if s.password:
            query["authSource"] = self.auth_source
            if credentials:
                netloc = f"{quote(s.user, safe='')}:{quote(s.password, safe='')}@{netloc}"
        tail = f"?{urlencode(query)}" if query else ""
        return f"{s.scheme}://{netloc}/{quote(s.database, safe='')}{tail}"

    def _make_client(self) -> Any:
        """A MongoClient with short timeouts; URL options win over our defaults."""
        try:
            import pymongo
        except ImportError:  # pragma: no cover - requirements install it
            raise MissingDependency(
                "mongodb: the pymongo driver is not installed", hint="pip install -r requirements.txt"
            ) from None
        s = self.settings
        given = {k.lower() for k in s.query}
        kwargs: dict[str, Any] = {"appname": owner_tag()[:128], "tz_aware": True}
        for option in ("serverSelectionTimeoutMS", "connectTimeoutMS"):
            if option.lower() not in given:
                kwargs[option] = DEFAULT_TIMEOUT_MS
        if s.password:
            kwargs.update(username=s.user, password=s.password)
        return pymongo.MongoClient(self.uri(), **kwargs)

    def connect(self, *, create_database: bool = False) -> None:
        """Connect and ping; a database without collections counts as missing unless `create_database`."""
        import pymongo.errors

        from dbtools.sandbox import refuses

        s = self.settings
        if s.scheme == "mongodb" and s.host and refuses(s.host, s.port):  # not a 6 s server selection wait
            check = f"check {s.source}" if s.source != "defaults" else "set MONGO_URL or MONGO_HOST/PORT"
            raise ConnectionFailed(
                f"mongodb at {s.address}: connection refused; is MongoDB running there?", hint=f"start it, or {check}"
            )
        try:
            with warnings.catch_warnings():
                # pymongo only warns about a URL option it does not know or cannot read, then ignores
                # it (a timeout of "abc" becomes its 30 s default): refuse it instead
                warnings.simplefilter("error", UserWarning)
                self._client = self._make_client()
            self._client.admin.command("ping")
            self._db = self._client[self.settings.database]
            exists = bool(self._db.list_collection_names())
        except UserWarning as exc:
            self.close()
            raise ConfigError(
                f"mongodb: {self.settings.source}: {mask(str(exc), self.settings).split('. Did you mean')[0]}",
                hint="fix or remove that option in the URL query (pymongo's URI options)",
            ) from None
        except (pymongo.errors.PyMongoError, ValueError) as exc:
            self.close()
            raise self._connection_error(exc) from None
        if not exists:
            if not create_database:
                self.close()
                raise DatabaseMissing(
                    f"mongodb at {self.settings.address}: database {self.settings.database!r} does not exist "
                    "(it has no collections)",
                    hint="create it by adding --create-db, or point MONGO_DATABASE / MONGO_URL at an existing one",
                )
            self.ensure_history()

    def _connection_error(self, exc: Exception) -> ConnectionFailed | ConfigError:
        import pymongo.errors as px

        s = self.settings
        text = mask(str(exc), s).strip() or type(exc).__name__
        reason = text.split(", Timeout:")[0].split(" (configured timeouts")[0]
        where = f"mongodb at {s.address}"
        check = f"check {s.source}" if s.source != "defaults" else "set MONGO_URL or MONGO_HOST/PORT/USER/PASSWORD"
        if isinstance(exc, px.InvalidName | px.InvalidURI | ValueError):
            return ConfigError(f"mongodb: {reason}", hint="check MONGO_DATABASE / MONGO_URL")
        if isinstance(exc, px.OperationFailure) and (exc.code in (18, 11) or "uthentication failed" in text):
            return ConnectionFailed(
                f"{where}: authentication failed for user {s.user!r} (authSource={self.auth_source})",
                hint="check MONGO_USER / MONGO_PASSWORD (empty MONGO_PASSWORD for a server without auth); a user "
                "created in another database needs ?authSource=<that database> in MONGO_URL or MONGO_AUTH_SOURCE",
            )
        if isinstance(exc, px.OperationFailure) and exc.code == 13:
            return ConnectionFailed(
                f"{where}: user {s.user or '(none)'!r} may not list collections of {s.database!r}: {reason}",
                hint="grant the user readWrite (and dbAdmin for indexes/validators) on that database",
            )
        if isinstance(exc, px.ConfigurationError):
            return ConnectionFailed(f"{where}: {reason}", hint=f"{check}; mongodb+srv:// needs a resolvable SRV record")
        if "Connection refused" in text:
            return ConnectionFailed(
                f"{where}: connection refused; is MongoDB running there?", hint=f"start it, or {check}"
            )
        if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return ConnectionFailed(f"{where}: unknown host {s.host!r}", hint=check)
        if isinstance(exc, px.ServerSelectionTimeoutError):
            detail = "" if reason.startswith("No servers found") else f" ({reason})"
            return ConnectionFailed(
                f"{where}: no MongoDB server answered within {self._timeout_s():g} s{detail}",
                hint=f"is {s.port} the MongoDB port (27017 by default) and the server up? {check}",
            )
        return ConnectionFailed(f"{where}: {reason}", hint=check)

    def _timeout_s(self) -> float:
        q = {k.lower(): v for k, v in self.settings.query.items()}
        return float(q.get("serverselectiontimeoutms", DEFAULT_TIMEOUT_MS)) / 1000

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = self._db = None

    # -- files --------------------------------------------------------------------------------

    def split(self, migration: Migration, *, down: bool = False) -> list[Statement]:
        """Python: the steps of up/down (dbtools.scripts). JavaScript: the whole file, one statement."""
        if migration.kind == "js":
            text = migration.down if down else migration.up
            return [Statement(text or "", 1, "MONGOSH")] if text is not None else []
        return scripts.steps(migration, down=down)

    # -- history ------------------------------------------------------------------------------

    @_mapped
    def history(self) -> list[AppliedMigration]:
        return [self._row(doc) for doc in self._db[HISTORY].find({}, {"_id": 0}).sort("version", 1)]

    def _row(self, doc: dict[str, Any]) -> AppliedMigration:
        try:
            data = {k: doc[k] for k in _ROW_FIELDS if k in doc}
            row = AppliedMigration(**data)
            if not isinstance(row.version, int) or not row.checksum:
                raise TypeError("version or checksum missing")
        except (TypeError, KeyError) as exc:
            raise HistoryMismatch(
                f"mongodb: the {HISTORY} collection holds a document dbtools did not write: {_short(doc)} ({exc})",
                hint=f"move the old collection aside (db.{HISTORY}.renameCollection('{HISTORY}_old')), "
                f"then adopt the database with `baseline --db mongodb --version N`",
            ) from None
        if row.applied_at is not None and row.applied_at.tzinfo is None:
            row = replace(row, applied_at=row.applied_at.replace(tzinfo=UTC))
        return row

    @_mapped
    def ensure_history(self) -> None:
        """The `migrations` collection with a unique index on version (two rows of one version cannot exist)."""
        import pymongo.errors

        if HISTORY not in self._db.list_collection_names():
            with suppress(pymongo.errors.CollectionInvalid, pymongo.errors.OperationFailure):  # a peer made it
                self._db.create_collection(HISTORY)
        self._db[HISTORY].create_index([("version", 1)], unique=True, name="version_unique")

    @_mapped
    def record(self, row: AppliedMigration) -> None:
        self._db[HISTORY].replace_one({"version": row.version}, asdict(row), upsert=True)

    @_mapped
    def record_many(self, rows: Sequence[AppliedMigration]) -> None:
        """Upsert several rows: in one transaction where the server has them (replica sets), else one
        ordered bulk write (a standalone server has no multi-document transactions)."""
        import pymongo
        import pymongo.errors

        ops = [pymongo.ReplaceOne({"version": row.version}, asdict(row), upsert=True) for row in rows]
        if not ops:
            return
        history = self._db[HISTORY]
        try:
            with self._client.start_session() as session:
                session.with_transaction(lambda s: history.bulk_write(ops, ordered=True, session=s))
        except pymongo.errors.OperationFailure as exc:
            if exc.code != 20:  # IllegalOperation: "Transaction numbers are only allowed on a replica set"
                raise
            history.bulk_write(ops, ordered=True)

    @_mapped
    def read_table(self, name: str) -> ForeignTable | None:
        """Another tool's history collection in insertion order (without `_id`); None if absent. A collection
        the server cannot read (a view whose pipeline fails, no privilege) is one error naming it."""
        import pymongo.errors

        if name not in self._db.list_collection_names():
            return None
        try:
            docs = [{k: v for k, v in doc.items() if k != "_id"} for doc in self._db[name].find({}).sort("_id", 1)]
        except pymongo.errors.OperationFailure as exc:
            words = " ".join(str((exc.details or {}).get("errmsg") or exc).split())
            raise DbtoolsError(
                f"mongodb: could not read {name}: {words}",
                hint=f"check that {name} is the other tool's history collection and that this user may read it "
                "(--table NAME reads another)",
            ) from None
        columns: dict[str, str] = {}
        for field in docs[0] if docs else ():
            if all(field in doc for doc in docs):
                kinds = {type(doc[field]).__name__ for doc in docs}
                columns[field] = kinds.pop() if len(kinds) == 1 else "mixed"
        return ForeignTable(name, columns, docs)

    @_mapped
    def forget(self, version: int) -> None:
        self._db[HISTORY].delete_one({"version": version})

    # -- lock ---------------------------------------------------------------------------------

    @property
    def lock_ttl(self) -> float:
        return lease_seconds(self.settings, DEFAULT_LOCK_TTL, "MONGO_LOCK_TTL")

    @_mapped
    def _take(self, token: str, ttl: timedelta) -> bool:
        """One atomic attempt: insert the lock document, or take over an expired one.

        The filter matches only an expired document; if a live one exists the upsert's insert collides
        on `_id` and fails, so two runs can never both succeed."""
        import pymongo.errors

        now = datetime.now(UTC)
        holder = {"token": token, "owner": owner_tag(), "host": os.uname().nodename, "pid": os.getpid()}
        try:
            self._db[LOCKS].update_one(
                {"_id": LOCK_ID, "expires_at": {"$lt": now}},
                {"$set": {**holder, "by": applied_by(), "since": now, "expires_at": now + ttl}},
                upsert=True,
            )
        except pymongo.errors.DuplicateKeyError:
            return False
        return True

    def _renew(self, token: str, ttl: timedelta) -> bool:
        found = self._db[LOCKS].update_one(
            {"_id": LOCK_ID, "token": token}, {"$set": {"expires_at": datetime.now(UTC) + ttl}}
        )
        return found.matched_count == 1

    @contextmanager
    def lock(self, timeout: float, on_wait: Waiting | None = None) -> Iterator[None]:
        """A lease document: taken atomically, renewed by a heartbeat, released only with our token."""
        ttl = timedelta(seconds=self.lock_ttl)
        token = uuid.uuid4().hex
        take_or_wait(
            self.name,
            repr(self.settings.database),
            lambda: self._take(token, ttl),
            self.lock_holder,
            timeout,
            on_wait=on_wait,
            breaking="a dead run's lock is taken over once it expires, or free it with `unlock --force --db mongodb`",
        )
        self._beat = Heartbeat(lambda: self._renew(token, ttl), ttl.total_seconds() / 3)
        try:
            with self._beat:
                yield
        finally:
            if self._db is not None:
                with suppress(Exception):  # unreachable server: the lease expires by itself
                    self._db[LOCKS].delete_one({"_id": LOCK_ID, "token": token})

    def lock_lost(self) -> str | None:
        """Why the lock this run took is no longer ours, None while it is (or when none was taken)."""
        return self._beat.lost if self._beat is not None else None

    @_mapped
    def lock_holder(self) -> str | None:
        doc = self._db[LOCKS].find_one({"_id": LOCK_ID})
        if doc is None:
            return None
        expires = _aware(doc.get("expires_at"))
        left = (expires - datetime.now(UTC)).total_seconds() if expires else -1
        if left < 0:
            return None  # expired: the next run takes it over
        since = _aware(doc.get("since"))
        when = f" since {since:%Y-%m-%d %H:%M:%S UTC}" if since else ""
        return f"{doc.get('owner', 'an unknown run')}{when} (expires in {left:.1f} s unless renewed)"

    @_mapped
    def break_lock(self) -> str | None:
        """Delete the lock document whoever holds it; the holder's heartbeat notices and it stops."""
        holder = self.lock_holder()
        if holder is None:
            freed = self._db[LOCKS].find_one_and_delete({"_id": LOCK_ID})
            return "deleted an expired lock document" if freed else None
        self._db[LOCKS].delete_one({"_id": LOCK_ID})
        return f"deleted the lock of {holder}"

    # -- apply / revert -----------------------------------------------------------------------

    def apply(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> AppliedMigration:
        if migration.kind == "js":
            mongosh = self._mongosh_path(migration)
            return scripts.run_steps(
                self,
                migration,
                statements,
                lambda i: self._run_js(mongosh, migration, "up"),
                start_at=start_at,
                guard=self.lock_lost,
            )
        fns = scripts.callables(migration, scripts.load(migration), statements)
        return scripts.run_steps(
            self, migration, statements, lambda i: fns[i](self._db), start_at=start_at, guard=self.lock_lost
        )

    def revert(self, migration: Migration, statements: Sequence[Statement]) -> None:
        if migration.kind == "js":
            mongosh = self._mongosh_path(migration)
            scripts.revert_steps(self, migration, statements, lambda i: self._run_js(mongosh, migration, "down"))
            return
        fns = scripts.callables(migration, scripts.load(migration, down=True), statements)
        scripts.revert_steps(self, migration, statements, lambda i: fns[i](self._db))

    @staticmethod
    def _mongosh_path(migration: Migration) -> str:
        found = find_mongosh(migration.path)
        if found is None:
            raise MissingDependency(
                f"mongodb: {migration.path.name} is a JavaScript migration and mongosh is not installed; nothing ran",
                hint="run `npm install` in the project (package.json brings mongosh), or npm install -g mongosh, "
                "or write the migration as a .py file with up(db)",
            )
        return found

    def _run_js(self, mongosh: str, migration: Migration, function: str) -> None:
        """Run the file in mongosh with `db` connected; then call its up/down function if it defines one
        (a plain seed-style script does its work at top level). The URL travels in the environment,
        never on the command line where `ps` would show the password."""
        script = (
            "db = connect(process.env.DBTOOLS_MONGO_URL);\n"
            f"load({json.dumps(str(migration.path))});\n"
            f"if (typeof {function} === 'function') {{ {function}(db); }}\n"
        )
        env = {**os.environ, "DBTOOLS_MONGO_URL": self.uri(credentials=True)}
        done = subprocess.run(
            [mongosh, "--nodb", "--quiet", "--norc", "--eval", script], env=env, capture_output=True, text=True
        )
        if done.returncode:
            output = mask((done.stderr or done.stdout).strip(), self.settings)
            lines = [line for line in output.splitlines() if line.strip()]
            error = next((line for line in lines if "Error" in line), lines[-1] if lines else "")
            raise MigrationFailed(f"mongosh exited with {done.returncode}: {error.strip()}")

    # -- schema -------------------------------------------------------------------------------

    @_mapped
    def describe(self) -> list[dict[str, Any]]:
        """Collections for docs/schema.md: purpose and fields from the $jsonSchema validator, indexes."""
        described = []
        for info in sorted(self._db.list_collections(), key=lambda i: i["name"]):
            name = info["name"]
            if name in (HISTORY, LOCKS) or name.startswith(("system.", *TRANSIENT)):
                continue
            schema = info.get("options", {}).get("validator", {}).get("$jsonSchema", {})
            required = set(schema.get("required", []))
            fields = []
            for field, spec in schema.get("properties", {}).items():
                kind = spec.get("bsonType") or (
                    "enum: " + ", ".join(map(str, spec["enum"])) if "enum" in spec else "any"
                )
                fields.append(
                    [
                        field,
                        " | ".join(kind) if isinstance(kind, list) else kind,
                        "required" if field in required else "",
                    ]
                )
            indexes = []
            for index, spec in sorted(self._db[name].index_information().items()):
                if index == "_id_":
                    continue
                keys = ", ".join(f"{k}{' desc' if d == -1 else ''}" for k, d in spec["key"])
                extra = " unique" if spec.get("unique") else ""
                extra += f" TTL {spec['expireAfterSeconds']} s" if "expireAfterSeconds" in spec else ""
                indexes.append(f"index ({keys}){extra}")
            described.append(
                {
                    "name": name,
                    "kind": info.get("type", "collection"),
                    "purpose": schema.get("description", ""),
                    "keys": "; ".join(indexes),
                    "fields": fields,
                    "references": [],
                }
            )
        return described

    # -- audit sink and seeding -----------------------------------------------------------------

    def write_log(self, events: Sequence[Event]) -> None:
        """Append events to `system_logs` (the platform's schema); nothing if it does not exist yet."""
        from datetime import datetime

        if "system_logs" not in self._db.list_collection_names():
            return
        now = datetime.now(UTC)
        self._db.system_logs.insert_many(
            [
                {
                    "ts": now,
                    "level": "ERROR" if e.status == "failed" else "INFO",
                    "source": "dbtools",
                    "message": f"{e.store} {e.action} {e.status}"
                    + (f" {e.version:03d}_{e.name}" if e.version is not None else f" {e.name}".rstrip()),
                    "context": {
                        k: v
                        for k, v in {
                            "store": e.store,
                            "action": e.action,
                            "status": e.status,
                            "version": e.version,
                            "name": e.name,
                            "duration_ms": e.duration_ms,
                            "error": e.error,
                            "detail": e.detail or None,
                        }.items()
                        if v is not None
                    },
                }
                for e in events
            ],
            ordered=False,
        )

    def count(self, target: str) -> int:
        """Documents in a collection (0 when it does not exist)."""
        return int(self._db[target].estimated_document_count())

    def wipe(self, targets: Sequence[str]) -> None:
        """Delete every document of the collections, keeping them (and their validators and indexes)."""
        for target in targets:
            self._db[target].delete_many({})

    def load(self, table: Table) -> int:
        """Unordered insert_many in batches: the server spreads the writes, one bad document stops none."""
        import pymongo.errors

        rows = list(table.rows())
        try:
            for start in range(0, len(rows), 10_000):
                self._db[table.target].insert_many(rows[start : start + 10_000], ordered=False)
        except pymongo.errors.PyMongoError as exc:
            raise DbtoolsError(
                f"mongodb: loading {table.target} failed: {str(exc).splitlines()[0][:300]}",
                hint="is the schema current (`migrate --db mongodb`)? --reset empties the seeded collections first",
            ) from None
        return len(rows)

    def snapshot(self) -> dict[str, Any]:
        """Collections and views with their options (validators, capped, TTL, time series) and indexes."""
        collections: dict[str, Any] = {}
        for info in self._db.list_collections():
            name = info["name"]
            if name in (HISTORY, LOCKS) or name.startswith(("system.", *TRANSIENT)):
                continue
            kind = info.get("type", "collection")  # collection | view | timeseries
            entry: dict[str, Any] = {"type": kind, "options": _plain(info.get("options", {}))}
            if kind != "view":
                entry["indexes"] = {
                    index: _plain({k: v for k, v in spec.items() if k not in ("v", "ns")})
                    for index, spec in sorted(self._db[name].index_information().items())
                }
            collections[name] = entry
        return {"collections": dict(sorted(collections.items()))}

    # -- backup / restore (capabilities used by dbtools.backup; the format is in mongodb_backup) ------

    def backup_to(self, folder: Path) -> dict[str, Any]:
        """mongodump (`--archive --gzip`) when it is installed, else dbtools' own driver format; the lock
        collection left out either way. The manifest's `tool` says which."""
        from dbtools.backends import mongodb_backup as mb

        tool = mb.dump_tool("mongodump")
        if tool is None:
            return mb.backup(self._db, folder, skip=(LOCKS,))
        archive = "--archive=" + str(folder / "mongodb.archive.gz")
        excluded = [f"--excludeCollection={LOCKS}"]
        excluded += [f"--excludeCollectionsWithPrefix={prefix}" for prefix in mb.TRANSIENT]
        mb.run_tool([tool, archive, "--gzip", *excluded], *self._tool_access())
        return {
            "files": {"mongodb.archive.gz": "mongodump archive (gzip): collections, indexes, migrations history"},
            "tool": mb.DUMP_TOOL,
            "method": "mongodump --archive --gzip",
            "details": {"database": self.settings.database},
        }

    def restore_from(self, folder: Path, manifest: dict[str, Any], *, replace: bool = False) -> None:
        """Load a backup all or nothing: into scratch collections first, then switched in (replacing what
        the target held when `replace`). A mongodump backup goes through mongorestore, renamed into the
        scratch collections; dbtools' own format through the driver."""
        from dbtools.backends import mongodb_backup as mb

        if manifest.get("tool") != mb.DUMP_TOOL:
            mb.restore(self._db, folder, replace=replace, skip=(LOCKS,))
            return
        tool = mb.need_tool("mongorestore")
        token = uuid.uuid4().hex[:8]
        prefix = f"{mb.SCRATCH}{token}."
        source = manifest.get("details", {}).get("database") or self.settings.database
        argv = [tool, "--archive=" + str(folder / "mongodb.archive.gz"), "--gzip", "--bypassDocumentValidation"]
        argv += [f"--nsFrom={source}.*", f"--nsTo={self.settings.database}.{prefix}*"]
        try:
            mb.run_tool(argv, *self._tool_access())
        except BaseException:
            mb._drop_prefixed(self._db, prefix)
            raise
        loaded = [
            {"name": info["name"][len(prefix) :], "type": info.get("type", "collection"), "options": info["options"]}
            for info in self._db.list_collections(filter={"name": {"$regex": f"^{prefix}"}})
        ]
        mb.switch(self._db, loaded, prefix, token, replace=replace, skip=(LOCKS,))

    def _tool_access(self) -> tuple[str, Callable[[str], str]]:
        return self.uri(credentials=True), lambda text: mask(text, self.settings)

    @_mapped
    def is_empty(self) -> bool:
        """Nothing a user could lose: no collection but the lock and an empty history."""
        return not self.contents()

    @_mapped
    def contents(self) -> dict[str, int]:
        """What the database holds, for restore's refusal: collections, views and documents."""
        from dbtools.backends import mongodb_backup as mb

        infos = mb.user_collections(self._db, (LOCKS,))
        views = sum(1 for i in infos if i.get("type") == "view")
        tables = [i["name"] for i in infos if i.get("type", "collection") != "view"]
        documents = sum(self._db[name].estimated_document_count() for name in tables)
        if tables == [HISTORY] and not documents and not views:
            return {}  # what `--create-db` makes: an empty history
        held = {"collections": len(tables), "views": views, "documents": documents}
        return {kind: n for kind, n in held.items() if n}


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _plain(value: Any) -> Any:
    """BSON values as JSON-able Python: mappings to dicts, key lists to lists, dates to ISO text."""
    if isinstance(value, dict):  # SON is a dict subclass
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)  # ObjectId, Decimal128, Regex, Binary: their text is stable


def _short(doc: dict[str, Any]) -> str:
    text = json.dumps(_plain(doc), sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."
