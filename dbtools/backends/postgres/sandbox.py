"""Sandbox recipes: a throwaway local cluster (initdb + postgres) or the official Docker image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dbtools.errors import MissingDependency
from dbtools.settings import Settings

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.sandbox import DockerRecipe, ServerSpec


def _server_binaries() -> Path:
    """The newest installed PostgreSQL server bin folder (Debian layout), or pg_config's."""
    import shutil

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise MissingDependency(
        "postgres: no PostgreSQL server binaries (initdb) on this machine",
        hint="apt-get install postgresql (or use DBTOOLS_SANDBOX=docker where Docker runs)",
    )


def local_recipe(workdir: Path, port: int, *, password: str = "", durable: bool = False) -> ServerSpec:
    """A throwaway cluster: initdb + postgres in `workdir`, on 127.0.0.1:`port`.

    Without `durable`, fsync is off (tests); with it the server flushes like a real one (benchmarks)."""
    import signal  # here, not at the top: the backend (and so a migrate run) imports this module

    from dbtools.sandbox import ServerSpec

    bindir = _server_binaries()
    data = workdir / "data"
    init = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8", "--no-sync"]
    files = {}
    if password:
        files["pwfile"] = password + "\n"
        init += ["-A", "scram-sha-256", f"--pwfile={workdir / 'pwfile'}"]
    else:
        init += ["-A", "trust"]
    argv = [
        str(bindir / "postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-k",
        "",  # TCP only: a socket under a long folder (nox's TMPDIR in a deep checkout) exceeds 107 bytes
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "max_connections=60",
    ]
    if not durable:
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    settings = Settings(
        "postgres", "postgres", "127.0.0.1", port, "dbtools_sandbox", "postgres", password, source="sandbox"
    )
    return ServerSpec(
        argv=argv,
        settings=settings,
        prepare=[init],
        run_as="postgres",
        files=files,
        stop_signal=signal.SIGINT,  # fast shutdown: ends open sessions (SIGTERM waits for every client to leave)
    )


def docker_recipe(*, password: str = "postgres") -> DockerRecipe:
    """The official image (testcontainers path): fsync off, like the local throwaway cluster."""
    from dbtools.sandbox import DockerRecipe

    return DockerRecipe(
        image="postgres:17-alpine",
        port=5432,
        env={"POSTGRES_PASSWORD": password, "POSTGRES_DB": "dbtools_sandbox"},
        command=["postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        settings=lambda host, port: Settings(
            "postgres", "postgres", host, port, "dbtools_sandbox", "postgres", password, source="sandbox"
        ),
    )
