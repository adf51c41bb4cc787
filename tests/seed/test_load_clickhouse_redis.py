"""Seeding ClickHouse (chdb, the current engine) and Redis (a real server): invariants hold on the data as
queried back, the materialized views agree with their sources, and a second run adds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dbtools import runner
from dbtools.backends.redis import RedisBackend
from dbtools.sandbox import start
from dbtools.seed import dataset, load
from dbtools.settings import Settings
from tests.conftest import Servers, fresh_settings, run_query

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.fixture(scope="module")
def data():
    # recent data: tick_data's 90-day TTL must not age the seeded ticks out
    return dataset.build(5, "small", dataset.default_until())


@pytest.fixture(scope="module")
def chdb() -> Iterator[Settings]:
    try:
        sandbox = start("clickhouse", "embedded")
        settings = sandbox.__enter__()
    except Exception as exc:  # chdb is a requirement; say why if it cannot start
        pytest.skip(f"no embedded ClickHouse: {exc}")
    runner.migrate("clickhouse", migrations_dir=MIGRATIONS, settings=settings, create_db=True)
    yield settings
    sandbox.__exit__(None, None, None)


def ch(settings: Settings, sql: str) -> list[tuple]:
    return run_query("clickhouse", settings, sql)


def test_clickhouse_seed_reads_back_consistent(chdb: Settings, data) -> None:
    loaded = load("clickhouse", data, settings=chdb, migrations_dir=MIGRATIONS, reset=True)
    candles = next(t for t in data.stores["clickhouse"] if t.target == "ohlcv_data")
    assert loaded["ohlcv_data"] == len(candles) == ch(chdb, "SELECT count() FROM ohlcv_data")[0][0]
    bad = ch(
        chdb, "SELECT countIf(high < greatest(open, close) OR low > least(open, close) OR volume <= 0) FROM ohlcv_data"
    )
    assert bad == [(0,)]
    # 1-minute candles rebuilt from the seeded ticks by the materialized view equal the seeded candles
    mismatched = ch(
        chdb,
        """
        SELECT count() FROM candles_1m AS m
        INNER JOIN (SELECT * FROM ohlcv_data FINAL WHERE timeframe = '1m') AS o
            ON o.symbol = m.symbol AND o.open_time = m.open_time
        WHERE abs(o.open - m.open) > 1e-9 OR abs(o.high - m.high) > 1e-9 OR abs(o.low - m.low) > 1e-9
           OR abs(o.close - m.close) > 1e-9""",
    )
    assert mismatched == [(0,)]
    assert ch(chdb, "SELECT count() FROM candles_1m")[0][0] > 0
    # the daily roll-up equals the trades it was fed
    assert ch(chdb, "SELECT toString(sum(realized_pnl)) FROM strategy_metrics_daily") == ch(
        chdb, "SELECT toString(sum(toDecimal128(realized_pnl, 8))) FROM trades"
    )


def test_clickhouse_second_run_adds_nothing_and_reset_does_not_double_views(chdb: Settings, data) -> None:
    load("clickhouse", data, settings=chdb, migrations_dir=MIGRATIONS, reset=True)
    counts = ch(chdb, "SELECT (SELECT count() FROM ohlcv_data), (SELECT sum(trades) FROM strategy_metrics_daily)")
    assert load("clickhouse", data, settings=chdb, migrations_dir=MIGRATIONS) == {}
    load("clickhouse", data, settings=chdb, migrations_dir=MIGRATIONS, reset=True)
    assert (
        ch(chdb, "SELECT (SELECT count() FROM ohlcv_data), (SELECT sum(trades) FROM strategy_metrics_daily)") == counts
    )


@pytest.fixture
def redis_db(servers: Servers) -> Settings:
    settings = fresh_settings(servers, "redis")
    runner.migrate("redis", migrations_dir=MIGRATIONS, settings=settings, create_db=True)
    return settings


def test_redis_seed_follows_the_declared_layout(redis_db: Settings, data) -> None:
    loaded = load("redis", data, settings=redis_db, migrations_dir=MIGRATIONS)
    assert loaded["sessions:{session_id}"] > 0
    events = []
    assert runner.check_layout("redis", settings=redis_db, migrations_dir=MIGRATIONS, report=events.append) == 0
    backend = RedisBackend(redis_db)
    backend.connect()
    try:
        r = backend.client
        session = next(r.scan_iter(match="sessions:*"))
        assert r.ttl(session) > 0 and r.hget(session, "user_id")
        latest = r.lrange("candles:BTCUSDT:1m", 0, 1)
        assert len(latest) == 2 and latest[0] > latest[1]  # newest first (JSON with the time first)
        assert r.llen("queue:calculations") == len(next(t for t in data.stores["postgres"] if t.target == "strategies"))
    finally:
        backend.close()
    assert load("redis", data, settings=redis_db, migrations_dir=MIGRATIONS) == {}


def test_until_pins_the_data(data) -> None:
    fixed = datetime(2026, 1, 1, tzinfo=UTC)
    a, b = dataset.build(5, "small", fixed), dataset.build(5, "small", fixed)
    assert a.stores["redis"][0].columns["key"] == b.stores["redis"][0].columns["key"]
