"""Local provider: run the store's own server binary on a free port in a temporary folder."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbtools.errors import SandboxFailed
from dbtools.sandbox import Provider, ServerSpec, connect_check, free_port, holds_port, port_answers, wait_until
from dbtools.settings import Settings, mask

_RUNNING: weakref.WeakSet[LocalSandbox] = weakref.WeakSet()
PR_SET_PDEATHSIG = 1
PORT_TRIES = 5  # free ports tried when another program takes the chosen one before our server binds it


class _PortTaken(Exception):
    """Another program took the port between `free_port()` and our server binding it."""


def _die_with_parent(signum: int) -> Callable[[], None]:
    """A preexec function: the child gets `signum` (its recipe's stop signal) when the parent dies, so a
    crashed test run leaves no server. A server stopped with SIGKILL (SecantusDB, whose SIGTERM handler
    shuts down in seconds, or not at all while a thread hangs) gets SIGKILL here too. A parent that died
    before the child asked for the signal is caught by the parent-pid check."""
    parent = os.getpid()

    def arm() -> None:
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:
            os.kill(os.getpid(), signum)

    return arm


class LocalSandbox(Provider):
    """`with LocalSandbox("postgres", recipe) as settings:` - a server of our own, removed on exit.

    `recipe(workdir, port, **options) -> ServerSpec` comes from the store's module; `name` is the provider
    name messages use (`local`, or a variant such as `secantusdb`)."""

    def __init__(
        self,
        store: str,
        recipe: Callable[..., ServerSpec],
        *,
        timeout: float = 60.0,
        name: str = "local",
        **options: Any,
    ):
        self.store = store
        self.recipe = recipe
        self.timeout = timeout
        self.name = name
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None
        self.settings: Settings | None = None
        self.log: Path | None = None
        self.label = ""
        self._stop_signal: int = signal.SIGTERM

    def _start(self) -> Settings:
        """Start on a free port; when another program takes it before our server binds it (a check-then-bind
        race), start again from scratch on another, up to PORT_TRIES times. A port the caller chose is
        tried once."""
        _sweep_orphans(self.store)
        asked: int | None = self.options.pop("port", None)
        for _ in range(1 if asked else PORT_TRIES):
            port = asked or free_port()
            try:
                return self._start_on(port)
            except _PortTaken:
                self.stop()  # our server (if it still runs) and its folder
        raise SandboxFailed(
            f"{self.store} sandbox ({self.name}): port {port} was taken by another program before the server "
            f"could listen on it ({'the port asked for' if asked else f'{PORT_TRIES} free ports tried'})",
            hint="choose another port" if asked else "something on this machine grabs free ports at once; retry",
        )

    def _start_on(self, port: int) -> Settings:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"dbtools-{self.store}-"))
        (self.workdir / "owner.pid").write_text(str(os.getpid()))
        spec = self.recipe(self.workdir, port, **self.options)
        self.label, self._stop_signal = spec.label, spec.stop_signal
        user = spec.run_as if os.geteuid() == 0 and spec.run_as else None
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
        for relative, content in spec.files.items():
            path = self.workdir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            if user:
                os.chown(path, entry.pw_uid, entry.pw_gid)
        env = {**os.environ, **spec.env}
        self.log = self.workdir / "server.log"
        for argv in spec.prepare:
            done = subprocess.run(argv, env=env, user=user, cwd=self.workdir, capture_output=True, text=True)
            if done.returncode:
                output = (done.stderr or done.stdout).strip()[-400:]
                raise SandboxFailed(
                    f"{self.store} sandbox ({self.name}): `{' '.join(argv[:2])}` failed: {output}",
                    hint="see the message; is the server package complete?",
                )
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                spec.argv,
                env=env,
                user=user,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent(self._stop_signal),
                start_new_session=True,
            )
        _RUNNING.add(self)
        what = f"{self.store} ({self.describe()}) on {spec.settings.address}"
        try:
            wait_until(
                connect_check(spec.settings),
                timeout=self.timeout,
                what=what,
                alive=lambda: self.process is not None and self.process.poll() is None,
                log=self.log,
            )
        except SandboxFailed as exc:  # a server log may echo its configuration, password included
            if self._lost_port(port):
                raise _PortTaken from None
            raise SandboxFailed(mask(exc.message, spec.settings), hint=exc.hint) from None
        if holds_port(self.process.pid, port) is False:  # what answered is another program's server
            raise _PortTaken
        self.settings = spec.settings
        return spec.settings

    def _lost_port(self, port: int) -> bool:
        """Whether our server exited because another program had taken its port (or one of its ports)."""
        if self.process is None or self.process.poll() is None:
            return False
        said = self.log.read_text(errors="replace") if self.log is not None and self.log.exists() else ""
        return "address already in use" in said.lower() or port_answers("127.0.0.1", port)

    def describe(self) -> str:
        """The provider's name and, when the recipe gave one, what the server is."""
        return f"{self.name}: {self.label}" if self.label else self.name

    def stop(self) -> None:
        """Stop the server (its recipe's signal, then KILL after 10 s) and delete its folder."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, self._stop_signal)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.process = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def _sweep_orphans(store: str) -> None:
    """Delete folders of sandboxes whose owner died without cleaning up (kill -9 skips atexit; the
    server itself died with it, see _die_with_parent)."""
    for folder in Path(tempfile.gettempdir()).glob(f"dbtools-{store}-*"):
        pid_file = folder / "owner.pid"
        try:
            os.kill(int(pid_file.read_text()), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):  # no pid file (another provider's folder) or not ours to judge
            continue


@atexit.register
def _stop_all() -> None:
    for sandbox in list(_RUNNING):
        sandbox.stop()
