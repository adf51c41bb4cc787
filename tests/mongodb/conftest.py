"""MongoDB fixtures: a real server process for every test that needs a server.

Where the server comes from, in order: MONGO_URL, a sandbox (Docker `mongo:8`, `mongod` on PATH, then
SecantusDB from requirements-dev.txt). When none is reachable those tests skip with the reason, and the
session ends with one line saying so; under CI (CI=true) that is a failure instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbtools.backends.mongodb import MongoBackend
from dbtools.errors import DbtoolsError
from dbtools.settings import Settings, from_env
from tests.conftest import Servers

_skipped: list[str] = []  # why the real-server tests did not run, reported once at the end
_no_mongosh: list[str] = []


def need_mongosh() -> str:
    """mongosh's path; skips with one line where it is missing (fails under CI, which installs it)."""
    from dbtools.backends.mongodb.sandbox import find_mongosh

    found = find_mongosh(Path(__file__))
    if found is None:
        reason = "mongosh is not installed: the .js migration tests did not run (`npm install` brings it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        _no_mongosh.append(reason)
        pytest.skip(reason)
    return found


def _real_server(servers: Servers) -> Settings:
    """Settings of a reachable MongoDB server, or skip naming why there is none."""
    if os.environ.get("MONGO_URL"):
        settings = from_env("mongodb", MongoBackend.defaults)
        probe = MongoBackend(settings)
        try:
            probe.connect(create_database=True)
        except DbtoolsError as exc:
            reason = f"MONGO_URL is set but unusable: {exc.message}"
            _skipped.append(reason)
            pytest.skip(reason)
        probe.close()
        return settings
    try:
        return servers.get("mongodb")
    except pytest.skip.Exception as skip:
        reason = f"no MONGO_URL, and {skip.msg}"
        if os.environ.get("CI"):
            pytest.fail(f"CI must test MongoDB on a server: {reason}")
        _skipped.append(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def mongo_server(servers: Servers) -> Settings:
    return _real_server(servers)


@pytest.fixture
def mongo(mongo_server: Settings) -> Iterator[Settings]:
    """A database of its own on the real server, dropped afterwards."""
    settings = mongo_server.with_database(f"dbtools_t_{uuid.uuid4().hex[:10]}")
    yield settings
    backend = MongoBackend(settings)
    try:
        backend.connect(create_database=True)
        backend.db.client.drop_database(settings.database)
    finally:
        backend.close()


@pytest.fixture
def mdir(tmp_path: Path) -> Path:
    (tmp_path / "mongodb").mkdir()
    return tmp_path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _no_mongosh:
        terminalreporter.write_line(f"mongodb: {_no_mongosh[0]}", yellow=True)
    if _skipped:
        terminalreporter.write_line(
            f"mongodb: the tests that need a server were skipped ({_skipped[0]})",
            yellow=True,
        )
