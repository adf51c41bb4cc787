"""Strategies run over the seeded candles: signals from the indicators, trades from the signals,
portfolio snapshots from the trades, metrics from the snapshots and trades. Pure and deterministic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FEE_RATE = 0.001  # taker fee, both sides
POSITION_FRACTION = 0.95  # of cash committed on entry


@dataclass(frozen=True)
class Strategy:
    """One seeded strategy: PostgreSQL's strategies row, Mongo's strategy_configs document, the backtest."""

    strategy_id: int
    owner_id: int
    name: str
    kind: str  # trend_following | mean_reversion
    symbol: str
    timeframe: str
    params: dict[str, float] = field(default_factory=dict)
    initial_capital: float = 10_000.0


@dataclass(frozen=True)
class Backtest:
    """What a strategy did: signal rows, trade rows, snapshots and summary metrics."""

    signal_index: np.ndarray  # candle index of each signal
    signal_action: np.ndarray  # "buy" | "sell"
    signal_reason: np.ndarray
    trade_index: np.ndarray  # candle index of each trade (the signal's candle close)
    trade_side: np.ndarray
    trade_price: np.ndarray
    trade_quantity: np.ndarray
    trade_fee: np.ndarray
    trade_pnl: np.ndarray  # realized on sells, 0 on buys
    equity: np.ndarray  # per candle
    cash: np.ndarray
    position: np.ndarray
    cost_basis: np.ndarray  # what the open position cost (0 when flat), per candle
    metrics: dict[str, float]


def signals(strategy: Strategy, close: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candle index, action, reason) where the strategy's rule fires on its indicators."""
    from dbtools.seed.market import rsi, sma

    if strategy.kind == "trend_following":
        fast = sma(close, int(strategy.params.get("fast", 20)))
        slow = sma(close, int(strategy.params.get("slow", 50)))
        above = fast > slow
        valid = ~(np.isnan(fast) | np.isnan(slow))
        cross = np.zeros(len(close), dtype=bool)
        cross[1:] = (above[1:] != above[:-1]) & valid[1:] & valid[:-1]
        index = np.flatnonzero(cross)
        action = np.where(above[index], "buy", "sell")
        reason = np.where(above[index], "sma_cross_up", "sma_cross_down")
        return index, action, reason
    low, high = strategy.params.get("rsi_low", 30.0), strategy.params.get("rsi_high", 70.0)
    r = rsi(close, int(strategy.params.get("rsi_period", 14)))
    state = np.where(r < low, 1, np.where(r > high, -1, 0))  # 1 oversold, -1 overbought
    entered = np.zeros(len(close), dtype=bool)
    entered[1:] = (state[1:] != 0) & (state[1:] != state[:-1])
    index = np.flatnonzero(entered)
    action = np.where(state[index] == 1, "buy", "sell")
    reason = np.where(state[index] == 1, "rsi_oversold", "rsi_overbought")
    return index, action, reason


def backtest(strategy: Strategy, close: np.ndarray) -> Backtest:
    """Long-only: buy on a buy signal when flat, sell everything on a sell signal when long."""
    sig_index, sig_action, sig_reason = signals(strategy, close)
    cash, qty, entry_cost = strategy.initial_capital, 0.0, 0.0
    trades: list[tuple[int, str, float, float, float, float]] = []
    for i, action in zip(sig_index.tolist(), sig_action.tolist(), strict=True):
        price = float(close[i])
        if action == "buy" and qty == 0:
            qty = cash * POSITION_FRACTION / (price * (1 + FEE_RATE))
            fee = qty * price * FEE_RATE
            cash -= qty * price + fee
            entry_cost = qty * price + fee
            trades.append((i, "buy", price, qty, fee, 0.0))
        elif action == "sell" and qty > 0:
            fee = qty * price * FEE_RATE
            proceeds = qty * price - fee
            cash += proceeds
            trades.append((i, "sell", price, qty, fee, proceeds - entry_cost))
            qty = 0.0
    columns: list[Sequence[Any]] = list(zip(*trades, strict=True)) if trades else [[]] * 6
    t_index = np.array(columns[0], dtype=np.int64)
    t_side = np.array(columns[1], dtype=object)
    t_qty = np.array(columns[3], dtype=float)
    # holdings per candle: the position changes at each trade's candle
    delta = np.zeros(len(close))
    cash_delta = np.zeros(len(close))
    basis_delta = np.zeros(len(close))
    for i, side, price, quantity, fee, pnl in trades:
        delta[i] += quantity if side == "buy" else -quantity
        cash_delta[i] += -(quantity * price + fee) if side == "buy" else quantity * price - fee
        basis_delta[i] += quantity * price + fee if side == "buy" else -(quantity * price - fee - pnl)
    position = np.cumsum(delta)
    cash_curve = strategy.initial_capital + np.cumsum(cash_delta)
    cost_basis = np.cumsum(basis_delta)
    equity = cash_curve + position * close
    result = Backtest(
        sig_index,
        sig_action,
        sig_reason,
        t_index,
        t_side,
        np.array(columns[2], dtype=float),
        t_qty,
        np.array(columns[4], dtype=float),
        np.array(columns[5], dtype=float),
        equity,
        cash_curve,
        position,
        cost_basis,
        {},
    )
    return Backtest(**{**result.__dict__, "metrics": metrics(result, strategy.initial_capital, strategy.timeframe)})


def metrics(bt: Backtest, initial: float, timeframe: str) -> dict[str, float]:
    """Summary statistics of a backtest, from its equity curve and trades."""
    from dbtools.seed.market import MINUTES, YEAR_MINUTES

    returns = np.diff(bt.equity) / bt.equity[:-1] if len(bt.equity) > 1 else np.zeros(1)
    per_year = YEAR_MINUTES / MINUTES[timeframe]
    std = returns.std()
    downside = returns[returns < 0].std() if (returns < 0).any() else 0.0
    peak = np.maximum.accumulate(bt.equity)
    drawdown = 1 - bt.equity / peak
    closing = bt.trade_pnl[bt.trade_side == "sell"] if len(bt.trade_side) else np.zeros(0)
    gains, losses = closing[closing > 0].sum(), -closing[closing < 0].sum()
    return {
        "total_trades": float(len(bt.trade_side)),
        "winning_trades": float((closing > 0).sum()),
        "net_pnl": float(bt.equity[-1] - initial),
        "total_return": float(bt.equity[-1] / initial - 1),
        "sharpe_ratio": float(returns.mean() / std * np.sqrt(per_year)) if std > 0 else 0.0,
        "sortino_ratio": float(returns.mean() / downside * np.sqrt(per_year)) if downside > 0 else 0.0,
        "max_drawdown": float(drawdown.max()),
        # no losing trade: report a capped 999 rather than infinity (JSON and dashboards choke on inf)
        "profit_factor": float(min(gains / losses, 999.0)) if losses > 0 else (999.0 if gains > 0 else 0.0),
        "win_rate": float((closing > 0).mean()) if len(closing) else 0.0,
    }
