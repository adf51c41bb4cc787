"""The whole development dataset, per store, from (seed, scale, until): pure and deterministic.

PostgreSQL users/strategies/runs, MongoDB strategy configs and events, ClickHouse market data and
results, Redis caches - all derived from the same generated values, so they agree with each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from dbtools.seed import market, research
from dbtools.seed.table import Table, stable_uuid
from dbtools.seed.trading import Backtest, Strategy, backtest

EXCHANGE = "binance"
SYMBOLS = [
    ("BTCUSDT", 60000.0),
    ("ETHUSDT", 3000.0),
    ("SOLUSDT", 150.0),
    ("BNBUSDT", 600.0),
    ("XRPUSDT", 0.6),
    ("ADAUSDT", 0.45),
    ("DOGEUSDT", 0.15),
    ("AVAXUSDT", 35.0),
    ("LINKUSDT", 15.0),
    ("DOTUSDT", 7.0),
]
CANDLE_TIMEFRAMES = ["1m", "5m", "15m", "1h", "4h", "1d"]
INDICATOR_TIMEFRAMES = ["1h", "4h", "1d"]
STRATEGY_TIMEFRAME = "1h"
REDIS_CANDLES = 100  # latest candles cached per symbol and timeframe
SESSION_TTL = timedelta(days=7)


@dataclass(frozen=True)
class Scale:
    symbols: int
    days: int
    tick_hours: int
    users: int
    strategies: int


SCALES = {
    "small": Scale(symbols=3, days=7, tick_hours=6, users=20, strategies=6),
    "medium": Scale(symbols=6, days=30, tick_hours=24, users=200, strategies=20),
    "large": Scale(symbols=10, days=120, tick_hours=48, users=2000, strategies=60),
}


STORES = ("clickhouse", "postgres", "mongodb", "redis")
# Each stage of the generation draws from its own random stream (spawned from the seed), so a store's rows
# are the same whichever other stores are generated with it, and a stage no chosen store needs is skipped.
STAGES = ("candles", "market", "users", "strategies", "platform", "research", "documents", "caches")


@dataclass
class Dataset:
    """Tables per store, in load order (referenced rows first); only the stores in `wanted` are kept."""

    seed: int
    scale: str
    until: datetime
    stores: dict[str, list[Table]] = field(default_factory=dict)
    wanted: frozenset[str] = frozenset(STORES)
    progress: Callable[[int], None] | None = None  # called with the rows of each table kept

    def add(self, store: str, table: Table) -> None:
        if store not in self.wanted:
            return
        self.stores.setdefault(store, []).append(table)
        if self.progress is not None:
            self.progress(len(table))


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


def _ms_to_datetimes(ms: np.ndarray) -> np.ndarray:
    return ms.astype("datetime64[ms]")


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


@dataclass(frozen=True)
class Users:
    ids: np.ndarray
    usernames: list[str]
    roles: list[str]
    created: list[datetime]


def _users(data: Dataset, rng: np.random.Generator, size: Scale) -> Users:
    n = size.users
    ids = np.arange(1, n + 1)
    usernames = [f"trader{i:04d}" for i in ids]
    roles = rng.choice(["trader", "analyst", "viewer"], size=n, p=[0.6, 0.25, 0.15]).tolist()
    roles[0] = "admin"
    created = [data.until - timedelta(days=int(d)) for d in rng.integers(30, 720, size=n)]
    data.add(
        "postgres",
        Table(
            "users",
            {
                "id": ids,
                "email": [f"{u}@example.com" for u in usernames],
                "username": usernames,
                # a fixed, obviously fake hash: seeded accounts are not meant to be logged into
                "password_hash": [f"seeded${_digest(u)[:32]}" for u in usernames],
                "full_name": [f"Trader {i}" for i in ids],
                "role": roles,
                "timezone": rng.choice(["UTC", "Europe/Moscow", "America/New_York", "Asia/Singapore"], size=n).tolist(),
                "is_active": (rng.random(n) > 0.05).tolist(),
                "created_at": created,
                "updated_at": created,
            },
        ),
    )
    return Users(ids, usernames, roles, created)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _strategies(rng: np.random.Generator, size: Scale, symbols: list[str], users: Users) -> list[Strategy]:
    owners = rng.choice(users.ids[users.ids > 0], size=size.strategies)
    result = []
    for i in range(size.strategies):
        kind = "trend_following" if i % 2 == 0 else "mean_reversion"
        params = (
            {"fast": 20.0, "slow": 50.0}
            if kind == "trend_following"
            else {"rsi_period": 14.0, "rsi_low": float(rng.choice([25, 30])), "rsi_high": float(rng.choice([70, 75]))}
        )
        symbol = symbols[i % len(symbols)]
        result.append(
            Strategy(
                i + 1,
                int(owners[i]),
                f"{kind.replace('_', ' ')} {symbol} #{i + 1}",
                kind,
                symbol,
                STRATEGY_TIMEFRAME,
                params,
                float(rng.choice([5_000, 10_000, 25_000])),
            )
        )
    return result


def _platform(
    data: Dataset,
    rng: np.random.Generator,
    users: Users,
    strategies: list[Strategy],
    results: dict[int, Backtest],
    days: int,
) -> None:
    until = data.until
    n = len(users.ids)
    data.add(
        "postgres",
        Table(
            "trading_accounts",
            {
                "id": users.ids,
                "user_id": users.ids,
                "name": ["main"] * n,
                "exchange": [EXCHANGE] * n,
                "account_type": rng.choice(["spot", "margin", "futures"], size=n, p=[0.7, 0.2, 0.1]).tolist(),
                "mode": rng.choice(["paper", "live"], size=n, p=[0.8, 0.2]).tolist(),
                "base_currency": ["USDT"] * n,
                "balance": np.round(rng.lognormal(8, 1, size=n), 2).tolist(),
            },
        ),
    )
    data.add(
        "postgres",
        Table(
            "strategies",
            {
                "id": [s.strategy_id for s in strategies],
                "owner_id": [s.owner_id for s in strategies],
                "name": [s.name for s in strategies],
                "kind": [s.kind for s in strategies],
                "status": ["active" if i % 3 else "paused" for i in range(len(strategies))],
                "symbols": [[s.symbol] for s in strategies],
                "timeframe": [s.timeframe for s in strategies],
                "config": [json.dumps({"params": s.params, "initial_capital": s.initial_capital}) for s in strategies],
            },
        ),
    )
    start = until - timedelta(days=days)
    data.add(
        "postgres",
        Table(
            "strategy_runs",
            {
                "id": [s.strategy_id for s in strategies],
                "strategy_id": [s.strategy_id for s in strategies],
                "account_id": [s.owner_id for s in strategies],
                "started_by": [s.owner_id for s in strategies],
                "kind": ["backtest"] * len(strategies),
                "status": ["succeeded"] * len(strategies),
                "strategy_version": [1] * len(strategies),
                "parameters": [json.dumps(s.params) for s in strategies],
                "initial_capital": [s.initial_capital for s in strategies],
                "period_start": [start] * len(strategies),
                "period_end": [until] * len(strategies),
                "started_at": [until] * len(strategies),
                "finished_at": [until + timedelta(seconds=5)] * len(strategies),
                "summary": [
                    json.dumps({k: round(v, 6) for k, v in results[s.strategy_id].metrics.items()}) for s in strategies
                ],
            },
        ),
    )
    _sessions_and_keys(data, rng, users)
    _notifications(data, rng, users, strategies, results)


def _sessions_and_keys(data: Dataset, rng: np.random.Generator, users: Users) -> None:
    """Sessions (live ones cached in Redis too), hashed API keys, permissions, subscriptions."""
    until = data.until
    session_user = np.repeat(users.ids, rng.integers(0, 4, size=len(users.ids)))
    count = len(session_user)
    created = [until - timedelta(hours=int(h)) for h in rng.integers(1, 24 * 14, size=count)]
    tokens = [f"{data.seed}:session:{i}" for i in range(count)]
    data.add(
        "postgres",
        Table(
            "user_sessions",
            {
                "id": [stable_uuid(t) for t in tokens],
                "user_id": session_user,
                "token_hash": [hashlib.sha256(t.encode()).digest() for t in tokens],
                "ip_address": [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(count)],
                "user_agent": rng.choice(["Mozilla/5.0", "trading-bot/2.1", "curl/8.5"], size=count).tolist(),
                "created_at": created,
                "last_seen_at": created,
                "expires_at": [c + SESSION_TTL for c in created],
            },
        ),
    )
    live = [i for i, c in enumerate(created) if c + SESSION_TTL > until]
    data.add(
        "redis",
        Table(
            "sessions:{session_id}",
            {
                "key": [f"sessions:{stable_uuid(tokens[i])}" for i in live],
                "fields": [{"user_id": str(session_user[i]), "created_at": created[i].isoformat()} for i in live],
                "ttl": [int((created[i] + SESSION_TTL - until).total_seconds()) for i in live],
            },
        ),
    )
    data.add(
        "redis",
        Table(
            "limits:{user_id}",
            {
                "key": [f"limits:{u}" for u in users.ids[:: max(1, len(users.ids) // 10)]],
                "value": [int(v) for v in rng.integers(1, 100, size=len(users.ids[:: max(1, len(users.ids) // 10)]))],
                "ttl": [60] * len(users.ids[:: max(1, len(users.ids) // 10)]),
            },
        ),
    )
    key_user = users.ids[rng.random(len(users.ids)) < 0.4]
    keys = [f"tk_{_digest(f'{data.seed}:key:{u}')[:40]}" for u in key_user]
    data.add(
        "postgres",
        Table(
            "api_keys",
            {
                "user_id": key_user,
                "name": ["default"] * len(keys),
                "key_prefix": [k[:11] for k in keys],  # tk_ + 8 characters: what users see
                "key_hash": [_digest(k) for k in keys],  # the key itself is never stored
                "scopes": [["read", "trade"] if i % 2 else ["read"] for i in range(len(keys))],
            },
        ),
    )
    permissions = {
        "admin": ["users:*", "strategies:*", "trading:*"],
        "trader": ["strategies:write", "trading:execute"],
        "analyst": ["strategies:read", "analytics:read"],
        "viewer": ["strategies:read"],
    }
    pairs = [(int(u), p) for u, role in zip(users.ids, users.roles, strict=True) for p in permissions[role]]
    data.add(
        "postgres",
        Table(
            "user_permissions",
            {"user_id": [u for u, _ in pairs], "permission": [p for _, p in pairs], "granted_by": [1] * len(pairs)},
        ),
    )
    plans = rng.choice(["free", "pro", "enterprise"], size=len(users.ids), p=[0.6, 0.35, 0.05])
    data.add(
        "postgres",
        Table(
            "subscriptions",
            {
                "user_id": users.ids,
                "plan": plans.tolist(),
                "status": ["active" if p != "free" else "trialing" for p in plans],
                "price_cents": [{"free": 0, "pro": 2900, "enterprise": 19900}[p] for p in plans],
                "current_period_start": [until - timedelta(days=10)] * len(plans),
                "current_period_end": [until + timedelta(days=20)] * len(plans),
            },
        ),
    )


def _notifications(
    data: Dataset, rng: np.random.Generator, users: Users, strategies: list[Strategy], results: dict[int, Backtest]
) -> None:
    until = data.until
    rows = []
    for s in strategies:
        bt = results[s.strategy_id]
        for side, pnl in zip(bt.trade_side[-3:].tolist(), bt.trade_pnl[-3:].tolist(), strict=True):
            rows.append(
                (
                    s.owner_id,
                    "trade",
                    "info",
                    f"{s.symbol} {side} executed by {s.name}",
                    json.dumps({"strategy_id": s.strategy_id, "realized_pnl": round(pnl, 2)}),
                )
            )
    created = [until - timedelta(minutes=int(m)) for m in rng.integers(1, 60 * 24 * 3, size=len(rows))]
    data.add(
        "postgres",
        Table(
            "notifications",
            {
                "user_id": [r[0] for r in rows],
                "kind": [r[1] for r in rows],
                "severity": [r[2] for r in rows],
                "title": [r[3] for r in rows],
                "payload": [r[4] for r in rows],
                "created_at": created,
                "read_at": [c + timedelta(minutes=5) if rng.random() < 0.5 else None for c in created],
            },
        ),
    )
    owners = sorted({s.owner_id for s in strategies})
    data.add(
        "postgres",
        Table(
            "alert_rules",
            {
                "user_id": owners,
                "strategy_id": [next(s.strategy_id for s in strategies if s.owner_id == o) for o in owners],
                "name": ["drawdown guard"] * len(owners),
                "symbol": [next(s.symbol for s in strategies if s.owner_id == o) for o in owners],
                "condition": [json.dumps({"metric": "drawdown", "op": ">=", "value": 0.1})] * len(owners),
                "channels": [["in_app", "email"]] * len(owners),
            },
        ),
    )
    data.add(
        "postgres",
        Table(
            "email_queue",
            {
                "user_id": owners,
                "to_address": [f"{users.usernames[o - 1]}@example.com" for o in owners],
                "subject": ["Your weekly strategy report"] * len(owners),
                "template": ["weekly_report"] * len(owners),
                "status": ["pending"] * len(owners),
                "scheduled_at": [until] * len(owners),
            },
        ),
    )


def _trading(
    data: Dataset, strategies: list[Strategy], results: dict[int, Backtest], candles: dict[str, market.Candles]
) -> None:
    sig: dict[str, list] = {
        k: []
        for k in (
            "signal_id",
            "strategy_id",
            "run_id",
            "symbol",
            "timeframe",
            "ts",
            "action",
            "strength",
            "price",
            "reason",
        )
    }
    trd: dict[str, list] = {
        k: []
        for k in (
            "trade_id",
            "strategy_id",
            "run_id",
            "account_id",
            "mode",
            "exchange",
            "symbol",
            "side",
            "ts",
            "price",
            "quantity",
            "fee",
            "fee_currency",
            "realized_pnl",
            "signal_id",
        )
    }
    snap: dict[str, list] = {
        k: [] for k in ("account_id", "strategy_id", "ts", "cash", "equity", "positions", "unrealized_pnl", "drawdown")
    }
    met: dict[str, list] = {
        k: []
        for k in (
            "strategy_id",
            "run_id",
            "period_start",
            "period_end",
            "total_trades",
            "winning_trades",
            "net_pnl",
            "total_return",
            "sharpe_ratio",
            "sortino_ratio",
            "max_drawdown",
            "profit_factor",
        )
    }
    for s in strategies:
        bt = results[s.strategy_id]
        c = market.aggregate(candles[s.symbol], s.timeframe)
        times = _ms_to_datetimes(c.open_time + market.MINUTES[s.timeframe] * 60_000 - 1)  # at the candle close
        signal_ids = {int(i): stable_uuid(f"{data.seed}:signal:{s.strategy_id}:{i}") for i in bt.signal_index}
        for i, action, reason in zip(
            bt.signal_index.tolist(), bt.signal_action.tolist(), bt.signal_reason.tolist(), strict=True
        ):
            for key, value in (
                ("signal_id", signal_ids[i]),
                ("strategy_id", s.strategy_id),
                ("run_id", s.strategy_id),
                ("symbol", s.symbol),
                ("timeframe", s.timeframe),
                ("ts", times[i]),
                ("action", action),
                ("strength", 0.5 + 0.5 * (i % 2)),
                ("price", float(c.close[i])),
                ("reason", reason),
            ):
                sig[key].append(value)
        for n, i in enumerate(bt.trade_index.tolist()):
            values = (
                stable_uuid(f"{data.seed}:trade:{s.strategy_id}:{n}"),
                s.strategy_id,
                s.strategy_id,
                s.owner_id,
                "backtest",
                EXCHANGE,
                s.symbol,
                bt.trade_side[n],
                times[i],
                round(float(bt.trade_price[n]), 8),
                round(float(bt.trade_quantity[n]), 8),
                round(float(bt.trade_fee[n]), 8),
                "USDT",
                round(float(bt.trade_pnl[n]), 8),
                signal_ids.get(i),
            )
            for key, value in zip(trd, values, strict=True):
                trd[key].append(value)
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
        for key, value in (
            ("strategy_id", s.strategy_id),
            ("run_id", s.strategy_id),
            ("period_start", times[0]),
            ("period_end", times[-1]),
            ("total_trades", int(m["total_trades"])),
            ("winning_trades", int(m["winning_trades"])),
            ("net_pnl", round(m["net_pnl"], 8)),
            ("total_return", m["total_return"]),
            ("sharpe_ratio", m["sharpe_ratio"]),
            ("sortino_ratio", m["sortino_ratio"]),
            ("max_drawdown", m["max_drawdown"]),
            ("profit_factor", m["profit_factor"]),
        ):
            met[key].append(value)
    data.add("clickhouse", Table("signals", sig))
    data.add("clickhouse", Table("trades", trd))
    data.add(
        "clickhouse",
        Table("portfolio_snapshots", {k: (np.concatenate(v) if k != "positions" else v) for k, v in snap.items()}),
    )
    data.add("clickhouse", Table("strategy_metrics", met))


def _documents(
    data: Dataset, rng: np.random.Generator, strategies: list[Strategy], results: dict[int, Backtest]
) -> None:
    until = data.until.replace(tzinfo=None)
    data.add(
        "mongodb",
        Table(
            "strategy_configs",
            {
                "strategy_id": [s.strategy_id for s in strategies],
                "version": [1] * len(strategies),
                "name": [s.name for s in strategies],
                "symbols": [[s.symbol] for s in strategies],
                "timeframe": [s.timeframe for s in strategies],
                "parameters": [dict(s.params) for s in strategies],
                "risk": [
                    {"max_position_pct": 0.95, "stop_loss_pct": 0.05, "take_profit_pct": 0.15} for _ in strategies
                ],
                "created_at": [until - timedelta(days=30)] * len(strategies),
                "updated_at": [until] * len(strategies),
            },
        ),
    )
    data.add(
        "mongodb",
        Table(
            "indicator_metadata",
            {
                "name": ["sma", "ema", "rsi"],
                "display_name": ["Simple moving average", "Exponential moving average", "Relative strength index"],
                "category": ["trend", "trend", "momentum"],
                "parameters": [[{"name": "period", "type": "int", "default": 20}]] * 2
                + [[{"name": "period", "type": "int", "default": 14}]],
                "outputs": [["value"], ["value"], ["value"]],
                "description": [
                    "Mean of the last N closes",
                    "Exponentially weighted mean of closes",
                    "Wilder's RSI, 0..100",
                ],
            },
        ),
    )
    events = []
    for s in strategies:
        bt = results[s.strategy_id]
        for version, (event_type, payload) in enumerate(
            [
                ("StrategyCreated", {"name": s.name, "kind": s.kind, "symbol": s.symbol}),
                ("ParametersSet", dict(s.params)),
                ("BacktestCompleted", {k: round(v, 6) for k, v in bt.metrics.items()}),
            ],
            start=1,
        ):
            events.append((f"strategy-{s.strategy_id}", version, event_type, payload))
    data.add(
        "mongodb",
        Table(
            "event_store",
            {
                "aggregate_type": ["strategy"] * len(events),
                "aggregate_id": [e[0] for e in events],
                "version": [e[1] for e in events],
                "event_type": [e[2] for e in events],
                "payload": [e[3] for e in events],
                "metadata": [{"source": "dbtools seed", "seed": data.seed}] * len(events),
                "occurred_at": [until - timedelta(days=30) + timedelta(minutes=e[1]) for e in events],
            },
        ),
    )
    trend = [s for s in strategies if s.kind == "trend_following"]
    data.add(
        "mongodb",
        Table(
            "genetic_algorithm_config",
            {
                "strategy_id": [s.strategy_id for s in trend],
                "name": ["sma windows"] * len(trend),
                "population_size": [research.GA_POPULATION] * len(trend),
                "generations": [research.GA_GENERATIONS] * len(trend),
                "mutation_rate": [0.2] * len(trend),
                "crossover_rate": [0.7] * len(trend),
                "elitism": [2] * len(trend),
                "selection": ["tournament"] * len(trend),
                "gene_space": [{"fast": [5, 40], "slow": [30, 200]}] * len(trend),
            },
        ),
    )
    data.add(
        "mongodb",
        Table(
            "ml_models",
            {
                "name": ["direction_classifier", "volatility_forecaster"],
                "version": [3, 1],
                "framework": ["lightgbm", "statsmodels"],
                "task": ["classification", "forecasting"],
                "status": ["deployed", "ready"],
                "features": [["rsi_14", "sma_20", "sma_50", "ema_20"], ["returns_1h", "volume_1h"]],
                "metrics": [{"auc": 0.57, "accuracy": 0.54}, {"mae": 0.0031}],
                "artifact_uri": ["s3://models/direction_classifier/3", "s3://models/volatility_forecaster/1"],
                "created_at": [until - timedelta(days=14), until - timedelta(days=3)],
            },
        ),
    )
    levels = rng.choice(["INFO", "INFO", "INFO", "WARNING", "ERROR"], size=len(strategies))
    data.add(
        "mongodb",
        Table(
            "system_logs",
            {
                "ts": [until - timedelta(minutes=10 * i) for i in range(len(strategies))],
                "level": levels.tolist(),
                "source": ["backtester"] * len(strategies),
                "message": [
                    f"backtest of strategy {s.strategy_id} finished: "
                    f"{int(results[s.strategy_id].metrics['total_trades'])} trades"
                    for s in strategies
                ],
                "context": [{"strategy_id": s.strategy_id, "run_id": s.strategy_id} for s in strategies],
            },
        ),
    )


def _caches(
    data: Dataset, rng: np.random.Generator, strategies: list[Strategy], candles: dict[str, market.Candles]
) -> None:
    """Redis: latest candles per symbol/timeframe, latest indicators per strategy, the calculation queue."""
    keys, values = [], []
    for base in candles.values():
        for tf in ("1m", "5m", "1h"):
            c = market.aggregate(base, tf)
            latest = range(len(c.close) - 1, max(-1, len(c.close) - 1 - REDIS_CANDLES), -1)  # newest first
            keys.append(f"candles:{c.symbol}:{tf}")
            values.append(
                [
                    json.dumps(
                        {
                            "t": int(c.open_time[i]),
                            "o": round(float(c.open[i]), 8),
                            "h": round(float(c.high[i]), 8),
                            "l": round(float(c.low[i]), 8),
                            "c": round(float(c.close[i]), 8),
                            "v": round(float(c.volume[i]), 8),
                        }
                    )
                    for i in latest
                ]
            )
    data.add("redis", Table("candles:{symbol}:{timeframe}", {"key": keys, "items": values}))
    ind_keys, ind_values = [], []
    for s in strategies:
        close = market.aggregate(candles[s.symbol], s.timeframe).close
        ind_keys.append(f"indicators:{s.strategy_id}:{s.symbol}")
        ind_values.append({name: repr(round(float(f(close)[-1]), 8)) for name, f in market.INDICATORS.items()})
    data.add("redis", Table("indicators:{strategy_id}:{symbol}", {"key": ind_keys, "fields": ind_values}))
    jobs = [json.dumps({"job": "recompute_metrics", "strategy_id": s.strategy_id}) for s in strategies]
    data.add("redis", Table("queue:calculations", {"key": ["queue:calculations"], "items": [jobs]}))
