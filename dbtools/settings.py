"""Connection settings per store, read from the environment and `<STORE>_URL`; secrets masked."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import parse_qsl, quote, quote_plus, unquote

from dbtools.errors import ConfigError, secret
from dbtools.values import PORT, BadValue, Kind

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from dbtools.records import NamedTuple

_NONE: Mapping[str, Any] = MappingProxyType({})  # an empty mapping no one can add to, shared as a default


class StoreDefaults(NamedTuple):
    """What a backend declares about its configuration: variable names, defaults, URL schemes."""

    url_env: str  # e.g. POSTGRES_URL: overrides every part below
    schemes: tuple[str, ...]  # URL schemes accepted, first one used when composing
    host: tuple[str, str]  # (ENV_NAME, default)
    port: tuple[str, int]
    database: tuple[str, str]
    user: tuple[str, str]
    password: tuple[str, str]
    options: Mapping[str, str] = _NONE  # option name -> ENV_NAME
    # what typed values accept (dbtools.values kinds), by option name, or "database" for the
    # database part (a Redis DB index); the port is always a port; anything else is free text
    kinds: Mapping[str, Kind] = _NONE


class Settings:
    """Where one store lives. `password` is never printed: use `display_url`. A value: treat it as read-only
    and make a changed copy with `_replace(field=value)`. A plain class (no dataclass: see plan.py)."""

    _FIELDS = (
        "store",
        "scheme",
        "host",
        "port",
        "database",
        "user",
        "password",
        "query",  # URL query (sslmode, authSource, ...)
        "options",  # store options (cluster, ...)
        "path",  # for embedded engines (chdb:///dir)
        "source",  # where the settings came from, for messages
    )

    def __init__(
        self,
        store: str,
        scheme: str,
        host: str,
        port: int,
        database: str,
        user: str,
        password: str,
        query: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        path: str = "",
        source: str = "defaults",
    ) -> None:
        self.store = store
        self.scheme = scheme
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.query: Mapping[str, str] = {} if query is None else query
        self.options: Mapping[str, str] = {} if options is None else options
        self.path = path
        self.source = source
        secret(password)  # masked out of whatever `--debug` prints about an error

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and other.__class__ is self.__class__ and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS if name != "password")
        return f"Settings({shown})"

    def _replace(self, **changes: Any) -> Settings:
        """A copy with `changes` (field=value) made."""
        return Settings(**{**{name: getattr(self, name) for name in self._FIELDS}, **changes})

    @property
    def url(self) -> str:
        """The full URL, password included: for drivers only, never for output."""
        return self._compose(self.password)

    @property
    def display_url(self) -> str:
        """The URL with the password masked, safe to print and log."""
        return self._compose("***" if self.password else "")

    @property
    def address(self) -> str:
        """host:port (or the embedded path) for messages."""
        return self.path if self.path else f"{self.host}:{self.port}"

    def with_database(self, database: str) -> Settings:
        """The same server, another database."""
        return self._replace(database=database)

    def _compose(self, password: str) -> str:
        if self.path:
            return f"{self.scheme}://{self.path}"
        auth = quote(self.user, safe="")
        if password:
            auth += ":" + (password if password == "***" else quote(password, safe=""))
        query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in self.query.items())
        host = f"[{self.host}]" if ":" in self.host else self.host
        userinfo = f"{auth}@" if auth else ""  # no user, no password: no `@` (Node's driver refuses `://@`)
        return f"{self.scheme}://{userinfo}{host}:{self.port}/{quote(self.database, safe='')}" + (
            f"?{query}" if query else ""
        )


def mask(text: str, settings: Settings | None) -> str:
    """Remove the password of `settings` from any text (driver messages can echo URLs)."""
    if settings is None or not settings.password:
        return text
    password = settings.password
    forms = {password, quote(password, safe=""), quote(password), quote_plus(password)}
    for form in sorted(forms, key=len, reverse=True):  # longest first: no form left half-masked
        text = text.replace(form, "***")
    return text


def from_env(store: str, defaults: StoreDefaults, env: Mapping[str, str] | None = None) -> Settings:
    """Settings for `store`: the URL variable if set, else the part variables, else the defaults.

    Every value is checked here against what the backend declares (`StoreDefaults.kinds`): a number
    that is not one is a ConfigError naming the variable, never a failure later on. An empty
    variable counts as unset."""
    env = os.environ if env is None else env
    options = {}
    for name, var in defaults.options.items():
        raw = env.get(var, "")
        if raw.strip():
            options[name] = _checked(defaults.kinds.get(name), raw, var)
    url = env.get(defaults.url_env, "").strip()
    if url:
        parsed = parse_url(store, url, defaults, variable=defaults.url_env)
        return parsed._replace(options={**options, **parsed.options}, source=defaults.url_env)
    port_var, port_default = defaults.port
    raw_port = env.get(port_var, "")
    port = int(_checked(PORT, raw_port, port_var)) if raw_port.strip() else port_default
    database_var, database_default = defaults.database
    database = env.get(database_var) or database_default
    if "database" in defaults.kinds:  # a typed database (a Redis DB index): blank is unset, like a port
        raw = env.get(database_var, "")
        database = _checked(defaults.kinds["database"], raw, database_var) if raw.strip() else database_default
    used = [v for v in (defaults.host[0], port_var, database_var, defaults.user[0]) if env.get(v, "").strip()]
    return Settings(
        store=store,
        scheme=defaults.schemes[0],
        host=env.get(defaults.host[0]) or defaults.host[1],
        port=port,
        database=database,
        user=env.get(defaults.user[0]) or defaults.user[1],
        password=env.get(defaults.password[0], defaults.password[1]),
        options=options,
        source=", ".join(used) if used else "defaults",
    )


def _checked(kind: Kind | None, raw: str, variable: str, what: str = "") -> str:
    """`raw` stripped, after `kind` accepted it (free text when no kind is declared)."""
    if kind is None:
        return raw
    try:
        kind.parse(raw)
    except BadValue as exc:
        hint = f"use {kind.describe()} in {variable}" if what else f"set {variable} to {kind.describe()}, or unset it"
        raise ConfigError(f"{variable}: {what}{exc}", hint=hint) from None
    return raw.strip()


# Characters that end the user name or password in a URL unless written percent-encoded.
_ENCODED = {"/": "%2F", "?": "%3F", "#": "%23", "@": "%40"}


def parse_url(store: str, url: str, defaults: StoreDefaults, *, variable: str = "URL") -> Settings:
    """Parse `scheme://user:pass@host:port/db?k=v` (or `scheme:///path` for embedded engines).

    Errors name `variable` and the fault and never repeat any part of the user name or password
    (urllib's own errors quote them)."""
    form = f"write it as {defaults.schemes[0]}://user:password@host:port/database"
    scheme, separator, rest = url.partition("://")
    # a store's own scheme (a plain word) is one without asking the pattern (compiling it is a run's cost)
    if not separator or (scheme not in defaults.schemes and not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme)):
        raise ConfigError(f"{variable} is not a URL: it does not start with scheme://", hint=form)
    if scheme not in defaults.schemes:
        raise ConfigError(f"{variable} has scheme {scheme!r}; {store} accepts {', '.join(defaults.schemes)}", hint=form)
    if rest.startswith("/"):  # embedded engine: chdb:///var/lib/x
        path, _, query_text = rest.partition("?")
        query = _query(query_text, defaults, variable)
        return Settings(store, scheme, "", 0, "", "", "", query=query, path=unquote(path))
    userinfo, at, hostpart = rest.rpartition("@")
    if at:
        _refuse_unencoded(userinfo, variable)
    end = min((i for i in (hostpart.find(c) for c in "/?#") if i >= 0), default=len(hostpart))
    authority, tail = hostpart[:end], hostpart[end:]
    if "#" in tail:
        raise ConfigError(
            f"{variable} has a '#', which ends a URL (a fragment); a connection URL has none",
            hint="write # as %23 in the database name or options",
        )
    host, port = _host_port(authority, variable, form)
    path, _, query_text = tail.partition("?")
    user, colon, password = userinfo.partition(":")
    database = unquote(path.lstrip("/")) or defaults.database[1]
    if path.lstrip("/") and "database" in defaults.kinds:
        database = _checked(defaults.kinds["database"], database, variable, "the database ")
    return Settings(
        store=store,
        scheme=scheme,
        host=host or defaults.host[1],
        port=port or defaults.port[1],
        database=database,
        user=unquote(user) if user else defaults.user[1],
        password=unquote(password) if colon else "",
        query=_query(query_text, defaults, variable),
    )


