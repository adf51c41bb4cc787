"""ClickHouse fixtures: the 18.16 server (shared, session-wide), one chdb directory per test process,
a ZooKeeper + two-replica cluster; a fresh database per test on each."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from dbtools.backends.clickhouse import ClickHouseBackend
from dbtools.backends.clickhouse.sandbox import embedded_recipe, local_recipe
from dbtools.errors import MissingDependency
from dbtools.sandbox import SandboxFailed, free_port, port_answers, wait_until
from dbtools.sandbox.embedded import EmbeddedSandbox
from dbtools.sandbox.local import LocalSandbox
from dbtools.settings import Settings
from tests.conftest import Servers, fresh_settings

ZOOKEEPER = Path("/usr/share/zookeeper/bin/zkServer.sh")
CLUSTER = "trading"


def token() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def created(settings: Settings) -> Settings:
    """`settings` after making sure its database exists."""
    backend = ClickHouseBackend(settings)
    backend.connect(create_database=True)
    backend.close()
    return settings


@pytest.fixture
def native(servers: Servers) -> Settings:
    """A fresh database on the session's clickhouse-server (Debian's 18.16), created."""
    if shutil.which("clickhouse-server") is None:
        pytest.skip("clickhouse-server is not installed (apt-get install clickhouse-server)")
    return created(fresh_settings(servers, "clickhouse"))


@pytest.fixture(scope="session")
def chdb_root() -> Iterator[Settings]:
    """One chdb directory for this test process (chdb opens one directory per process)."""
    with EmbeddedSandbox("clickhouse", embedded_recipe) as settings:
        yield settings


@pytest.fixture
def embedded(chdb_root: Settings) -> Settings:
    """A fresh database in the session's chdb directory, created."""
    return created(chdb_root.with_database(token()))


def clickhouse_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a `python -m dbtools` subprocess pointed at `settings`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "DBTOOLS_"))}
    return {**base, "CLICKHOUSE_URL": settings.url, "DBTOOLS_AUDIT": "off", **extra}  # sinks: tests/audit


@dataclass
class Cluster:
    replicas: list[Settings]  # one Settings per replica, database "default"
    zookeeper_port: int

    def database(self, name: str) -> list[Settings]:
        """Settings for database `name` through each replica, in cluster mode."""
        return [replace(s, database=name, options={"cluster": CLUSTER}) for s in self.replicas]


def _zookeeper(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    (workdir / "data").mkdir(parents=True)
    (workdir / "zoo.cfg").write_text(
        f"tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={workdir / 'data'}\nclientPort={port}\n"
        "clientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxSessionTimeout=20000\n"
    )
    env = {**os.environ, "ZOOCFGDIR": str(workdir), "ZOO_LOG_DIR": str(workdir), "ZOO_LOG4J_PROP": "WARN,CONSOLE"}
    with open(workdir / "zk.log", "ab") as log:
        return subprocess.Popen(
            [str(ZOOKEEPER), "start-foreground", str(workdir / "zoo.cfg")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """ZooKeeper and two clickhouse-server replicas of cluster `trading` (one shard) on loopback."""
    if shutil.which("clickhouse-server") is None or not ZOOKEEPER.exists():
        pytest.skip("cluster test needs clickhouse-server and zookeeper (apt-get install clickhouse-server zookeeper)")
    workdir = Path(tempfile.mkdtemp(prefix="dbtools-zk-"))
    zk_port = free_port()
    zk = _zookeeper(workdir, zk_port)
    sandboxes: list[LocalSandbox] = []
    try:

        def zookeeper_answers() -> None:
            if not port_answers("127.0.0.1", zk_port):
                raise OSError("no answer yet")

        wait_until(
            zookeeper_answers,
            timeout=30,
            what=f"zookeeper on {zk_port}",
            alive=lambda: zk.poll() is None,
            log=workdir / "zk.log",
        )
        ports = [free_port(), free_port()]
        replicas = []
        for index, port in enumerate(ports):
            sandbox = LocalSandbox(
                "clickhouse",
                local_recipe,
                port=port,
                cluster=CLUSTER,
                replica=f"r{index + 1}",
                replica_ports=ports,
                zookeeper_port=zk_port,
            )
            replicas.append(sandbox.__enter__())
            sandboxes.append(sandbox)
        yield Cluster(replicas, zk_port)
    except (MissingDependency, SandboxFailed) as exc:
        pytest.skip(f"no ClickHouse cluster here: {exc.message}")
    finally:
        for sandbox in sandboxes:
            sandbox.stop()
        if zk.poll() is None:
            os.killpg(zk.pid, signal.SIGTERM)
            try:
                zk.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(zk.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)


def wait_for_rows(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll `check` (replication is asynchronous for data we did not sync)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for replication"
        time.sleep(0.1)
