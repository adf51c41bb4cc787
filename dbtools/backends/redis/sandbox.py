"""Sandbox recipes: a throwaway redis-server, or the official Docker image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dbtools.errors import MissingDependency
from dbtools.settings import Settings

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.sandbox import DockerRecipe, ServerSpec

SANDBOX_DATABASES = 1000  # DB indexes a sandbox server offers, one per test


def local_recipe(workdir: Path, port: int, *, password: str = "") -> ServerSpec:
    """A throwaway redis-server on 127.0.0.1:`port`: no persistence, many DB indexes for test isolation."""
    import shutil

    from dbtools.sandbox import ServerSpec

    binary = shutil.which("redis-server")
    if binary is None:
        raise MissingDependency("redis: no redis-server binary on this machine", hint="apt-get install redis-server")
    # the config file comes first on redis-server's command line; it keeps the password out of `ps`
    argv = [binary, str(workdir / "redis.conf"), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(workdir), "--databases", str(SANDBOX_DATABASES), "--daemonize", "no"]
    quoted = '"' + "".join(f"\\x{ord(c):02x}" if c in '"\\' or not c.isprintable() else c for c in password) + '"'
    config = f"requirepass {quoted}\n" if password else ""  # quoted: any character survives redis.conf
    settings = Settings("redis", "redis", "127.0.0.1", port, "0", "", password, source="sandbox")
    return ServerSpec(argv=argv, settings=settings, files={"redis.conf": config})


def docker_recipe(*, password: str = "") -> DockerRecipe:
    """The official image (testcontainers path), configured like the local throwaway server."""
    from dbtools.sandbox import DockerRecipe

    command = ["redis-server", "--save", "", "--appendonly", "no", "--databases", str(SANDBOX_DATABASES)]
    if password:
        command += ["--requirepass", password]
    return DockerRecipe(
        image="redis:7-alpine",
        port=6379,
        command=command,
        settings=lambda host, port: Settings("redis", "redis", host, port, "0", "", password, source="sandbox"),
    )
