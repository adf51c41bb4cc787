"""Seed throughput per store beside the store's own floor on this machine, in one run.

    .venv/bin/python bench/bench_seed.py [--candles 1000000] [--rounds 3]

- ClickHouse (chdb, the current engine): dbtools' loader inserting N generated candles into ohlcv_data,
  against the floor `INSERT INTO ohlcv_data SELECT ... FROM numbers(N)` (the engine making the rows itself).
- PostgreSQL (a throwaway server with fsync on): dbtools' COPY loader for the large scale's tables,
  against COPY of the same rows already rendered to text (the floor: no Python per row).
- Redis (a throwaway redis-server): dbtools' pipeline loader for the Redis tables, against the same
  commands sent pre-built in one pipeline.
Generation time (numpy) is reported separately; ratios compare loading only, median of the rounds.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from datetime import UTC, datetime

import numpy as np

from dbtools import runner
from dbtools.audit import audit_suspended, discard
from dbtools.backends.clickhouse import ClickHouseBackend
from dbtools.backends.postgres import PostgresBackend
from dbtools.backends.postgres.load import _copy_chunks
from dbtools.backends.redis import RedisBackend
from dbtools.sandbox import start
from dbtools.seed import dataset, market
from dbtools.seed.table import Table

UNTIL = datetime(2026, 11, 1, tzinfo=UTC)


def candles_table(n: int) -> Table:
    """N one-minute candles over as many symbols as needed (a month each)."""
    rng = np.random.default_rng(1)
    per_symbol = 30 * 1440
    parts = [
        market.minute_candles(rng, f"SYM{i}", 1_700_000_000_000, per_symbol, 100.0 + i)
        for i in range(-(-n // per_symbol))
    ]
    cut = lambda values: np.concatenate(values)[:n]  # noqa: E731
    return Table(
        "ohlcv_data",
        {
            "exchange": np.full(n, "binance", dtype=object),
            "symbol": cut([np.full(per_symbol, p.symbol, dtype=object) for p in parts]),
            "timeframe": np.full(n, "1m", dtype=object),
            "open_time": cut([p.open_time for p in parts]).astype("datetime64[ms]"),
            "open": cut([p.open for p in parts]),
            "high": cut([p.high for p in parts]),
            "low": cut([p.low for p in parts]),
            "close": cut([p.close for p in parts]),
            "volume": cut([p.volume for p in parts]),
            "quote_volume": cut([p.volume * p.close for p in parts]),
            "trades_count": cut([p.trades_count for p in parts]),
        },
    )


FLOOR_SQL = """INSERT INTO ohlcv_data SELECT 'binance', concat('SYM', toString(intDiv(number, 43200))), '1m',
    toDateTime64(1700000000 + (number % 43200) * 60, 3, 'UTC'), 100 + rand() / 4e9, 101 + rand() / 4e9,
    99 + rand() / 4e9, 100 + rand() / 4e9, rand() / 4e6, rand() / 4e4, rand() % 100, now64(3)
    FROM numbers({n})"""


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bench_clickhouse(n: int, rounds: int) -> tuple[float, float]:
    table = candles_table(n)
    ours, floor = [], []
    with start("clickhouse", "embedded") as settings:
        runner.migrate("clickhouse", migrations_dir="migrations", settings=settings, create_db=True, report=discard)
        backend = ClickHouseBackend(settings)
        backend.connect()
        for _ in range(rounds):
            backend.wipe(["ohlcv_data"])
            ours.append(timed(lambda: backend.load(table)))
            backend.wipe(["ohlcv_data"])
            floor.append(timed(lambda: backend._query(FLOOR_SQL.format(n=n))))
        backend.close()
    return statistics.median(ours), statistics.median(floor)


def bench_postgres(data: dataset.Dataset, rounds: int) -> tuple[int, float, float]:
    tables = data.stores["postgres"]
    rendered = {t.target: [chunk.getvalue() for chunk in _copy_chunks(t, 50_000)] for t in tables}
    rows = sum(len(t) for t in tables)
    ours, floor = [], []
    with start("postgres", "local", durable=True) as settings:
        runner.migrate("postgres", migrations_dir="migrations", settings=settings, create_db=True, report=discard)
        backend = PostgresBackend(settings)
        backend.connect()
        targets = [t.target for t in tables]

        def load_ours() -> None:
            with backend.batch():
                for t in tables:
                    backend.load(t)

        def load_floor() -> None:
            with backend.batch(), backend._conn.cursor() as cur:
                for t in tables:
                    columns = ", ".join(f'"{c}"' for c in t.columns)
                    for text in rendered[t.target]:
                        cur.copy_expert(f'COPY "{t.target}" ({columns}) FROM STDIN', io.StringIO(text))

        for _ in range(rounds):
            backend.wipe(targets)
            ours.append(timed(load_ours))
            backend.wipe(targets)
            floor.append(timed(load_floor))
        backend.close()
    return rows, statistics.median(ours), statistics.median(floor)


def bench_redis(data: dataset.Dataset, rounds: int) -> tuple[int, float, float]:
    tables = data.stores["redis"]
    rows = sum(len(t) for t in tables)
    ours, floor = [], []
    with start("redis", "local") as settings:
        backend = RedisBackend(settings)
        backend.connect()
        r = backend._r
        commands = []
        for t in tables:
            for row in t.rows():
                commands.append(("DEL", row["key"]))
                if "items" in row:
                    commands.append(("RPUSH", row["key"], *row["items"]))
                elif "fields" in row:
                    commands.append(("HSET", row["key"], *[x for kv in row["fields"].items() for x in kv]))
                else:
                    commands.append(("SET", row["key"], row["value"]))
                if row.get("ttl"):
                    commands.append(("EXPIRE", row["key"], int(row["ttl"])))

        def load_floor() -> None:
            pipe = r.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            pipe.execute()

        for _ in range(rounds):
            r.flushdb()
            ours.append(timed(lambda: [backend.load(t) for t in tables]))
            r.flushdb()
            floor.append(timed(load_floor))
        backend.close()
    return rows, statistics.median(ours), statistics.median(floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with audit_suspended():
        started = time.perf_counter()
        data = dataset.build(42, "large", UNTIL)
        print(
            f"generation of the large scale: {time.perf_counter() - started:.2f} s "
            f"({sum(len(t) for ts in data.stores.values() for t in ts):,} rows in all)"
        )
        n = args.candles
        ours, floor = bench_clickhouse(n, args.rounds)
        print(
            f"clickhouse (chdb)  {n:>10,} candles  dbtools {ours:6.2f} s {n / ours:>12,.0f} rows/s | "
            f"floor INSERT SELECT numbers() {floor:6.2f} s {n / floor:>12,.0f} rows/s | ratio {ours / floor:.2f}x"
        )
        rows, ours, floor = bench_postgres(data, args.rounds)
        print(
            f"postgres (COPY)    {rows:>10,} rows     dbtools {ours:6.2f} s {rows / ours:>12,.0f} rows/s | "
            f"floor COPY of prepared text  {floor:6.2f} s {rows / floor:>12,.0f} rows/s | ratio {ours / floor:.2f}x"
        )
        rows, ours, floor = bench_redis(data, args.rounds)
        print(
            f"redis (pipeline)   {rows:>10,} keys     dbtools {ours:6.2f} s {rows / ours:>12,.0f} keys/s | "
            f"floor pre-built pipeline     {floor:6.2f} s {rows / floor:>12,.0f} keys/s | ratio {ours / floor:.2f}x"
        )


if __name__ == "__main__":
    main()
