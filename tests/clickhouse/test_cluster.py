"""Cluster mode on a real cluster: ZooKeeper + two clickhouse-server 18.16 replicas on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dbtools import runner
from dbtools.backends.clickhouse import ClickHouseBackend

from .conftest import Cluster, clickhouse_env, token


def write_cluster_migrations(mdir: Path, database: str, count: int) -> None:
    folder = mdir / "clickhouse"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, count + 1):
        (folder / f"{i:03d}_events_{i}.sql").write_text(
            "-- migrate:up\n"
            f"CREATE TABLE events_{i} ON CLUSTER '{{cluster}}' (id UInt64, at DateTime) ENGINE = "
            f"ReplicatedMergeTree('/clickhouse/tables/{{shard}}/{database}/events_{i}', '{{replica}}') ORDER BY id;\n"
            f"CREATE TABLE plain_{i} (id UInt32) ENGINE = MergeTree ORDER BY id;\n"
            "-- migrate:down\n"
            f"DROP TABLE plain_{i};\nDROP TABLE events_{i} ON CLUSTER '{{cluster}}';\n"
        )


def tables(settings) -> set[str]:  # type: ignore[no-untyped-def]
    backend = ClickHouseBackend(settings)
    backend.connect()
    try:
        return {row[0] for row in backend.snapshot()["tables"]}
    finally:
        backend.close()


def test_applied_through_replica_1_shows_as_applied_through_replica_2(cluster: Cluster, tmp_path: Path) -> None:
    database = token()
    one, two = cluster.database(database)
    write_cluster_migrations(tmp_path, database, 2)
    done = runner.migrate("clickhouse", migrations_dir=tmp_path, settings=one, create_db=True)
    assert [row.version for row in done] == [1, 2]
    state = runner.status("clickhouse", migrations_dir=tmp_path, settings=two)
    assert (state["applied"], state["pending"]) == ([1, 2], [])
    assert {"events_1", "events_2", "plain_1", "plain_2"} <= tables(two)  # DDL ran on every replica
    assert runner.migrate("clickhouse", migrations_dir=tmp_path, settings=two) == []
    assert runner.rollback("clickhouse", steps=1, migrations_dir=tmp_path, settings=two) == [2]
    assert runner.status("clickhouse", migrations_dir=tmp_path, settings=one)["applied"] == [1]
    assert "events_2" not in tables(one)


def test_runners_on_different_replicas_apply_each_version_once(cluster: Cluster, tmp_path: Path) -> None:
    database = token()
    one, two = cluster.database(database)
    write_cluster_migrations(tmp_path, database, 4)
    setup = ClickHouseBackend(one)
    setup.connect(create_database=True)
    setup.close()
    argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(tmp_path), "migrate", "--db", "clickhouse"]
    runs = [
        subprocess.Popen(
            argv,
            env=clickhouse_env(settings, CLICKHOUSE_CLUSTER="trading"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for settings in (one, two)
    ]
    outputs = [run.communicate(timeout=600) for run in runs]  # a loaded machine: ON CLUSTER is slow
    assert [run.returncode for run in runs] == [0, 0], outputs
    applied = [line for out, _ in outputs for line in out.splitlines() if ": applied" in line]
    assert len(applied) == 4, outputs
    for settings in (one, two):
        rows = runner.status("clickhouse", migrations_dir=tmp_path, settings=settings)
        assert rows["applied"] == [1, 2, 3, 4]
