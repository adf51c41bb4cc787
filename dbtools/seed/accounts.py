"""Users and their strategies, the platform's rows, sessions, API keys and notifications."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import numpy as np

from dbtools.seed.rows import StrategyRow, StrategyRunRow
from dbtools.seed.shape import EXCHANGE, SESSION_TTL, STRATEGY_TIMEFRAME, Dataset, Scale, Users, _digest
from dbtools.seed.table import Table, from_rows, stable_uuid
from dbtools.seed.trading import Backtest, Strategy


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
        from_rows(
            "strategies",
            StrategyRow._fields,
            [  # the strategy's own fields, in the table's order
                StrategyRow(
                    s.strategy_id,
                    s.owner_id,
                    s.name,
                    s.kind,
                    "active" if i % 3 else "paused",
                    [s.symbol],
                    s.timeframe,
                    json.dumps({"params": s.params, "initial_capital": s.initial_capital}),
                )
                for i, s in enumerate(strategies)
            ],
        ),
    )
    start = until - timedelta(days=days)
    data.add(
        "postgres",
        from_rows(
            "strategy_runs",
            StrategyRunRow._fields,
            [
                StrategyRunRow(
                    id=s.strategy_id,
                    strategy_id=s.strategy_id,
                    account_id=s.owner_id,
                    started_by=s.owner_id,
                    kind="backtest",
                    status="succeeded",
                    strategy_version=1,
                    parameters=json.dumps(s.params),
                    initial_capital=s.initial_capital,
                    period_start=start,
                    period_end=until,
                    started_at=until,
                    finished_at=until + timedelta(seconds=5),
                    summary=json.dumps({k: round(v, 6) for k, v in results[s.strategy_id].metrics.items()}),
                )
                for s in strategies
            ],
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
