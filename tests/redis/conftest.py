"""Fixtures of the Redis tests: a flushed DB index of the session's redis-server and a client on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbtools.backends.redis import RedisBackend
from dbtools.settings import Settings
from tests.conftest import Servers, fresh_settings


@pytest.fixture
def rs(servers: Servers) -> Settings:
    """Settings of a flushed DB index of the session's redis-server, used by this test only."""
    return fresh_settings(servers, "redis")


@pytest.fixture
def r(rs: Settings) -> Iterator[object]:
    """A redis client on the test's DB index (str responses)."""
    backend = RedisBackend(rs)
    backend.connect()
    yield backend.client
    backend.close()
