"""The whole development dataset, per store, from (seed, scale, until): pure and deterministic.

PostgreSQL users/strategies/runs, MongoDB strategy configs and events, ClickHouse market data and
results, Redis caches - all derived from the same generated values, so they agree with each other.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from dbtools.seed import market, research
from dbtools.seed.accounts import _platform, _strategies, _users
from dbtools.seed.documents import _caches, _documents
from dbtools.seed.rows import MetricsRow, SignalRow, TradeRow
from dbtools.seed.shape import (
    CANDLE_TIMEFRAMES,
    EXCHANGE,
    INDICATOR_TIMEFRAMES,
    SCALES,
    STAGES,
    STORES,
    STRATEGY_TIMEFRAME,
    SYMBOLS,
    Dataset,
    Scale,
    _ms_to_datetimes,
)
from dbtools.seed.table import Table, from_rows, stable_uuid
from dbtools.seed.trading import Backtest, Strategy, backtest


def default_until() -> datetime:
    """Today 00:00 UTC: data ends at the last midnight, so a dev stack looks current."""
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def build(
    seed: int = 42,
    scale: str = "small",
    until: datetime | None = None,
    *,
    stores: Collection[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Dataset:
    """Generate the data of `stores` (default: all four); `until` (UTC midnight) is where market data ends.

    Only what the chosen stores receive is generated and kept: `--db postgres` computes the strategies'
    backtests from hourly bars and drops the minute candles at once, and builds no ClickHouse table.
    `progress` is called with the number of rows made, as they are made (minute candles, then each table)."""
    size = SCALES[scale]
    until = until or default_until()
    wanted = frozenset(STORES if stores is None else stores)
    rng = dict(zip(STAGES, map(np.random.default_rng, np.random.SeedSequence(seed).spawn(len(STAGES))), strict=True))
    data = Dataset(seed, scale, until, wanted=wanted, progress=progress)
    start_ms = int((until - timedelta(days=size.days)).timestamp() * 1000)
    keep_minutes = bool(wanted & {"clickhouse", "redis"})  # the stores that receive minute-level data
    candles: dict[str, market.Candles] = {}  # minute candles, when a chosen store needs them
    bars: dict[str, market.Candles] = {}  # the strategies' timeframe, for the backtests
    for symbol, price in SYMBOLS[: size.symbols]:
        minutes = market.minute_candles(rng["candles"], symbol, start_ms, size.days * 1440, price)
        if progress is not None:
            progress(len(minutes.close))  # the minute candles are rows too, and the longest part for small stores
        bars[symbol] = market.aggregate(minutes, STRATEGY_TIMEFRAME)
        if keep_minutes:
            candles[symbol] = minutes
    if "clickhouse" in wanted:
        _market(data, rng["market"], candles, size)
    users = _users(data, rng["users"], size)
    strategies = _strategies(rng["strategies"], size, list(bars), users)
    results = {s.strategy_id: backtest(s, bars[s.symbol].close) for s in strategies}
    if wanted & {"postgres", "redis"}:
        _platform(data, rng["platform"], users, strategies, results, size.days)
    if "clickhouse" in wanted:
        _trading(data, strategies, results, candles)
        research.add_tables(data, rng["research"], strategies, results, candles)
    if "mongodb" in wanted:
        _documents(data, rng["documents"], strategies, results)
    if "redis" in wanted:
        _caches(data, rng["caches"], strategies, candles)
    return data


def _market(data: Dataset, rng: np.random.Generator, candles: dict[str, market.Candles], size: Scale) -> None:
    parts = [market.aggregate(base, tf) for base in candles.values() for tf in CANDLE_TIMEFRAMES]
    data.add(
        "clickhouse",
        Table(
            "ohlcv_data",
            {
                "exchange": np.full(sum(len(p.close) for p in parts), EXCHANGE, dtype=object),
                "symbol": np.concatenate([np.full(len(p.close), p.symbol, dtype=object) for p in parts]),
                "timeframe": np.concatenate([np.full(len(p.close), p.timeframe, dtype=object) for p in parts]),
                "open_time": _ms_to_datetimes(np.concatenate([p.open_time for p in parts])),
                "open": np.concatenate([p.open for p in parts]),
                "high": np.concatenate([p.high for p in parts]),
                "low": np.concatenate([p.low for p in parts]),
                "close": np.concatenate([p.close for p in parts]),
                "volume": np.concatenate([p.volume for p in parts]),
                "quote_volume": np.concatenate([p.volume * p.close for p in parts]),
                "trades_count": np.concatenate([p.trades_count for p in parts]),
            },
        ),
    )
    tick_parts = []
    for base in candles.values():
        last = size.tick_hours * 60
        recent = market.Candles(
            base.symbol,
            "1m",
            *(
                getattr(base, f)[-last:]
                for f in ("open_time", "open", "high", "low", "close", "volume", "trades_count")
            ),
        )
        ticks = market.ticks(rng, recent)
        ticks["symbol"] = np.full(len(ticks["price"]), base.symbol, dtype=object)
        tick_parts.append(ticks)
    ts_us = np.concatenate([t["ts_us"] for t in tick_parts])
    data.add(
        "clickhouse",
        Table(
            "tick_data",
            {
                "exchange": np.full(len(ts_us), EXCHANGE, dtype=object),
                "symbol": np.concatenate([t["symbol"] for t in tick_parts]),
                "ts": ts_us.astype("datetime64[us]"),
                "trade_id": np.arange(1, len(ts_us) + 1, dtype=np.uint64),
                "price": np.concatenate([t["price"] for t in tick_parts]),
                "quantity": np.concatenate([t["quantity"] for t in tick_parts]),
                "side": np.concatenate([t["side"] for t in tick_parts]).astype(object),
                "best_bid": np.concatenate([t["best_bid"] for t in tick_parts]),
                "best_ask": np.concatenate([t["best_ask"] for t in tick_parts]),
            },
        ),
    )
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("symbol", "timeframe", "indicator", "ts", "value")}
    for base in candles.values():
        for tf in INDICATOR_TIMEFRAMES:
            c = market.aggregate(base, tf)
            for name, compute in market.INDICATORS.items():
                values = compute(c.close)
                ok = ~np.isnan(values)
                rows["symbol"].append(np.full(ok.sum(), c.symbol, dtype=object))
                rows["timeframe"].append(np.full(ok.sum(), tf, dtype=object))
                rows["indicator"].append(np.full(ok.sum(), name, dtype=object))
                rows["ts"].append(c.open_time[ok])
                rows["value"].append(values[ok])
    columns = {k: np.concatenate(v) for k, v in rows.items()}
    columns["ts"] = _ms_to_datetimes(columns["ts"])
    data.add("clickhouse", Table("indicators", columns))


def _trading(
    data: Dataset, strategies: list[Strategy], results: dict[int, Backtest], candles: dict[str, market.Candles]
) -> None:
    sig: list[SignalRow] = []
    trd: list[TradeRow] = []
    snap: dict[str, list[Any]] = {
        k: [] for k in ("account_id", "strategy_id", "ts", "cash", "equity", "positions", "unrealized_pnl", "drawdown")
    }
    met: list[MetricsRow] = []
    for s in strategies:
        bt = results[s.strategy_id]
        c = market.aggregate(candles[s.symbol], s.timeframe)
        times = _ms_to_datetimes(c.open_time + market.MINUTES[s.timeframe] * 60_000 - 1)  # at the candle close
        signal_ids = {int(i): stable_uuid(f"{data.seed}:signal:{s.strategy_id}:{i}") for i in bt.signal_index}
        for i, action, reason in zip(
            bt.signal_index.tolist(), bt.signal_action.tolist(), bt.signal_reason.tolist(), strict=True
        ):
            sig.append(
                SignalRow(
                    signal_id=signal_ids[i],
                    strategy_id=s.strategy_id,
                    run_id=s.strategy_id,
                    symbol=s.symbol,
                    timeframe=s.timeframe,
                    ts=times[i],
                    action=action,
                    strength=0.5 + 0.5 * (i % 2),
                    price=float(c.close[i]),
                    reason=reason,
                )
            )
        for n, i in enumerate(bt.trade_index.tolist()):
            trd.append(
                TradeRow(
                    trade_id=stable_uuid(f"{data.seed}:trade:{s.strategy_id}:{n}"),
                    strategy_id=s.strategy_id,
                    run_id=s.strategy_id,
                    account_id=s.owner_id,
                    mode="backtest",
                    exchange=EXCHANGE,
                    symbol=s.symbol,
                    side=bt.trade_side[n],
                    ts=times[i],
                    price=round(float(bt.trade_price[n]), 8),
                    quantity=round(float(bt.trade_quantity[n]), 8),
                    fee=round(float(bt.trade_fee[n]), 8),
                    fee_currency="USDT",
                    realized_pnl=round(float(bt.trade_pnl[n]), 8),
                    signal_id=signal_ids.get(i),
                )
            )
        peak = np.maximum.accumulate(bt.equity)
        snap["account_id"].append(np.full(len(c.close), s.owner_id))
        snap["strategy_id"].append(np.full(len(c.close), s.strategy_id))
        snap["ts"].append(times)
        snap["cash"].append(np.round(bt.cash, 8))
        snap["equity"].append(np.round(bt.equity, 8))
        snap["positions"].extend({s.symbol: round(float(q), 8)} if q > 0 else {} for q in bt.position)
        snap["unrealized_pnl"].append(np.round(bt.position * c.close - bt.cost_basis, 8))
        snap["drawdown"].append(1 - bt.equity / peak)
        m = bt.metrics
        met.append(
            MetricsRow(
                strategy_id=s.strategy_id,
                run_id=s.strategy_id,
                period_start=times[0],
                period_end=times[-1],
                total_trades=int(m["total_trades"]),
                winning_trades=int(m["winning_trades"]),
                net_pnl=round(m["net_pnl"], 8),
                total_return=m["total_return"],
                sharpe_ratio=m["sharpe_ratio"],
                sortino_ratio=m["sortino_ratio"],
                max_drawdown=m["max_drawdown"],
                profit_factor=m["profit_factor"],
            )
        )
    data.add("clickhouse", from_rows("signals", SignalRow._fields, sig))
    data.add("clickhouse", from_rows("trades", TradeRow._fields, trd))
    data.add(
        "clickhouse",
        Table("portfolio_snapshots", {k: (np.concatenate(v) if k != "positions" else v) for k, v in snap.items()}),
    )
    data.add("clickhouse", from_rows("strategy_metrics", MetricsRow._fields, met))
