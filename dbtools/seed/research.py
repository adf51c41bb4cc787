"""Research results computed by actually re-running the seeded strategies: a parameter grid,
walk-forward windows, a small genetic search and Monte-Carlo trade shuffles (ClickHouse tables)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from dbtools.seed import market
from dbtools.seed.rows import BacktestRow, GenomeRow, MonteCarloRow, OptimizationRow, WalkForwardRow
from dbtools.seed.table import from_rows, stable_uuid
from dbtools.seed.trading import Backtest, Strategy, backtest

if TYPE_CHECKING:
    from dbtools.seed.shape import Dataset

GRID = [(fast, slow) for fast in (10, 20, 30) for slow in (50, 100)]
WALK_FORWARD_WINDOWS = 3
GA_POPULATION = 8
GA_GENERATIONS = 3
MONTE_CARLO_PATHS = 50


def _trend(strategy: Strategy, fast: float, slow: float) -> Strategy:
    return replace(strategy, params={"fast": fast, "slow": slow})


def add_tables(
    data: Dataset,
    rng: np.random.Generator,
    strategies: list[Strategy],
    results: dict[int, Backtest],
    candles: dict[str, market.Candles],
) -> None:
    """Add backtest, optimisation, walk-forward, genetic and Monte-Carlo tables to `data`."""
    bt_rows: list[BacktestRow] = []
    opt: list[OptimizationRow] = []
    wf: list[WalkForwardRow] = []
    ga: list[GenomeRow] = []
    mc: list[MonteCarloRow] = []
    for s in strategies:
        c = market.aggregate(candles[s.symbol], s.timeframe)
        times = c.open_time.astype("datetime64[ms]")
        bt = results[s.strategy_id]
        m = bt.metrics
        backtest_id = stable_uuid(f"{data.seed}:backtest:{s.strategy_id}")
        step = max(1, len(bt.equity) // 200)  # equity curve downsampled to about 200 points
        bt_rows.append(
            BacktestRow(
                backtest_id=backtest_id,
                strategy_id=s.strategy_id,
                run_id=s.strategy_id,
                symbol=s.symbol,
                timeframe=s.timeframe,
                period_start=times[0],
                period_end=times[-1],
                params=dict(s.params),
                initial_capital=s.initial_capital,
                final_equity=round(float(bt.equity[-1]), 8),
                total_return=m["total_return"],
                annual_return=m["total_return"] * 365 / max(1, len(c.close) * market.MINUTES[s.timeframe] / 1440),
                sharpe_ratio=m["sharpe_ratio"],
                sortino_ratio=m["sortino_ratio"],
                max_drawdown=m["max_drawdown"],
                win_rate=m["win_rate"],
                profit_factor=m["profit_factor"],
                total_trades=int(m["total_trades"]),
                equity_curve=bt.equity[::step].round(4).tolist(),
            )
        )
        _monte_carlo(mc, rng, s, bt, backtest_id, data.seed)
        if s.kind != "trend_following":
            continue
        optimization_id = stable_uuid(f"{data.seed}:optimization:{s.strategy_id}")
        for fast, slow in GRID:
            r = backtest(_trend(s, fast, slow), c.close).metrics
            opt.append(
                OptimizationRow(
                    optimization_id=optimization_id,
                    strategy_id=s.strategy_id,
                    method="grid",
                    params={"fast": float(fast), "slow": float(slow)},
                    objective="sharpe_ratio",
                    score=r["sharpe_ratio"],
                    total_return=r["total_return"],
                    sharpe_ratio=r["sharpe_ratio"],
                    max_drawdown=r["max_drawdown"],
                    total_trades=int(r["total_trades"]),
                )
            )
        _walk_forward(wf, s, c, times, data.seed)
        _genetic(ga, rng, s, c, data.seed)
    data.add("clickhouse", from_rows("backtest_results", BacktestRow._fields, bt_rows))
    data.add("clickhouse", from_rows("optimization_results", OptimizationRow._fields, opt))
    data.add("clickhouse", from_rows("walk_forward_results", WalkForwardRow._fields, wf))
    data.add("clickhouse", from_rows("genetic_population", GenomeRow._fields, ga))
    data.add("clickhouse", from_rows("monte_carlo_simulations", MonteCarloRow._fields, mc))


def _walk_forward(wf: list[WalkForwardRow], s: Strategy, c: market.Candles, times: np.ndarray, seed: int) -> None:
    """Best grid parameters on each in-sample window, scored on the window after it."""
    wf_id = stable_uuid(f"{seed}:walk_forward:{s.strategy_id}")
    size = len(c.close) // (WALK_FORWARD_WINDOWS + 1)
    for w in range(WALK_FORWARD_WINDOWS):
        ins, outs = slice(w * size, (w + 1) * size), slice((w + 1) * size, (w + 2) * size)
        scored = [(backtest(_trend(s, f, sl), c.close[ins]).metrics["sharpe_ratio"], f, sl) for f, sl in GRID]
        best_score, fast, slow = max(scored)
        out_score = backtest(_trend(s, fast, slow), c.close[outs]).metrics["sharpe_ratio"]
        wf.append(
            WalkForwardRow(
                wf_id=wf_id,
                strategy_id=s.strategy_id,
                window_index=w,
                in_sample_start=times[ins][0],
                in_sample_end=times[ins][-1],
                out_of_sample_start=times[outs][0],
                out_of_sample_end=times[outs][-1],
                best_params={"fast": float(fast), "slow": float(slow)},
                in_sample_score=best_score,
                out_of_sample_score=out_score,
                efficiency=out_score / best_score if best_score else 0.0,
            )
        )


def _genetic(ga: list[GenomeRow], rng: np.random.Generator, s: Strategy, c: market.Candles, seed: int) -> None:
    """A few generations: keep the fitter half, breed it with crossover and mutation."""
    run_id = stable_uuid(f"{seed}:ga:{s.strategy_id}")
    genomes = [(float(rng.integers(5, 40)), float(rng.integers(45, 200))) for _ in range(GA_POPULATION)]
    parents: list[list[int]] = [[] for _ in genomes]
    mutated = [False] * GA_POPULATION
    for generation in range(GA_GENERATIONS):
        fitness = [backtest(_trend(s, f, sl), c.close).metrics["sharpe_ratio"] for f, sl in genomes]
        ga.extend(  # one individual: run, strategy, generation, index, genome, fitness, parents, mutated
            GenomeRow(run_id, s.strategy_id, generation, i, {"fast": fast, "slow": slow}, fit, parents[i], mutated[i])
            for i, ((fast, slow), fit) in enumerate(zip(genomes, fitness, strict=True))
        )
        order = np.argsort(fitness)[::-1][: GA_POPULATION // 2].tolist()
        children, parents, mutated = [], [], []
        for i in range(GA_POPULATION):
            a, b = order[i % len(order)], order[(i + 1) % len(order)]
            fast, slow = genomes[a][0], genomes[b][1]
            flip = bool(rng.random() < 0.2)
            if flip:
                fast = float(np.clip(fast + rng.integers(-5, 6), 3, 44))
            children.append((fast, max(slow, fast + 5)))
            parents.append([a, b])
            mutated.append(flip)
        genomes = children


def _monte_carlo(
    mc: list[MonteCarloRow], rng: np.random.Generator, s: Strategy, bt: Backtest, backtest_id: str, seed: int
) -> None:
    """Shuffle the order of the closed trades' returns: how much of the result was luck of sequence."""
    closing = bt.trade_pnl[bt.trade_side == "sell"] if len(bt.trade_side) else np.zeros(0)
    if len(closing) == 0:
        return
    returns = closing / s.initial_capital
    simulation_id = stable_uuid(f"{seed}:monte_carlo:{s.strategy_id}")
    for path in range(MONTE_CARLO_PATHS):
        curve = s.initial_capital * np.cumprod(1 + rng.permutation(returns))
        peak = np.maximum.accumulate(np.concatenate(([s.initial_capital], curve)))
        drawdown = float((1 - np.concatenate(([s.initial_capital], curve)) / peak).max())
        mc.append(
            MonteCarloRow(
                simulation_id=simulation_id,
                strategy_id=s.strategy_id,
                backtest_id=backtest_id,
                path_id=path,
                method="trade_shuffle",
                final_equity=float(curve[-1]),
                total_return=float(curve[-1] / s.initial_capital - 1),
                max_drawdown=drawdown,
                equity_curve=curve.astype(np.float32).tolist(),
            )
        )
