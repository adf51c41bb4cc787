"""Fixtures of the onboarding tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def sandbox_dir() -> Iterator[Path]:
    """A folder the postgres user can reach (pytest's own tmp folders are private to root): onboarding's
    .sandbox, or copies of the project, under /tmp."""
    folder = Path(tempfile.mkdtemp(prefix="dbtools-onboard-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
