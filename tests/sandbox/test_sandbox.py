"""Throwaway servers: every store and provider that works here becomes ready, fails loudly, cleans up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from dbtools import backends
from dbtools.backends.base import SandboxVariants
from dbtools.errors import MissingDependency, UsageError
from dbtools.sandbox import (
    PROVIDERS,
    DockerRecipe,
    SandboxFailed,
    ServerSpec,
    connect_check,
    docker_available,
    free_port,
    holds_port,
    port_answers,
    providers_of,
    recipes_of,
    start,
)
from dbtools.sandbox.local import LocalSandbox
from dbtools.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _backend_or_skip(store: str) -> type:
    try:
        return backends.load(store)
    except UsageError as exc:
        pytest.skip(exc.message)


def _recipe_or_skip(store: str, provider: str) -> object:
    _backend_or_skip(store)
    recipe = recipes_of(store).sandbox_recipes.get(provider)
    if recipe is None:
        pytest.skip(f"{store} declares no {provider} recipe")
    if provider == "docker" and not docker_available():
        pytest.skip("no Docker engine answers here")
    return recipe


def _store_providers() -> list[tuple[str, str]]:
    """Every (store, provider) pair: the three mechanisms for each store, plus the variants it declares."""
    pairs = []
    for store in backends.REGISTRY:
        try:
            known = providers_of(store)
        except UsageError:  # registered, not written yet: the test skips it with the reason
            known = PROVIDERS
        pairs += [(store, provider) for provider in known]
    return pairs


@pytest.mark.parametrize(("store", "provider"), _store_providers())
def test_sandbox_becomes_ready_and_is_removed(store: str, provider: str, record_property: object) -> None:
    _recipe_or_skip(store, provider)
    started = time.monotonic()
    try:
        sandbox = start(store, provider)
        settings = sandbox.__enter__()
    except MissingDependency as exc:
        pytest.skip(f"{store}/{provider} unavailable here: {exc.message}")
    try:
        ready = time.monotonic() - started
        record_property(f"{store}_{provider}_ready_s", round(ready, 2))  # type: ignore[operator]
        print(f"{store}/{provider}: ready in {ready:.2f} s at {settings.display_url}")
        assert settings.store == store
        connect_check(settings)()  # a second, independent protocol-level check
    finally:
        sandbox.__exit__(None, None, None)
    if not settings.path:  # a server with a port: nothing answers there any more
        assert not port_answers(settings.host, settings.port)
    workdir = getattr(sandbox, "workdir", None)
    assert workdir is None or not Path(workdir).exists()


def _dying_recipe(exit_line: str, *, prepare: list[list[str]] | None = None):  # type: ignore[no-untyped-def]
    def recipe(workdir: Path, port: int) -> ServerSpec:
        settings = Settings("postgres", "postgres", "127.0.0.1", port, "x", "postgres", "", source="sandbox")
        argv = ["sh", "-c", f"echo '{exit_line}'; echo 'FATAL: marker-server-exited' >&2; exit 3"]
        return ServerSpec(argv=argv, settings=settings, prepare=prepare or [])

    return recipe


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sandboxes made by this test put their folders here, so leftovers are visible."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_server_that_exits_at_once_fails_with_log_tail_and_leaves_no_folder(own_tmp: Path) -> None:
    _backend_or_skip("postgres")
    sandbox = LocalSandbox("postgres", _dying_recipe("starting up"), timeout=20)
    started = time.monotonic()
    with pytest.raises(SandboxFailed) as caught:
        sandbox.__enter__()
    message = caught.value.message
    assert "exited before it was ready" in message
    assert "marker-server-exited" in message  # the log tail travels with the error
    assert time.monotonic() - started < 10  # noticed the death, did not wait for the timeout
    assert list(own_tmp.iterdir()) == []


def test_failed_prepare_step_names_the_command_and_leaves_no_folder(own_tmp: Path) -> None:
    _backend_or_skip("postgres")
    prepare = [["sh", "-c", "echo 'initdb: marker-prepare-broke' >&2; exit 1"]]
    sandbox = LocalSandbox("postgres", _dying_recipe("never runs", prepare=prepare))
    with pytest.raises(SandboxFailed) as caught:
        sandbox.__enter__()
    assert "marker-prepare-broke" in caught.value.message
    assert list(own_tmp.iterdir()) == []


class StoreWithoutSandboxes:
    """A registered store whose backend declares no sandbox recipes (not `SandboxRecipes`)."""

    name = "bare"


def test_store_without_sandbox_recipes_is_one_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    here = f"{__name__}:{StoreWithoutSandboxes.__name__}"
    monkeypatch.setenv(backends.EXTRA_ENV, f"{os.environ.get(backends.EXTRA_ENV, '')},bare={here}".lstrip(","))
    with pytest.raises(UsageError) as caught:
        start("bare").__enter__()
    assert caught.value.message == "a sandbox is not available for bare: its backend is not SandboxRecipes"
    assert caught.value.hint and "sandbox_recipes" in caught.value.hint


def test_unknown_provider_is_one_line_listing_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        start("postgres", "vagrant")
    assert "vagrant" in caught.value.message
    assert all(p in (caught.value.hint or "") for p in PROVIDERS)


@pytest.mark.parametrize("store", list(backends.REGISTRY))
def test_store_without_a_provider_says_what_to_install(store: str) -> None:
    _backend_or_skip(store)
    recipes = recipes_of(store).sandbox_recipes
    missing = next((p for p in PROVIDERS if p != "docker" and p not in recipes), None)
    if missing is None:
        pytest.skip(f"{store} declares every non-docker recipe")
    with pytest.raises(MissingDependency) as caught:
        start(store, missing).__enter__()
    error = caught.value
    assert "\n" not in error.message
    assert error.message.startswith(f"no sandbox for {store} on this machine")
    assert f"{missing}: no recipe for {store}" in error.message
    assert error.hint  # what to install


@pytest.mark.skipif(docker_available(), reason="a Docker engine answers here")
def test_docker_provider_without_engine_says_so_in_one_line() -> None:
    _backend_or_skip("postgres")
    assert "docker" in recipes_of("postgres").sandbox_recipes
    with pytest.raises(MissingDependency) as caught:
        start("postgres", "docker").__enter__()
    assert "docker: no Docker engine answers" in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("store", list(backends.REGISTRY))
def test_docker_recipe_is_a_value_pointing_at_the_store(store: str) -> None:
    _backend_or_skip(store)
    recipe = recipes_of(store).sandbox_recipes.get("docker")
    if recipe is None:
        pytest.skip(f"{store} declares no docker recipe")
    spec = recipe() if callable(recipe) else recipe
    assert isinstance(spec, DockerRecipe)
    assert ":" in spec.image and not spec.image.endswith(":latest")  # pinned, current image
    settings = spec.settings("127.0.0.1", 40123)
    assert (settings.store, settings.host, settings.port) == (store, "127.0.0.1", 40123)


HOLDER = textwrap.dedent(
    """
    import sys, time
    from dbtools import backends
    from dbtools.sandbox.local import LocalSandbox
    sandbox = LocalSandbox(sys.argv[1], backends.load(sys.argv[1]).sandbox_recipes[sys.argv[2]])
    settings = sandbox.__enter__()
    print(sandbox.process.pid, settings.host, settings.port, sandbox.workdir, flush=True)
    time.sleep(300)
    """
)


def _gone(pid: int) -> bool:
    """True when `pid` has exited (a zombie nobody reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _local_providers() -> list[tuple[str, str]]:
    """(store, provider) pairs whose server is a local process: `local` and the variants run by it."""
    pairs = []
    for store, provider in _store_providers():
        try:
            cls = backends.load(store)
        except UsageError:
            cls = None
        variants = cls.sandbox_variants if isinstance(cls, SandboxVariants) else {}
        if variants.get(provider, provider) == "local":
            pairs.append((store, provider))
    return pairs


@pytest.mark.parametrize(("store", "provider"), _local_providers())
def test_server_dies_with_a_parent_killed_by_sigkill(store: str, provider: str) -> None:
    _kill_holder_and_check(store, provider, HOLDER)


# A real SecantusDB whose SIGTERM handler never runs (SIGTERM ignored, its own handler not installed): a
# server whose clean shutdown hangs. It must still die with its parent, by its recipe's stop signal.
STUBBORN_SECANTUSDB = textwrap.dedent(
    """
    import signal, sys
    keep = signal.signal
    keep(signal.SIGTERM, signal.SIG_IGN)
    signal.signal = lambda signum, handler: None if signum == signal.SIGTERM else keep(signum, handler)
    from secantus.cli import main
    sys.exit(main())
    """
)

HOLDER_STUBBORN = textwrap.dedent(
    f"""
    import dataclasses, sys, time
    from dbtools import backends
    from dbtools.sandbox.local import LocalSandbox
    real = backends.load("mongodb").sandbox_recipes["secantusdb"]

    def stubborn(workdir, port):
        spec = real(workdir, port)
        return dataclasses.replace(spec, argv=[sys.executable, "-c", {STUBBORN_SECANTUSDB!r}, *spec.argv[1:]])

    sandbox = LocalSandbox("mongodb", stubborn, name="secantusdb")
    settings = sandbox.__enter__()
    print(sandbox.process.pid, settings.host, settings.port, sandbox.workdir, flush=True)
    time.sleep(300)
    """
)


def test_server_whose_sigterm_hangs_dies_with_a_parent_killed_by_sigkill() -> None:
    _kill_holder_and_check("mongodb", "secantusdb", HOLDER_STUBBORN)


def _kill_holder_and_check(store: str, provider: str, script: str) -> None:
    """Start a sandbox in a holder process, SIGKILL the holder: the server goes (well within the stop
    timeout), its port closes, and the next sandbox sweeps the folder that kill -9 left behind."""
    recipe = _recipe_or_skip(store, provider)
    holder = subprocess.Popen(
        [sys.executable, "-c", script, store, provider],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = holder.stdout.readline() if holder.stdout else ""
        if not line:
            error = holder.stderr.read() if holder.stderr else ""
            holder.wait(10)
            if "MissingDependency" in error:
                pytest.skip(f"no {provider} {store} server here: {error.strip().splitlines()[-1]}")
            pytest.fail(f"the holder process could not start a {store} sandbox:\n{error}")
        pid_text, host, port_text, workdir = line.split(maxsplit=3)
        server, port = int(pid_text), int(port_text)
        assert not _gone(server) and port_answers(host, port)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        deadline = time.monotonic() + 20  # a killed leader shows as a zombie while its threads still exit
        while (not _gone(server) or port_answers(host, port)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(server), f"{store} server pid {server} outlived its parent"
        assert not port_answers(host, port), f"{store} server pid {server} still listens after its parent died"
        assert Path(workdir.strip()).exists()  # kill -9 skipped atexit ...
        with LocalSandbox(store, recipe):
            assert not Path(workdir.strip()).exists()  # ... and the next sandbox sweeps the orphan away
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        if "server" in locals() and not _gone(server):  # the failure case: leave no server behind
            os.kill(server, signal.SIGKILL)
        if "workdir" in locals():  # kill -9 skips atexit: the folder is ours to remove
            subprocess.run(["rm", "-rf", workdir.strip()], check=False)


def _taken_first(monkeypatch: pytest.MonkeyPatch, port: int) -> list[int]:
    """Fault injection: the sandbox's first `free_port()` hands out `port`, which another program holds by
    then (the race between choosing a free port and the server binding it, made certain); later calls are
    the real ones. Returns the ports handed out."""
    handed: list[int] = []

    def chosen() -> int:
        handed.append(port if not handed else free_port())
        return handed[-1]

    monkeypatch.setattr("dbtools.sandbox.local.free_port", chosen)
    return handed


def test_a_port_taken_by_another_redis_before_ours_binds_it_is_never_mistaken_for_ours(
    own_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = _recipe_or_skip("redis", "local")
    with LocalSandbox("redis", recipe) as other:  # type: ignore[arg-type]
        handed = _taken_first(monkeypatch, other.port)
        sandbox = LocalSandbox("redis", recipe)  # type: ignore[arg-type]
        with sandbox as ours:
            assert handed[0] == other.port and ours.port == handed[-1] != other.port, handed
            assert sandbox.process is not None and holds_port(sandbox.process.pid, ours.port)
            backend = backends.load("redis")(ours)
            backend.connect()
            try:
                backend.client.set("whose", "ours")  # type: ignore[attr-defined]
            finally:
                backend.close()
            backend = backends.load("redis")(other)
            backend.connect()
            try:
                assert backend.client.get("whose") is None  # type: ignore[attr-defined]
            finally:
                backend.close()
    assert list(own_tmp.iterdir()) == []


def test_a_port_bound_by_another_program_before_postgres_binds_it_is_retried_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recipe = _recipe_or_skip("postgres", "local")  # its folders stay in /tmp: the postgres user must reach them

    def ours_in_tmp() -> set[Path]:  # this process's sandbox folders (the suite's shared servers' too)
        return {
            folder
            for folder in Path(tempfile.gettempdir()).glob("dbtools-postgres-*")
            if (folder / "owner.pid").exists() and (folder / "owner.pid").read_text() == str(os.getpid())
        }

    before = ours_in_tmp()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # bound, not listening: our server's bind fails, a connect is refused
        handed = _taken_first(monkeypatch, held.getsockname()[1])
        sandbox = LocalSandbox("postgres", recipe)  # type: ignore[arg-type]
        with sandbox as ours:
            assert len(handed) == 2 and ours.port == handed[1] != handed[0], handed
            assert sandbox.process is not None and holds_port(sandbox.process.pid, ours.port)
            connect_check(ours)()
            assert ours_in_tmp() - before == {sandbox.workdir}  # the failed first start's folder is gone


def test_free_port_is_free() -> None:
    port = free_port()
    assert not port_answers("127.0.0.1", port)


def test_a_chdb_sandbox_starts_while_this_process_holds_another_chdb_directory_open() -> None:
    """chdb opens one directory per process: the readiness check of a second embedded sandbox must not
    fail on that ("did not open ... already has another chdb directory open"); the engine is known to
    run here, and the new directory is used after, or by another process."""
    pytest.importorskip("chdb")
    from dbtools.backends.clickhouse import ClickHouseBackend
    from dbtools.backends.clickhouse.sandbox import embedded_recipe
    from dbtools.sandbox.embedded import EmbeddedSandbox

    with EmbeddedSandbox("clickhouse", embedded_recipe) as first:
        held = ClickHouseBackend(first)
        held.connect()
        try:
            with EmbeddedSandbox("clickhouse", embedded_recipe) as second:
                opens = (
                    "from dbtools.backends.clickhouse import ClickHouseBackend\n"
                    "from dbtools.settings import Settings\n"
                    "b = ClickHouseBackend(Settings('clickhouse', 'chdb', '', 0, 'default', '', '', "
                    f"path={second.path!r}))\n"
                    "b.connect(create_database=True)\nprint(b.query('SELECT 41 + 1'))\nb.close()\n"
                )
                done = subprocess.run([sys.executable, "-c", opens], capture_output=True, text=True, timeout=120)
        finally:
            held.close()
    assert done.returncode == 0 and done.stdout.strip() == "[(42,)]", done.stderr  # another process uses it
