"""The tables seeding builds one row at a time: each row type names its table's columns, in order, once.

A row is made with keywords (`SignalRow(signal_id=..., ...)`, so mypy checks every column name) and
`dbtools.seed.table.from_rows` turns a list of them into a Table, columns in field order. Timestamps
are numpy datetime64 values (ClickHouse) or datetimes (PostgreSQL), as the generating code has them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

# --- PostgreSQL -------------------------------------------------------------------------------------


class StrategyRow(NamedTuple):
    """strategies: one per seeded strategy."""

    id: int
    owner_id: int
    name: str
    kind: str
    status: str
    symbols: list[str]
    timeframe: str
    config: str  # JSON


class StrategyRunRow(NamedTuple):
    """strategy_runs: the backtest run of each strategy."""

    id: int
    strategy_id: int
    account_id: int
    started_by: int
    kind: str
    status: str
    strategy_version: int
    parameters: str  # JSON
    initial_capital: float
    period_start: datetime
    period_end: datetime
    started_at: datetime
    finished_at: datetime
    summary: str  # JSON


# --- ClickHouse: the backtests' own output ----------------------------------------------------------


class SignalRow(NamedTuple):
    """signals: one per signal a backtest raised."""

    signal_id: str
    strategy_id: int
    run_id: int
    symbol: str
    timeframe: str
    ts: Any  # numpy datetime64
    action: str
    strength: float
    price: float
    reason: str


class TradeRow(NamedTuple):
    """trades: one per backtest fill."""

    trade_id: str
    strategy_id: int
    run_id: int
    account_id: int
    mode: str
    exchange: str
    symbol: str
    side: str
    ts: Any  # numpy datetime64
    price: float
    quantity: float
    fee: float
    fee_currency: str
    realized_pnl: float
    signal_id: str | None


class MetricsRow(NamedTuple):
    """strategy_metrics: one per strategy run."""

    strategy_id: int
    run_id: int
    period_start: Any  # numpy datetime64
    period_end: Any
    total_trades: int
    winning_trades: int
    net_pnl: float
    total_return: float
    sharpe_ratio: float
    sortino_ratio: float
    max_drawdown: float
    profit_factor: float


# --- ClickHouse: research -----------------------------------------------------------------------------


class BacktestRow(NamedTuple):
    """backtest_results: one per strategy."""

    backtest_id: str
    strategy_id: int
    run_id: int
    symbol: str
    timeframe: str
    period_start: Any  # numpy datetime64
    period_end: Any
    params: dict[str, float]
    initial_capital: float
    final_equity: float
    total_return: float
    annual_return: float
    sharpe_ratio: float
    sortino_ratio: float
    max_drawdown: float
    win_rate: float
    profit_factor: float
    total_trades: int
    equity_curve: list[float]


class OptimizationRow(NamedTuple):
    """optimization_results: one per grid point of a trend-following strategy."""

    optimization_id: str
    strategy_id: int
    method: str
    params: dict[str, float]
    objective: str
    score: float
    total_return: float
    sharpe_ratio: float
    max_drawdown: float
    total_trades: int


class WalkForwardRow(NamedTuple):
    """walk_forward_results: one per walk-forward window."""

    wf_id: str
    strategy_id: int
    window_index: int
    in_sample_start: Any  # numpy datetime64
    in_sample_end: Any
    out_of_sample_start: Any
    out_of_sample_end: Any
    best_params: dict[str, float]
    in_sample_score: float
    out_of_sample_score: float
    efficiency: float


class GenomeRow(NamedTuple):
    """genetic_population: one per individual of each generation."""

    ga_run_id: str
    strategy_id: int
    generation: int
    individual_id: int
    genome: dict[str, float]
    fitness: float
    parent_ids: list[int]
    mutated: bool


class MonteCarloRow(NamedTuple):
    """monte_carlo_simulations: one per shuffled path."""

    simulation_id: str
    strategy_id: int
    backtest_id: str
    path_id: int
    method: str
    final_equity: float
    total_return: float
    max_drawdown: float
    equity_curve: list[float]
