"""Docker provider: run the store's image through testcontainers, only where a Docker engine answers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from dbtools.errors import MissingDependency, SandboxFailed
from dbtools.sandbox import DockerRecipe, Provider, connect_check, docker_available, wait_until
from dbtools.settings import Settings


class DockerSandbox(Provider):
    """`with DockerSandbox("postgres", recipe) as settings:` - a container of our own, removed on exit.

    `recipe` is a DockerRecipe or a callable `recipe(**options) -> DockerRecipe` from the store's module.
    Cleanup when this process dies is testcontainers' reaper (Ryuk), which removes the session's
    containers once our connection to it drops."""

    def __init__(
        self,
        store: str,
        recipe: DockerRecipe | Callable[..., DockerRecipe],
        *,
        timeout: float = 120.0,
        name: str = "docker",
        **options: Any,
    ) -> None:
        if not docker_available():
            where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
            raise MissingDependency(f"no Docker engine answers at {where}")
        try:
            from testcontainers.core.container import DockerContainer  # the path testcontainers 4.x documents
        except ImportError:
            raise MissingDependency("testcontainers is not installed (pip install -r requirements.txt)") from None
        self.store = store
        self.name = name
        self.spec = recipe(**options) if callable(recipe) else recipe
        self.timeout = timeout
        self.settings: Settings | None = None
        self.label = f"image {self.spec.image}"
        self.container = DockerContainer(self.spec.image, env=dict(self.spec.env)).with_exposed_ports(self.spec.port)
        if self.spec.command:
            self.container = self.container.with_command(self.spec.command)

    def _start(self) -> Settings:
        try:
            self.container.start()
            host = self.container.get_container_host_ip()
            port = int(self.container.get_exposed_port(self.spec.port))
        except Exception as exc:  # docker's errors: image pull, port clash, engine gone
            raise SandboxFailed(
                f"{self.store} sandbox: container {self.spec.image} did not start: {exc}",
                hint="check `docker info` and that the image can be pulled",
            ) from exc
        settings = self.spec.settings(host, port)
        try:
            wait_until(
                connect_check(settings),
                timeout=self.timeout,
                what=f"{self.store} ({self.spec.image}) on {settings.address}",
                alive=self._running,
            )
        except SandboxFailed as exc:
            raise SandboxFailed(f"{exc.message}{self._log_tail()}", hint=exc.hint) from None
        self.settings = settings
        return settings

    def _running(self) -> bool:
        try:
            self.container.reload()  # testcontainers caches the status until reload
            return bool(self.container.status == "running")
        except Exception:
            return False

    def _log_tail(self, lines: int = 15) -> str:
        try:
            out, err = self.container.get_logs()
        except Exception:
            return ""
        text = (out + err).decode(errors="replace").strip().splitlines()[-lines:]
        return "\n--- container log (tail) ---\n" + "\n".join(text) if text else ""

    def stop(self) -> None:
        """Remove the container and its volumes."""
        with contextlib.suppress(Exception):  # never started, or already gone with the engine
            self.container.stop()
