"""The pymongo connection: URI and credentials, connection errors, a lost connection mid-run mapped to one line."""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode

from dbtools.backends.base import owner_tag
from dbtools.errors import ConfigError, ConnectionFailed, DatabaseMissing, missing_driver
from dbtools.settings import Settings, mask

OWN_OPTIONS = ("lock_ttl", "auth_source")  # read here, never passed to the driver
DEFAULT_TIMEOUT_MS = 5000  # server selection and connect: fail in seconds, not pymongo's 30 s


def _mapped(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a lost connection in mid-run into ConnectionFailed (one line and a hint, not a traceback)."""

    @functools.wraps(method)
    def wrapper(self: MongoClient, *args: Any, **kwargs: Any) -> Any:
        import pymongo.errors

        try:
            return method(self, *args, **kwargs)
        except pymongo.errors.ConnectionFailure as exc:
            raise self._connection_error(exc) from exc

    return wrapper


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


class MongoClient:
    """The database handle every other part of the backend works on."""

    name: ClassVar[str]
    settings: Settings
    _client: Any
    _db: Any

    if TYPE_CHECKING:

        def ensure_history(self) -> None: ...  # MongoHistory's

    @property
    def db(self) -> Any:
        """The pymongo Database migrations run against, for tools and tests."""
        return self._db

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
            raise missing_driver("mongodb", "the pymongo driver") from None
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
            raise self._connection_error(exc) from exc
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