def _refuse_unencoded(userinfo: str, variable: str) -> None:
    """A ConfigError when the user name or password holds a character that must be percent-encoded."""
    user, colon, _ = userinfo.partition(":")
    for index, char in enumerate(userinfo):
        if char in _ENCODED:
            part = "user name" if index < len(user) or not colon else "password"
            raise ConfigError(
                f"{variable}: the {part} contains {char!r}, which must be written {_ENCODED[char]}",
                hint="percent-encode the user name and password in the URL "
                "(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=\"\"))' TEXT)",
            )


def _host_port(authority: str, variable: str, form: str) -> tuple[str, int | None]:
    """(host, port) of `host`, `host:port`, `[v6]` or `[v6]:port`; the port checked."""
    if authority.startswith("["):
        host, bracket, after = authority[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ConfigError(f"{variable}: an IPv6 host must be written [address]:port", hint=form)
        raw_port = after[1:] if after else ""
    else:
        host, _, raw_port = authority.partition(":")
        if ":" in raw_port:
            raise ConfigError(
                f"{variable}: the host part has more than one ':' (an IPv6 address goes in brackets: [::1]:5432)",
                hint=form,
            )
    if not raw_port:
        return host.lower(), None
    return host.lower(), int(_checked(PORT, raw_port, variable, "the port "))


def _query(text: str, defaults: StoreDefaults, variable: str) -> dict[str, str]:
    """URL options; those the backend declares a kind for are checked like their variables."""
    query = dict(parse_qsl(text))
    for name, value in query.items():
        if name in defaults.kinds and name != "database":
            query[name] = _checked(defaults.kinds[name], value, variable, f"option {name}=")
    return query
