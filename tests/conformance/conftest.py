"""Fixtures for the conformance suite: one sandbox per store and session, a fresh database per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dbtools import backends
from dbtools.settings import Settings
from tests.conftest import Servers, fresh_settings

from .samples import SAMPLES

STORES = list(SAMPLES)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(store: str, servers: Servers) -> Settings:
    """Settings pointing at a database no other test uses (a backend may define `isolated`)."""
    return fresh_settings(servers, store)


@pytest.fixture
def env(store: str, settings: Settings) -> dict[str, str]:
    """Environment for subprocesses that should reach the same database."""
    cls = backends.load(store)
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_URL")}
    return {**clean, cls.defaults.url_env: settings.url}


@pytest.fixture
def mdir(tmp_path: Path, store: str) -> Path:
    """An empty migrations folder with the store's subfolder."""
    (tmp_path / "migrations" / store).mkdir(parents=True)
    return tmp_path / "migrations"
