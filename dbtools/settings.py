"""Connection settings per store, read from the environment and `<STORE>_URL`; secrets masked."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from dbtools.errors import ConfigError


@dataclass(frozen=True)
class StoreDefaults:
    """What a backend declares about its configuration: variable names, defaults, URL schemes."""

    url_env: str  # e.g. POSTGRES_URL: overrides every part below
    schemes: tuple[str, ...]  # URL schemes accepted, first one used when composing
    host: tuple[str, str]  # (ENV_NAME, default)
    port: tuple[str, int]
    database: tuple[str, str]
    user: tuple[str, str]
    password: tuple[str, str]
    options: Mapping[str, str] = field(default_factory=dict)  # option name -> ENV_NAME


@dataclass(frozen=True)
class Settings:
    """Where one store lives. `password` is never printed: use `display_url`."""

    store: str
    scheme: str
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    query: Mapping[str, str] = field(default_factory=dict)  # URL query (sslmode, authSource, ...)
    options: Mapping[str, str] = field(default_factory=dict)  # store options (cluster, ...)
    path: str = ""  # for embedded engines (chdb:///dir)
    source: str = "defaults"  # where the settings came from, for messages

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
        return replace(self, database=database)

    def _compose(self, password: str) -> str:
        if self.path:
            return f"{self.scheme}://{self.path}"
        auth = quote(self.user, safe="")
        if password:
            auth += ":" + (password if password == "***" else quote(password, safe=""))
        query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in self.query.items())
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{auth}@{host}:{self.port}/{quote(self.database, safe='')}" + (
            f"?{query}" if query else ""
        )


def mask(text: str, settings: Settings | None) -> str:
    """Remove the password of `settings` from any text (driver messages can echo URLs)."""
    if settings is None or not settings.password:
        return text
    for secret in {settings.password, quote(settings.password, safe="")}:
        text = text.replace(secret, "***")
    return text


def from_env(store: str, defaults: StoreDefaults, env: Mapping[str, str] | None = None) -> Settings:
    """Settings for `store`: the URL variable if set, else the part variables, else the defaults."""
    env = os.environ if env is None else env
    options = {name: env[var] for name, var in defaults.options.items() if env.get(var)}
    url = env.get(defaults.url_env, "").strip()
    if url:
        parsed = parse_url(store, url, defaults, variable=defaults.url_env)
        return replace(parsed, options={**options, **parsed.options}, source=defaults.url_env)
    port_var, port_default = defaults.port
    raw_port = env.get(port_var, "").strip() or str(port_default)
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ConfigError(f"{port_var}={raw_port!r} is not a port number", hint=f"set {port_var} to 1-65535")
    used = [v for v in (defaults.host[0], port_var, defaults.database[0], defaults.user[0]) if env.get(v)]
    return Settings(
        store=store,
        scheme=defaults.schemes[0],
        host=env.get(defaults.host[0]) or defaults.host[1],
        port=int(raw_port),
        database=env.get(defaults.database[0]) or defaults.database[1],
        user=env.get(defaults.user[0]) or defaults.user[1],
        password=env.get(defaults.password[0], defaults.password[1]),
        options=options,
        source=", ".join(used) if used else "defaults",
    )


def parse_url(store: str, url: str, defaults: StoreDefaults, *, variable: str = "URL") -> Settings:
    """Parse `scheme://user:pass@host:port/db?k=v` (or `scheme:///path` for embedded engines)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(
            f"{variable} is not a valid URL ({exc})",
            hint=f"write it as {defaults.schemes[0]}://user:password@host:port/database",
        ) from None
    if parts.scheme not in defaults.schemes:
        raise ConfigError(
            f"{variable} has scheme {parts.scheme or '(none)'!r}; {store} accepts {', '.join(defaults.schemes)}",
            hint=f"write it as {defaults.schemes[0]}://user:password@host:port/database",
        )
    query = dict(parse_qsl(parts.query))
    if not parts.netloc and parts.path:  # embedded engine: chdb:///var/lib/x
        return Settings(store, parts.scheme, "", 0, "", "", "", query=query, path=unquote(parts.path))
    database = unquote(parts.path.lstrip("/")) or defaults.database[1]
    return Settings(
        store=store,
        scheme=parts.scheme,
        host=parts.hostname or defaults.host[1],
        port=port or defaults.port[1],
        database=database,
        user=unquote(parts.username) if parts.username else defaults.user[1],
        password=unquote(parts.password) if parts.password is not None else "",
        query=query,
    )
