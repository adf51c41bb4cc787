"""MongoDB's documents (strategy configs, events) and Redis' caches of the dataset."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np

from dbtools.seed import market, research
from dbtools.seed.shape import REDIS_CANDLES, Dataset
from dbtools.seed.table import Table
from dbtools.seed.trading import Backtest, Strategy


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
