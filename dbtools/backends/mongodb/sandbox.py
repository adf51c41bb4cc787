"""Sandbox recipes: a local mongod, SecantusDB, the Docker image; finding mongosh."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbtools.errors import MissingDependency
from dbtools.settings import Settings

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.sandbox import DockerRecipe, ServerSpec

DOCKER_IMAGE = "mongo:8"
# sandboxes are throwaway test servers: failpoints (configureFailPoint) let tests inject server faults
TEST_COMMANDS = ("--setParameter", "enableTestCommands=1")
SECANTUSD = "secantusd-py"  # SecantusDB's server launcher (console script of the secantusdb package)


def local_recipe(workdir: Path, port: int) -> ServerSpec:
    """A throwaway `mongod` on 127.0.0.1:`port` (needs mongod on PATH; none is installable on our CI)."""
    from dbtools.sandbox import ServerSpec

    binary = shutil.which("mongod")
    if binary is None:
        raise MissingDependency(
            "mongodb: no mongod binary on PATH",
            hint="install MongoDB server, run Docker, or point MONGO_URL at a server",
        )
    (workdir / "db").mkdir(parents=True, exist_ok=True)
    argv = [binary, "--dbpath", str(workdir / "db"), "--port", str(port), "--bind_ip", "127.0.0.1"]
    argv += ["--nounixsocket", "--quiet", "--wiredTigerCacheSizeGB", "0.25", *TEST_COMMANDS]
    return ServerSpec(argv=argv, settings=_sandbox_settings("127.0.0.1", port), label="mongod")


def find_mongosh(near: Path) -> str | None:
    """mongosh on PATH, else the project's own from `npm install`: node_modules/.bin/mongosh in the
    folder of `near` (a migration file) or any folder above it, as npm itself looks."""
    found = shutil.which("mongosh")
    if found:
        return found
    for folder in Path(near).resolve().parents:
        local = folder / "node_modules" / ".bin" / "mongosh"
        if local.is_file() and os.access(local, os.X_OK):
            return str(local)
    return None


def secantusd_path() -> str | None:
    """SecantusDB's launcher: beside this interpreter (the dev/test install), else on PATH (a tool venv)."""
    beside = Path(sys.executable).parent / SECANTUSD
    return str(beside) if beside.is_file() else shutil.which(SECANTUSD)


def secantusdb_label() -> str:
    """What the SecantusDB provider is, for every message and report that names it."""
    from importlib import metadata

    try:
        version = " " + metadata.version("secantusdb")  # package metadata only: SecantusDB is never imported
    except metadata.PackageNotFoundError:  # the launcher comes from another environment
        version = ""
    return f"SecantusDB{version}, a MongoDB-compatible development server, not mongod"


def secantusdb_recipe(workdir: Path, port: int) -> ServerSpec:
    """A throwaway SecantusDB server (PyPI `secantusdb`, GPL-2.0: a separate process, never imported here)
    with its WiredTiger files in the sandbox folder. `--standalone` gives the same topology as the mongod
    and Docker sandboxes; test commands are on, as there (failpoints for fault tests). Its data is thrown
    away, so it is stopped with SIGKILL: after heavy use its clean shutdown takes seconds."""
    import signal

    from dbtools.sandbox import ServerSpec

    launcher = secantusd_path()
    if launcher is None:
        raise MissingDependency(
            f"mongodb: no {SECANTUSD} (SecantusDB) in this environment or on PATH",
            hint="pip install -r requirements-dev.txt (it brings secantusdb for tests and development)",
        )
    argv = [launcher, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(workdir / "data")]
    argv += ["--standalone", "--cache-size", "256M", "--log-level", "WARNING", "--enable-test-commands"]
    return ServerSpec(
        argv=argv,
        settings=_sandbox_settings("127.0.0.1", port),
        label=secantusdb_label(),
        stop_signal=signal.SIGKILL,
    )


def docker_recipe() -> DockerRecipe:
    """The official image (testcontainers path), without authentication like the local server."""
    from dbtools.sandbox import DockerRecipe

    return DockerRecipe(
        image=DOCKER_IMAGE,
        port=27017,
        command=["mongod", "--bind_ip_all", "--wiredTigerCacheSizeGB", "0.25", *TEST_COMMANDS],
        settings=_sandbox_settings,
    )


def _sandbox_settings(host: str, port: int) -> Settings:
    return Settings("mongodb", "mongodb", host, port, "dbtools_sandbox", "", "", source="sandbox")


def sandbox_probe(settings: Settings) -> None:
    """Readiness: one `hello` round trip on a direct connection that answers as a writable primary
    (creates nothing on the server)."""
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        settings.host, settings.port, directConnection=True, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        reply = client.admin.command("hello")
    finally:
        client.close()
    if not reply.get("isWritablePrimary"):
        raise RuntimeError(f"{settings.address} answers hello but is not a writable primary yet")
