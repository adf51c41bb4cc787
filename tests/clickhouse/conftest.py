"""ClickHouse fixtures: the 18.16 server (shared, session-wide), one chdb directory per test process,
a ZooKeeper + two-replica cluster; a fresh database per test on each."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dbtools.backends.clickhouse import ClickHouseBackend
from dbtools.backends.clickhouse.sandbox import embedded_recipe, local_recipe
from dbtools.errors import MissingDependency
from dbtools.sandbox import SandboxFailed, free_port, wait_until
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
        return [s._replace(database=name, options={"cluster": CLUSTER}) for s in self.replicas]


def _zookeeper(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    (workdir / "data").mkdir(parents=True)
    (workdir / "zoo.cfg").write_text(
        f"tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={workdir / 'data'}\nclientPort={port}\n"
        "clientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxSessionTimeout=60000\n"
    )
    env = {
        **os.environ,
        "ZOOCFGDIR": str(workdir),
        "ZOO_LOG_DIR": str(workdir),
        "ZOO_LOG4J_PROP": "WARN,CONSOLE",
        "JVMFLAGS": "-Xmx256m",
    }
    with open(workdir / "zk.log", "ab") as log:
        return subprocess.Popen(
            [str(ZOOKEEPER), "start-foreground", str(workdir / "zoo.cfg")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _zookeeper_serves(port: int) -> None:
    """ZooKeeper answers `srvr` with its mode once it serves (it accepts connections before that)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"srvr")
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
    if b"Mode:" not in reply:
        raise OSError(f"zookeeper is not serving yet: {reply[:80]!r}")


def _distributed_ddl_runs(replicas: list[Settings]) -> None:
    """Every replica holds a ZooKeeper session and sees the whole cluster, and one ON CLUSTER statement
    is carried out by every replica: what the cluster tests stand on (a replica that answers queries may
    still be connecting to ZooKeeper or starting its DDL worker)."""
    from clickhouse_driver import Client

    for settings in replicas:
        client = Client(settings.host, port=settings.port, user=settings.user, password=settings.password)
        try:
            client.execute("SELECT count() FROM system.zookeeper WHERE path = '/'")
            hosts = client.execute(f"SELECT count() FROM system.clusters WHERE cluster = '{CLUSTER}'")[0][0]
            if hosts != len(replicas):
                raise OSError(f"{settings.address} sees {hosts} of {len(replicas)} replicas")
        finally:
            client.disconnect()
    first = replicas[0]
    client = Client(
        first.host,
        port=first.port,
        user=first.user,
        password=first.password,
        send_receive_timeout=60,
        settings={"distributed_ddl_task_timeout": 30},
    )
    try:
        done = client.execute(f"CREATE DATABASE IF NOT EXISTS dbtools_ready ON CLUSTER {CLUSTER}")
    finally:
        client.disconnect()
    if len(done) != len(replicas) or any(row[2] != 0 for row in done):
        raise OSError(f"distributed DDL not carried out by every replica: {done}")


def _distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _start_replicas(zk_port: int, sandboxes: list[LocalSandbox]) -> list[Settings]:
    """Both replicas on ports chosen together (so no port is handed out twice), started one by one."""
    ports = _distinct_ports(6)
    tcp, http, interserver = ports[:2], ports[2:4], ports[4:]
    replicas = []
    for index, port in enumerate(tcp):
        sandbox = LocalSandbox(
            "clickhouse",
            local_recipe,
            timeout=120,
            port=port,
            http_port=http[index],
            interserver_port=interserver[index],
            cluster=CLUSTER,
            replica=f"r{index + 1}",
            replica_ports=tcp,
            zookeeper_port=zk_port,
        )
        sandboxes.append(sandbox)
        replicas.append(sandbox.__enter__())
    return replicas


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """ZooKeeper and two clickhouse-server replicas of cluster `trading` (one shard) on loopback, handed
    out only once ZooKeeper serves and every replica carries out distributed DDL."""
    if shutil.which("clickhouse-server") is None or not ZOOKEEPER.exists():
        pytest.skip("cluster test needs clickhouse-server and zookeeper (apt-get install clickhouse-server zookeeper)")
    workdir = Path(tempfile.mkdtemp(prefix="dbtools-zk-"))
    zk_port = free_port()
    zk = _zookeeper(workdir, zk_port)
    sandboxes: list[LocalSandbox] = []
    try:
        wait_until(
            lambda: _zookeeper_serves(zk_port),
            timeout=120,
            what=f"zookeeper on {zk_port}",
            alive=lambda: zk.poll() is None,
            log=workdir / "zk.log",
        )
        for attempt in range(3):  # a port taken by another process between choosing and binding: choose again
            try:
                replicas = _start_replicas(zk_port, sandboxes)
                break
            except SandboxFailed as exc:
                for sandbox in sandboxes:
                    sandbox.stop()
                sandboxes.clear()
                if attempt == 2 or "Address already in use" not in exc.message:
                    raise
    except (MissingDependency, SandboxFailed) as exc:
        _stop_cluster(zk, sandboxes, workdir)
        pytest.skip(f"no ClickHouse cluster here: {exc.message}")
    try:
        # a started cluster that never carries out distributed DDL is a failure, not a reason to skip
        wait_until(
            lambda: _distributed_ddl_runs(replicas),
            timeout=180,
            what="distributed DDL on every replica of the cluster",
            alive=lambda: zk.poll() is None and all(s.process and s.process.poll() is None for s in sandboxes),
        )
        yield Cluster(replicas, zk_port)
    finally:
        _stop_cluster(zk, sandboxes, workdir)


def _stop_cluster(zk: subprocess.Popen[bytes], sandboxes: list[LocalSandbox], workdir: Path) -> None:
    for sandbox in sandboxes:
        sandbox.stop()
    sandboxes.clear()
    if zk.poll() is None:
        os.killpg(zk.pid, signal.SIGTERM)
        try:
            zk.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(zk.pid, signal.SIGKILL)
            zk.wait(10)
    shutil.rmtree(workdir, ignore_errors=True)


def wait_for_rows(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll `check` (replication is asynchronous for data we did not sync)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for replication"
        time.sleep(0.1)
