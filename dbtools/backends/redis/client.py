"""The redis-py connection: URL options, connect and PING, connection errors, a lost connection mapped to one line."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, ClassVar

from dbtools.backends.base import connection_name
from dbtools.errors import ConfigError, ConnectionFailed, DatabaseMissing, missing_driver
from dbtools.settings import Settings, mask

OWN_OPTIONS = ("lock_ttl",)  # URL query options read here, not passed to redis-py
CONNECT_TIMEOUT = 5.0  # seconds for TCP connect, TLS handshake and the first PING
COMMAND_TIMEOUT = 60.0  # seconds for any later command


def _mapped(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a lost connection in mid-run into ConnectionFailed (one line and a hint, not a traceback)."""

    @functools.wraps(method)
    def wrapper(self: RedisClient, *args: Any, **kwargs: Any) -> Any:
        import redis.exceptions as rx

        try:
            return method(self, *args, **kwargs)
        except (rx.ConnectionError, rx.TimeoutError) as exc:
            raise self._connection_error(exc) from exc

    return wrapper


class RedisClient:
    """The client every other part of the backend sends its commands through."""

    name: ClassVar[str]
    settings: Settings
    _r: Any
    _script_r: Any

    @property
    def client(self) -> Any:
        """The redis-py client (str replies) this backend runs on, for tools and tests."""
        return self._r

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
                raise self._option_error(exc) from exc
            raise self._connection_error(exc) from exc

    def open_client(self, *, decode: bool = True) -> Any:
        """A new redis-py client on this backend's settings (`decode=False`: bytes replies), for tools and
        tests; the caller closes it."""
        return self._client(decode=decode)

    def _client(self, *, decode: bool, timeout: float = COMMAND_TIMEOUT) -> Any:
        """A redis-py client; `timeout` bounds every read, the TLS handshake included (a rediss:// URL
        pointed at a plain server would otherwise wait that long for a handshake that never comes)."""
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:  # pragma: no cover - requirements install it
            raise missing_driver("redis", "the redis driver") from None
        s = self.settings
        if not s.database.isdigit():
            raise ConfigError(
                f"redis: database {s.database!r} is not a DB index",
                hint="set REDIS_DB (or the URL path, redis://host:6379/0) to a number from 0",
            )
        query = {k: v for k, v in s.query.items() if k not in OWN_OPTIONS}
        try:
            return redis.Redis.from_url(
                s._replace(query=query).url,
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
