"""The store registry: built-in stores, stores registered through DBTOOLS_BACKENDS, and a bad entry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dbtools import backends
from dbtools.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


def test_an_extra_store_is_loaded_after_the_built_in_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backends.EXTRA_ENV, " sqlite = tests.sqlite.backend:SQLiteBackend ")
    assert list(backends.registry()) == [*backends.REGISTRY, "sqlite"]
    assert backends.load("sqlite").name == "sqlite"
    assert backends.names_text().endswith("redis or sqlite")


def test_without_the_variable_the_registry_is_the_built_in_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backends.EXTRA_ENV, raising=False)
    assert backends.registry() == backends.REGISTRY
    with pytest.raises(UsageError, match="unknown store 'sqlite'"):
        backends.load("sqlite")


def test_a_malformed_entry_is_one_error_line_with_a_hint() -> None:
    env = {**os.environ, backends.EXTRA_ENV: "sqlite"}
    done = subprocess.run(
        [sys.executable, "-m", "dbtools", "status", "--db", "postgres"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "error: DBTOOLS_BACKENDS: 'sqlite' is not name=module:Class", done.stderr
    assert lines[1].startswith("hint: e.g. DBTOOLS_BACKENDS=sqlite=tests.sqlite.backend:SQLiteBackend")
