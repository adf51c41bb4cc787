"""Shared fixtures: one throwaway server per store and test session, started on first use."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from dbtools import backends
from dbtools.errors import MissingDependency
from dbtools.sandbox import Sandbox, SandboxFailed, providers_of, start
from dbtools.settings import Settings

# Test-only stores, registered the way a store kept outside dbtools is (the environment reaches the
# processes tests start): SQLite proves a store is its folder plus this entry (tests/sqlite/).
os.environ.setdefault(backends.EXTRA_ENV, "sqlite=tests.sqlite.backend:SQLiteBackend")


class Servers:
    """Sandboxes started on first use, one per store, stopped at the end of the session."""

    def __init__(self) -> None:
        self._settings: dict[str, Settings | str] = {}
        self._running: list[Sandbox] = []
        self.providers: dict[str, str] = {}  # store -> which provider served it, for the session summary

    def get(self, store: str) -> Settings:
        """The store's sandbox settings; skips the test with the reason when none can start here."""
        if store not in self._settings:
            # tests want real server processes where possible, whatever a store prefers for users
            try:
                sandbox = start(store, order=providers_of(store))
                self._settings[store] = sandbox.__enter__()
                self._running.append(sandbox)
                describe = getattr(sandbox, "describe", None)
                self.providers[store] = describe() if describe else type(sandbox).__name__
            except (MissingDependency, SandboxFailed) as exc:
                self._settings[store] = f"no {store} server here: {exc.message}"
        value = self._settings[store]
        if isinstance(value, str):
            pytest.skip(value)
        return value

    def stop(self) -> None:
        for sandbox in reversed(self._running):
            sandbox.__exit__(None, None, None)


def run_query(store: str, settings: Settings, sql: str) -> list[tuple]:
    """The rows of one SQL statement, run through the store's backend on a connection of its own."""
    backend = backends.load(store)(settings)
    backend.connect()
    try:
        return backend.query(sql)  # type: ignore[attr-defined]  # the SQL stores' public query()
    finally:
        backend.close()


_SESSION = Servers()


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    yield _SESSION
    _SESSION.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the server each store's tests ran against (a SecantusDB run is not a mongod run)."""
    for store, provider in sorted(_SESSION.providers.items()):
        terminalreporter.write_line(f"sandbox: {store} tests ran against {provider}")


@pytest.fixture(autouse=True)
def _no_audit_sinks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs in tests write no audit rows to the machine's stores unless a test asks (tests/audit)."""
    monkeypatch.setenv("DBTOOLS_AUDIT", "off")


@pytest.fixture
def pg(servers: Servers) -> Settings:
    """A new database on the session's PostgreSQL server."""
    return fresh_settings(servers, "postgres", create=True)


def fresh_settings(servers: Servers, store: str, *, create: bool = False) -> Settings:
    """Settings for a database of `store` that no other test uses (a backend may define `isolated`);
    with `create`, the database exists when this returns."""
    base = servers.get(store)
    token = f"t_{uuid.uuid4().hex[:12]}"
    cls = backends.load(store)
    isolated = getattr(cls, "isolated", None)
    settings = isolated(base, token) if isolated else base.with_database(token)
    if create:
        backend = cls(settings)
        backend.connect(create_database=True)
        backend.close()
    return settings
