"""Throwaway servers for tests, nox sessions and onboarding: start one, get Settings, remove it.

Providers: `local` (the store's server binary in a temporary folder), `embedded` (an in-process
engine such as chdb), `docker` (testcontainers, only where a Docker engine answers). Each store's
backend declares its recipes (`sandbox_recipes`, the capability `SandboxRecipes` of
dbtools.backends.base); this package holds the mechanics: free ports, readiness waits, cleanup even
when the parent dies.

A store may name further providers run by one of those mechanisms (`SandboxVariants`, e.g. MongoDB's
`{"secantusdb": "local"}` with a "secantusdb" recipe): a second server program for the same store,
chosen and reported by its own name.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dbtools.errors import MissingDependency, SandboxFailed, UsageError
from dbtools.settings import Settings

if TYPE_CHECKING:
    from dbtools.backends.base import SandboxRecipes

PROVIDERS = ("docker", "local", "embedded")


class Provider:
    """What every provider shares: entering starts it (cleaning up after a failed start), leaving stops it."""

    label: str = ""  # what the server is, when its kind alone would not say (set by a provider that knows)

    def __enter__(self) -> Settings:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self) -> Settings:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Sandbox(Protocol):
    """A started server: `with sandbox as settings:` gives Settings pointing at a fresh database."""

    label: str  # what the server is ("" when its kind says it)

    def __enter__(self) -> Settings: ...

    def __exit__(self, *exc: object) -> None: ...


@dataclass(frozen=True)
class ServerSpec:
    """How to run one local server: commands to prepare its folder, then the server's own argv."""

    argv: list[str]
    settings: Settings
    prepare: list[list[str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    run_as: str | None = None  # a user to run as when we are root (initdb refuses root)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> content, written first
    label: str = ""  # what the server is, when its name alone would mislead (messages and reports)
    stop_signal: int = 15  # SIGTERM; SIGKILL for a server whose throwaway data needs no clean shutdown


@dataclass(frozen=True)
class DockerRecipe:
    """How to run one store in a container: image, its port inside, env, and the Settings to reach it.

    `settings(host, mapped_port)` builds the Settings once Docker has published the port."""

    image: str
    port: int
    settings: Callable[[str, int], Settings]
    env: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def holds_port(pid: int, port: int) -> bool | None:
    """Whether process `pid` holds a listening TCP socket on `port` (any address): a server we started
    is the one answering there, not another that took the port first. None when this machine cannot tell
    (no Linux /proc, or the process's open files are not ours to read)."""
    listening = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as lines:
                next(lines)  # the header
                for line in lines:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                        listening.add(f"socket:[{fields[9]}]")
    except (OSError, IndexError, ValueError):
        return None
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False  # the process is gone
    except OSError:
        return None
    for name in names:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") in listening:
                return True
        except OSError:  # closed since the listing
            continue
    return False


def port_answers(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on host:port (IPv4 or IPv6, names resolved)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def refuses(host: str, port: int, timeout: float = 1.0) -> bool:
    """True only when host:port actively refuses TCP connections (nothing listens there), so a client can
    say so at once; a host that does not answer within `timeout` is not "refusing" (a driver waits longer)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def wait_until(
    check: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    transient: tuple[type[BaseException], ...] = (Exception,),
    alive: Callable[[], bool] | None = None,
    log: Path | None = None,
) -> Any:
    """Call `check` until it returns without raising one of `transient`; fail with the last error and the log tail."""
    deadline = time.monotonic() + timeout
    pause = 0.02
    last: BaseException | None = None
    while True:
        if alive is not None and not alive():
            raise SandboxFailed(f"{what} exited before it was ready{_tail(log)}", hint="see the log above")
        try:
            return check()
        except transient as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise SandboxFailed(
                f"{what} not ready after {timeout:.0f} s (last error: {last}){_tail(log)}",
                hint="see the log above; is the machine overloaded?",
            )
        time.sleep(pause)
        pause = min(pause * 1.5, 0.25)


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").strip().splitlines()[-lines:]
    return "\n--- server log (tail) ---\n" + "\n".join(text) if text else ""


def connect_check(settings: Settings) -> Callable[[], None]:
    """A readiness check at protocol level: the store's `sandbox_probe(settings)` when it declares one (a
    protocol round trip that creates nothing), else its backend connects (creating the database) and
    disconnects."""
    from dbtools import backends
    from dbtools.backends.base import SandboxProbed

    cls = backends.load(settings.store)
    if isinstance(cls, SandboxProbed):
        probe = cls.sandbox_probe
        return lambda: probe(settings)

    def check() -> None:
        backend = backends.load(settings.store)(settings)
        backend.connect(create_database=True)
        backend.close()

    return check


def docker_available() -> bool:
    """True when a Docker engine answers (the client alone is not enough)."""
    sock = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if sock.startswith("unix://"):
        path = sock[len("unix://") :]
        if not os.path.exists(path):
            return False
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(0.5)
            return s.connect_ex(path) == 0
    return True


def providers_of(store: str) -> tuple[str, ...]:
    """Every provider `store` can use: the three mechanisms, then the variants its backend declares."""
    from dbtools import backends
    from dbtools.backends.base import SandboxVariants

    cls = backends.load(store)
    return PROVIDERS + (tuple(cls.sandbox_variants) if isinstance(cls, SandboxVariants) else ())


def recipes_of(store: str) -> type[SandboxRecipes]:
    """The backend of `store` as the capability that declares its sandboxes; one `error:` line when it has none."""
    from dbtools import backends
    from dbtools.backends.base import SandboxRecipes, lacks

    cls = backends.load(store)
    if not isinstance(cls, SandboxRecipes):
        raise lacks(store, "a sandbox", SandboxRecipes, hint="declare sandbox_recipes and sandbox_install_hint on it")
    return cls


def start(
    store: str, provider: str | None = None, *, order: Sequence[str] | None = None, **options: Any
) -> FirstThatStarts:
    """A sandbox for `store`: `provider` or DBTOOLS_SANDBOX, else the first provider that starts here.

    The order is `order`, else the order of the store's `sandbox_recipes`; a provider whose server turns
    out to be missing (no Docker engine, no server binary) hands over to the next."""
    known = providers_of(store)
    wanted = provider or os.environ.get("DBTOOLS_SANDBOX") or None
    if wanted and wanted not in known:
        raise UsageError(f"unknown sandbox provider {wanted!r} for {store}", hint=f"use one of: {', '.join(known)}")
    chosen = [wanted] if wanted else list(order or recipes_of(store).sandbox_recipes)
    return FirstThatStarts(store, chosen, options)


class FirstThatStarts:
    """Tries the providers in order when entered; `kind` names the one that started, `label` says what
    server that is (`describe()` gives both in one phrase for messages and reports)."""

    def __init__(self, store: str, order: list[str], options: dict[str, Any]) -> None:
        self.store, self.order, self.options = store, order, options
        self.kind: str | None = None
        self.label: str = ""
        self._running: Sandbox | None = None

    def describe(self) -> str:
        """`secantusdb (SecantusDB 0.7.0b3, a MongoDB-compatible development server, not mongod)`, or the kind."""
        kind = self.kind or "?"
        return f"{kind} ({self.label})" if self.label else kind

    def __enter__(self) -> Settings:
        from dbtools.backends.base import SandboxVariants

        cls = recipes_of(self.store)
        variants: Mapping[str, str] = cls.sandbox_variants if isinstance(cls, SandboxVariants) else {}
        reasons = []
        for name in self.order:
            recipe = cls.sandbox_recipes.get(name)
            if recipe is None:
                reasons.append(f"{name}: no recipe for {self.store}")
                continue
            mechanism = variants.get(name, name)
            if mechanism == "docker" and not docker_available():
                reasons.append(f"{name}: no Docker engine answers")
                continue
            try:
                sandbox = _provider(mechanism)(self.store, recipe, name=name, **self.options)
                settings = sandbox.__enter__()
            except MissingDependency as exc:
                reasons.append(f"{name}: {exc.message}")
                continue
            self.kind, self._running = name, sandbox
            self.label = sandbox.label
            return settings
        raise MissingDependency(
            f"no sandbox for {self.store} on this machine ({'; '.join(reasons)})", hint=cls.sandbox_install_hint
        )

    def __exit__(self, *exc: object) -> None:
        if self._running is not None:
            self._running.__exit__(*exc)
            self._running = None


def _provider(name: str) -> Callable[..., Sandbox]:
    if name == "local":
        from dbtools.sandbox.local import LocalSandbox

        return LocalSandbox
    if name == "embedded":
        from dbtools.sandbox.embedded import EmbeddedSandbox

        return EmbeddedSandbox
    from dbtools.sandbox.docker import DockerSandbox

    return DockerSandbox
