"""Embedded provider: an in-process engine (chdb for ClickHouse) on a temporary directory.

The store's module declares `embedded_recipe(workdir, **options) -> Settings`; this module makes the
folder, checks the engine opens there, hands the Settings out and removes the folder on exit. The
engine is not kept open: an embedded directory usually opens in one process at a time, and the
test or command that uses the Settings may be another process.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbtools.errors import SandboxFailed
from dbtools.sandbox import Provider, connect_check
from dbtools.settings import Settings


class EmbeddedSandbox(Provider):
    """`with EmbeddedSandbox("clickhouse", recipe) as settings:` - a fresh engine directory, removed on exit."""

    def __init__(self, store: str, recipe: Callable[..., Settings], *, name: str = "embedded", **options: Any) -> None:
        self.store = store
        self.name = name
        self.recipe = recipe
        self.options = options
        self.workdir: Path | None = None
        self.settings: Settings | None = None

    def _start(self) -> Settings:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"dbtools-{self.store}-embedded-"))
        settings = self.recipe(self.workdir, **self.options)
        try:
            connect_check(settings)()
        except Exception as exc:
            raise SandboxFailed(
                f"{self.store} embedded engine ({self.name}) did not open in {self.workdir}: {exc}",
                hint="see the message; is the engine's package complete?",
            ) from exc
        self.settings = settings
        return settings

    def stop(self) -> None:
        """Delete the engine's directory."""
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
