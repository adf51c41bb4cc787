"""Sandbox recipes: a local clickhouse-server (single or a cluster), the Docker image, embedded chdb."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbtools.errors import MissingDependency
from dbtools.settings import Settings

if TYPE_CHECKING:  # the sandbox package is for tests and onboarding: keep it off the migrate path
    from dbtools.sandbox import DockerRecipe, ServerSpec

_SERVER_CONFIG = """<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/server.err</errorlog></logger>
  <tcp_port>{port}</tcp_port><http_port>{http_port}</http_port><listen_host>127.0.0.1</listen_host>
  <path>{dir}/data/</path><tmp_path>{dir}/tmp/</tmp_path><user_files_path>{dir}/uf/</user_files_path>
  <format_schema_path>{dir}/fs/</format_schema_path>
  <users_config>users.xml</users_config><default_profile>default</default_profile>
  <default_database>default</default_database><mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>200</max_concurrent_queries>{cluster}
</yandex>
"""
_USERS = """<yandex><profiles><default/></profiles>
 <users><default><password>{password}</password><networks><ip>::/0</ip></networks>
  <profile>default</profile><quota>default</quota></default></users>
 <quotas><default/></quotas></yandex>
"""
_CLUSTER_CONFIG = """
  <interserver_http_port>{interserver}</interserver_http_port><interserver_http_host>127.0.0.1</interserver_http_host>
  <zookeeper><node><host>127.0.0.1</host><port>{zookeeper}</port></node>
    <session_timeout_ms>60000</session_timeout_ms><operation_timeout_ms>30000</operation_timeout_ms></zookeeper>
  <macros><cluster>{cluster}</cluster><shard>01</shard><replica>{replica}</replica></macros>
  <remote_servers><{cluster}><shard><internal_replication>true</internal_replication>{replicas}
  </shard></{cluster}></remote_servers>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>"""


def _server_binary() -> str:
    found = shutil.which("clickhouse-server") or next(
        (p for p in ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse") if os.path.exists(p)), None
    )
    if found is None:
        raise MissingDependency(
            "clickhouse: no clickhouse-server binary on this machine",
            hint="apt-get install clickhouse-server (or use CLICKHOUSE_URL=chdb:///dir for the embedded engine)",
        )
    return found


def local_recipe(
    workdir: Path,
    port: int,
    *,
    password: str = "",
    http_port: int | None = None,
    cluster: str | None = None,
    replica: str = "r1",
    replica_ports: Sequence[int] = (),
    zookeeper_port: int | None = None,
    interserver_port: int | None = None,
) -> ServerSpec:
    """A throwaway clickhouse-server (Debian's 18.16 works) in `workdir` on 127.0.0.1:`port`.

    With `cluster`, `zookeeper_port` and `replica_ports` it is one replica of a one-shard cluster."""
    from dbtools.sandbox import ServerSpec, free_port

    cluster_xml = ""
    if cluster:
        replicas = "".join(
            f"\n    <replica><host>127.0.0.1</host><port>{p}</port></replica>" for p in replica_ports or (port,)
        )
        cluster_xml = _CLUSTER_CONFIG.format(
            interserver=interserver_port or free_port(),
            zookeeper=zookeeper_port,
            cluster=cluster,
            replica=replica,
            replicas=replicas,
        )
    config = _SERVER_CONFIG.format(dir=workdir, port=port, http_port=http_port or free_port(), cluster=cluster_xml)
    settings = Settings("clickhouse", "clickhouse", "127.0.0.1", port, "default", "default", password, source="sandbox")
    return ServerSpec(
        argv=[_server_binary(), f"--config-file={workdir / 'config.xml'}"],
        settings=settings,
        files={"config.xml": config, "users.xml": _USERS.format(password=_xml_escape(password))},
        # throwaway data needs no clean shutdown, and 18.16's own waits ten seconds for open connections
        stop_signal=signal.SIGKILL,
    )


def docker_recipe() -> DockerRecipe:
    """The official image (testcontainers path): a current server on its native port, user default."""
    from dbtools.sandbox import DockerRecipe

    return DockerRecipe(
        image="clickhouse/clickhouse-server:25.8",
        port=9000,
        env={"CLICKHOUSE_SKIP_USER_SETUP": "1"},
        settings=lambda host, port: Settings(
            "clickhouse", "clickhouse", host, port, "dbtools_sandbox", "default", "", source="sandbox"
        ),
    )


def embedded_recipe(workdir: Path, **_options: Any) -> Settings:
    """Settings for chdb on a session directory inside `workdir` (see dbtools.sandbox.embedded)."""
    try:
        import chdb  # noqa: F401  - only to say plainly that it is missing
    except ImportError:
        raise MissingDependency("clickhouse: the chdb package is not installed", hint="pip install chdb") from None
    path = workdir / "chdb"
    return Settings("clickhouse", "chdb", "", 0, "default", "", "", path=str(path), source="sandbox")


def sandbox_probe(settings: Settings) -> None:
    """Readiness of a sandbox: the backend connects (creating the database) and disconnects - except for
    a chdb directory while this process holds another one open (chdb opens one directory per process):
    the engine is proven to run here, and opening the new directory would fail for that reason alone
    (the sandbox's users open it after, or in another process)."""
    import os

    from dbtools.backends import clickhouse
    from dbtools.backends.clickhouse.client import _OPEN_HERE

    if settings.path and any(path != os.path.realpath(settings.path) for path in _OPEN_HERE):
        return
    backend = clickhouse.ClickHouseBackend(settings)
    backend.connect(create_database=True)
    backend.close()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
