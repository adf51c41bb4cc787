"""Backup and restore of `seed --scale medium` data: dbtools beside the plain tools alone.

    .venv/bin/python bench/bench_backup.py [--rounds 5] [--stores postgres,clickhouse,redis]

Per store, on a throwaway server (dbtools.sandbox), each round runs both sides in an order that
alternates per round: dbtools' `backup()` / `restore()` (library calls: folder, manifest, SHA-256,
version and emptiness checks included) and the plain tool doing the same data work:

- postgres: `pg_dump -Fc` / `pg_restore --single-transaction --no-owner --no-acl` (same flags dbtools uses);
- clickhouse (chdb, current engine): `BACKUP DATABASE ... TO File()` / `RESTORE ... AS` in a session
  started with backups.allowed_path;
- clickhouse 18.16 server (`--ch-rows`, synthetic rows: the project's DDL needs a current server):
  `clickhouse-client ... FORMAT Native` per table / `INSERT ... FORMAT Native`;
- redis: SCAN + pipelined DUMP/PTTL to a file / pipelined RESTORE ... REPLACE (the method without dbtools).

Prints medians (seconds), the median of per-round ratios dbtools/plain, and whether it is under 1.10.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["DBTOOLS_AUDIT"] = "off"  # the runs must not write audit rows to the machine's stores

from dbtools import backends, backup, runner
from dbtools.sandbox import start
from dbtools.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "migrations"


def timed(action: Callable[[], Any]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def compare(
    label: str, rounds: int, ours: Callable[[int], Callable[[], Any]], plain: Callable[[int], Callable[[], Any]]
):
    """Run both sides `rounds` times, alternating which goes first; `ours(i)` prepares and returns the timed call."""
    mine, theirs, ratios = [], [], []
    for i in range(rounds):
        pair = [("dbtools", ours), ("plain", plain)]
        if i % 2:
            pair.reverse()
        seconds = {}
        for name, make in pair:
            seconds[name] = timed(make(i))
        mine.append(seconds["dbtools"])
        theirs.append(seconds["plain"])
        ratios.append(seconds["dbtools"] / seconds["plain"])
    ratio = statistics.median(ratios)
    verdict = "ok" if ratio < 1.10 else "OVER 10%"
    print(
        f"{label:<34} dbtools {statistics.median(mine):7.3f} s   plain {statistics.median(theirs):7.3f} s   "
        f"ratio {ratio:5.3f}  ({verdict}; per round {', '.join(f'{r:.2f}' for r in ratios)})",
        flush=True,
    )


def seed(store: str, settings: Settings) -> None:
    from dbtools.seed import dataset, load

    runner.migrate(store, migrations_dir=MIGRATIONS, settings=settings, create_db=True)
    load(
        store,
        dataset.build(42, "medium", datetime(2026, 11, 1, tzinfo=UTC)),
        settings=settings,
        migrations_dir=MIGRATIONS,
    )


def connected(settings: Settings) -> Any:
    backend = backends.load(settings.store)(settings)
    backend.connect(create_database=True)
    return backend


# -- PostgreSQL ------------------------------------------------------------------------------------


def bench_postgres(rounds: int, work: Path, extra: int) -> None:
    with start("postgres", "local") as base:
        source = base.with_database("bench_src")
        seed("postgres", source)
        backend = connected(source)
        if extra:  # a bigger table, so the per-row work outweighs fixed costs
            backend._query(
                "CREATE TABLE bench_extra AS SELECT g AS id, md5(g::text) AS a, now() - g * interval '1 s' AS at, "
                f"g * 1.5 AS v FROM generate_series(1, {extra}) g"
            )
        from dbtools.backends.postgres.backup import tool

        pg_dump, _ = tool(backend, "pg_dump")
        pg_restore, _ = tool(backend, "pg_restore")
        backend.close()
        folders: list[Path] = []
        conn = [f"--host={base.host}", f"--port={base.port}", f"--username={base.user}", "--no-password"]

        def ours_backup(i: int) -> Callable[[], Any]:
            return lambda: folders.append(
                backup.backup("postgres", work / f"pg{i}", settings=source, migrations_dir=MIGRATIONS)
            )

        def plain_backup(i: int) -> Callable[[], Any]:
            out = work / f"plain{i}.dump"
            return lambda: subprocess.run(
                [pg_dump, "--format=custom", f"--file={out}", *conn, "--dbname=bench_src"], check=True
            )

        compare("postgres backup (pg_dump -Fc)", rounds, ours_backup, plain_backup)
        print(f"  dump size {(folders[0] / 'postgres.dump').stat().st_size / 1e6:.2f} MB", flush=True)

        def fresh(name: str) -> Settings:
            target = base.with_database(name)
            connected(target).close()
            return target

        def ours_restore(i: int) -> Callable[[], Any]:
            target = fresh(f"ours_{i}")
            return lambda: backup.restore("postgres", folders[0], settings=target, migrations_dir=MIGRATIONS)

        def plain_restore(i: int) -> Callable[[], Any]:
            fresh(f"plain_{i}")
            argv = [
                pg_restore,
                "--exit-on-error",
                "--single-transaction",
                "--no-owner",
                "--no-acl",
                *conn,
                f"--dbname=plain_{i}",
                str(folders[0] / "postgres.dump"),
            ]
            return lambda: subprocess.run(argv, check=True)

        compare("postgres restore (pg_restore)", rounds, ours_restore, plain_restore)


# -- ClickHouse: chdb ------------------------------------------------------------------------------


def bench_chdb(rounds: int, work: Path) -> None:
    from chdb import session

    with start("clickhouse", "embedded") as base:
        source = base.with_database("bench_src")
        seed("clickhouse", source)
        folders: list[Path] = []

        def plain_session(statement: str, allowed: Path) -> None:
            plain = session.Session(f"{base.path}?backups.allowed_path={allowed}")
            try:
                plain.query(statement)
            finally:
                plain.close()

        def ours_backup(i: int) -> Callable[[], Any]:
            return lambda: folders.append(
                backup.backup("clickhouse", work / f"ch{i}", settings=source, migrations_dir=MIGRATIONS)
            )

        def plain_backup(i: int) -> Callable[[], Any]:
            out = work / f"chplain{i}"
            out.mkdir()
            return lambda: plain_session(f"BACKUP DATABASE bench_src TO File('{out}/b')", out)

        compare("clickhouse chdb backup (BACKUP)", rounds, ours_backup, plain_backup)
        size = sum(p.stat().st_size for p in folders[0].rglob("*") if p.is_file())
        print(f"  backup size {size / 1e6:.2f} MB, method {backup.read_manifest(folders[0])['method']}", flush=True)

        def ours_restore(i: int) -> Callable[[], Any]:
            target = base.with_database(f"ours_{i}")
            connected(target).close()
            return lambda: backup.restore("clickhouse", folders[0], settings=target, migrations_dir=MIGRATIONS)

        def plain_restore(i: int) -> Callable[[], Any]:
            statement = f"RESTORE DATABASE bench_src AS plain_{i} FROM File('{folders[0]}/clickhouse')"
            return lambda: plain_session(statement, folders[0])

        compare("clickhouse chdb restore (RESTORE)", rounds, ours_restore, plain_restore)


# -- ClickHouse: the 18.16 server ------------------------------------------------------------------


def bench_clickhouse_server(rounds: int, work: Path, rows: int) -> None:
    if shutil.which("clickhouse-server") is None:
        print("clickhouse 18.16: skipped (apt-get install clickhouse-server clickhouse-client)")
        return
    with start("clickhouse", "local") as base:
        source = base.with_database("bench_src")
        b = connected(source)
        b._query(
            "CREATE TABLE bench_src.ohlcv (symbol String, ts DateTime, o Float64, h Float64, l Float64, "
            "c Float64, v UInt64) ENGINE = MergeTree ORDER BY (symbol, ts)"
        )
        b._query(
            f"INSERT INTO bench_src.ohlcv SELECT concat('S', toString(number % 12)), toDateTime(1.7e9 + number), "
            f"number / 7, number / 6, number / 8, number / 7.5, number % 1000 FROM numbers({rows})"
        )
        b._query(
            "CREATE TABLE bench_src.ticks (symbol String, ts DateTime, price Float64) ENGINE = MergeTree "
            "ORDER BY (symbol, ts)"
        )
        b._query(
            f"INSERT INTO bench_src.ticks SELECT concat('S', toString(number % 12)), toDateTime(1.7e9 + number), "
            f"number / 3 FROM numbers({rows // 4})"
        )
        b.close()
        folders: list[Path] = []
        cfg = work / "client.xml"
        cfg.write_text(f"<config><host>{base.host}</host><port>{base.port}</port><user>default</user></config>")

        def client(query: str, **io: Any) -> None:
            subprocess.run(["clickhouse-client", f"--config-file={cfg}", "--query", query], check=True, **io)

        def ours_backup(i: int) -> Callable[[], Any]:
            return lambda: folders.append(
                backup.backup("clickhouse", work / f"srv{i}", settings=source, migrations_dir=MIGRATIONS)
            )

        def plain_backup(i: int) -> Callable[[], Any]:
            def run() -> None:
                for table in ("ohlcv", "ticks"):
                    with open(work / f"srvplain{i}_{table}.native", "wb") as out:
                        client(f"SELECT * FROM bench_src.{table} FORMAT Native", stdout=out)

            return run

        compare("clickhouse 18.16 backup (Native)", rounds, ours_backup, plain_backup)

        def ours_restore(i: int) -> Callable[[], Any]:
            target = base.with_database(f"ours_{i}")
            connected(target).close()
            return lambda: backup.restore("clickhouse", folders[0], settings=target, migrations_dir=MIGRATIONS)

        def plain_restore(i: int) -> Callable[[], Any]:
            b = connected(base.with_database(f"plain_{i}"))
            for table in ("ohlcv", "ticks"):
                b._query(f"CREATE TABLE plain_{i}.{table} AS bench_src.{table}")
            b.close()

            def run() -> None:
                for table in ("ohlcv", "ticks"):
                    with open(work / f"srvplain0_{table}.native", "rb") as rows_in:
                        client(f"INSERT INTO plain_{i}.{table} FORMAT Native", stdin=rows_in)

            return run

        compare("clickhouse 18.16 restore (Native)", rounds, ours_restore, plain_restore)


# -- Redis -----------------------------------------------------------------------------------------


def bench_redis(rounds: int, work: Path, extra: int) -> None:
    import struct

    with start("redis", "local") as base:
        source = base.with_database("1")
        seed("redis", source)
        folders: list[Path] = []
        r = connected(source)
        pipe = r._r.pipeline(transaction=False)
        for i in range(extra):
            pipe.set(f"extra:{i}", f"value {i} " * 4, ex=3600 if i % 3 else None)
            if i % 5000 == 4999:
                pipe.execute()
        pipe.execute()
        print(f"  redis keys: {r._r.dbsize()}", flush=True)
        r.close()

        def raw(settings: Settings) -> Any:
            b = backends.load("redis")(settings)
            return b._client(decode=False)

        def ours_backup(i: int) -> Callable[[], Any]:
            return lambda: folders.append(
                backup.backup("redis", work / f"r{i}", settings=source, migrations_dir=MIGRATIONS)
            )

        def plain_backup(i: int) -> Callable[[], Any]:
            def run() -> None:
                client = raw(source)
                with open(work / f"rplain{i}", "wb") as out:
                    cursor = 0
                    while True:
                        cursor, batch = client.scan(cursor, count=1000)
                        pipe = client.pipeline(transaction=False)
                        for key in batch:
                            pipe.pttl(key)
                            pipe.dump(key)
                        answers = pipe.execute()
                        for key, pttl, value in zip(batch, answers[::2], answers[1::2], strict=True):
                            if value is not None:
                                out.write(struct.pack(">IqI", len(key), pttl, len(value)) + key + value)
                        if cursor == 0:
                            break
                client.close()

            return run

        compare("redis backup (DUMP/PTTL)", rounds, ours_backup, plain_backup)

        def ours_restore(i: int) -> Callable[[], Any]:
            target = base.with_database(str(2 + 2 * i))
            return lambda: backup.restore("redis", folders[0], settings=target, migrations_dir=MIGRATIONS)

        def plain_restore(i: int) -> Callable[[], Any]:
            def run() -> None:
                client = raw(base.with_database(str(3 + 2 * i)))
                with open(work / "rplain0", "rb") as dump:
                    pipe = client.pipeline(transaction=False)
                    while head := dump.read(16):
                        key_len, pttl, value_len = struct.unpack(">IqI", head)
                        pipe.restore(dump.read(key_len), max(pttl, 0), dump.read(value_len), replace=True)
                    pipe.execute()
                client.close()

            return run

        compare("redis restore (RESTORE REPLACE)", rounds, ours_restore, plain_restore)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stores", default="postgres,chdb,clickhouse,redis")
    parser.add_argument("--extra", type=int, default=0, help="extra rows (postgres) / keys (redis)")
    parser.add_argument("--ch-rows", type=int, default=2_000_000, help="rows for the 18.16 server's table")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dbtools-bench-backup-"))
    try:
        for store in args.stores.split(","):
            print(f"== {store}", flush=True)
            if store == "postgres":
                bench_postgres(args.rounds, work, args.extra)
            elif store == "chdb":
                bench_chdb(args.rounds, work)
            elif store == "clickhouse":
                bench_clickhouse_server(args.rounds, work, args.ch_rows)
            elif store == "redis":
                bench_redis(args.rounds, work, args.extra)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
