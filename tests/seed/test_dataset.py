"""The generated data makes sense and is reproducible (pure: no store)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pytest

from dbtools.seed import market
from dbtools.seed.dataset import build

UNTIL = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def data():
    return build(7, "small", UNTIL)


def table(data, store: str, target: str) -> dict:
    return next(t for t in data.stores[store] if t.target == target).columns


def test_same_seed_same_data_other_seed_other_data(data) -> None:
    again = build(7, "small", UNTIL)
    for store, tables in data.stores.items():
        for a, b in zip(tables, again.stores[store], strict=True):
            assert a.target == b.target
            for name in a.columns:
                assert list(map(str, a.columns[name])) == list(map(str, b.columns[name])), (a.target, name)
    other = build(8, "small", UNTIL)
    assert not np.array_equal(
        table(data, "clickhouse", "ohlcv_data")["close"], table(other, "clickhouse", "ohlcv_data")["close"]
    )


def test_candles_are_well_formed_on_a_gap_free_grid(data) -> None:
    c = table(data, "clickhouse", "ohlcv_data")
    assert (c["high"] >= np.maximum(c["open"], c["close"])).all()
    assert (c["low"] <= np.minimum(c["open"], c["close"])).all()
    assert (c["volume"] > 0).all() and (c["low"] > 0).all()
    for symbol in set(c["symbol"]):
        for tf, minutes in market.MINUTES.items():
            mask = (c["symbol"] == symbol) & (c["timeframe"] == tf)
            times = c["open_time"][mask].astype("int64")
            assert mask.any() and (np.diff(times) == minutes * 60_000).all(), (symbol, tf)
            closes, opens = c["close"][mask], c["open"][mask]
            assert np.allclose(opens[1:], closes[:-1])  # each candle opens at the previous close


def test_higher_timeframes_aggregate_the_minutes(data) -> None:
    c = table(data, "clickhouse", "ohlcv_data")
    m1 = (c["symbol"] == "BTCUSDT") & (c["timeframe"] == "1m")
    h1 = (c["symbol"] == "BTCUSDT") & (c["timeframe"] == "1h")
    assert np.isclose(c["high"][h1][0], c["high"][m1][:60].max())
    assert np.isclose(c["volume"][h1][0], c["volume"][m1][:60].sum())
    assert np.isclose(c["close"][h1][0], c["close"][m1][59])


def test_ticks_rebuild_their_candles(data) -> None:
    rng = np.random.default_rng(1)
    base = market.minute_candles(rng, "X", 0, 120, 100.0)
    ticks = market.ticks(rng, base)
    minute = ticks["ts_us"] // 60_000_000
    for i in range(len(base.close)):
        prices = ticks["price"][minute == i]
        order = np.argsort(ticks["ts_us"][minute == i])
        assert prices[order][0] == base.open[i] and prices[order][-1] == base.close[i]
        assert prices.max() == base.high[i] and prices.min() == base.low[i]


def test_indicators_are_computed_from_the_candles(data) -> None:
    c = table(data, "clickhouse", "ohlcv_data")
    ind = table(data, "clickhouse", "indicators")
    mask = (c["symbol"] == "ETHUSDT") & (c["timeframe"] == "1h")
    closes, times = c["close"][mask], c["open_time"][mask]
    sel = (ind["symbol"] == "ETHUSDT") & (ind["timeframe"] == "1h") & (ind["indicator"] == "sma_20")
    first = np.flatnonzero(times == ind["ts"][sel][0])[0]
    assert np.isclose(ind["value"][sel][0], closes[first - 19 : first + 1].mean())
    rsi = ind["value"][(ind["symbol"] == "ETHUSDT") & (ind["indicator"] == "rsi_14")]
    assert ((rsi >= 0) & (rsi <= 100)).all()


def test_trades_follow_signals_and_metrics_follow_trades(data) -> None:
    sig, trades = table(data, "clickhouse", "signals"), table(data, "clickhouse", "trades")
    metrics = table(data, "clickhouse", "strategy_metrics")
    signal_ids = set(sig["signal_id"])
    assert trades["signal_id"] and all(s in signal_ids for s in trades["signal_id"])
    for i, strategy in enumerate(metrics["strategy_id"]):
        mine = [n for n, s in enumerate(trades["strategy_id"]) if s == strategy]
        assert metrics["total_trades"][i] == len(mine)
        sides = [trades["side"][n] for n in mine]
        assert all(a != b for a, b in pairwise(sides))  # long-only: buy, sell, buy, ...
        assert metrics["winning_trades"][i] == sum(1 for n in mine if trades["realized_pnl"][n] > 0)
        assert all(trades["realized_pnl"][n] == 0 for n in mine if trades["side"][n] == "buy")


def test_portfolio_equity_is_cash_plus_holdings(data) -> None:
    snaps = table(data, "clickhouse", "portfolio_snapshots")
    assert (snaps["cash"] >= -1e-6).all()
    assert (snaps["drawdown"] >= 0).all() and (snaps["drawdown"] < 1).all()


def test_stores_agree_on_strategies_and_sessions(data) -> None:
    pg_ids = list(table(data, "postgres", "strategies")["id"])
    assert list(table(data, "mongodb", "strategy_configs")["strategy_id"]) == pg_ids
    assert set(table(data, "clickhouse", "trades")["strategy_id"]) <= set(pg_ids)
    sessions = table(data, "redis", "sessions:{session_id}")
    pg_sessions = {f"sessions:{s}" for s in table(data, "postgres", "user_sessions")["id"]}
    assert set(sessions["key"]) <= pg_sessions and all(t > 0 for t in sessions["ttl"])


def test_api_keys_are_stored_as_hashes_and_prefixes(data) -> None:
    keys = table(data, "postgres", "api_keys")
    assert all(
        len(h) == 64 and p.startswith("tk_") and len(p) == 11
        for h, p in zip(keys["key_hash"], keys["key_prefix"], strict=True)
    )
