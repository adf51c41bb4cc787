-- Research results: parameter optimisation, backtests, genetic-algorithm populations,
-- walk-forward windows and Monte-Carlo paths. Regenerable data ages out by TTL.

-- migrate:up
CREATE TABLE IF NOT EXISTS optimization_results
(
    optimization_id UUID,
    strategy_id     UInt64,
    method          LowCardinality(String),   -- grid, random, bayesian, genetic
    params          Map(LowCardinality(String), Float64),
    objective       LowCardinality(String),   -- sharpe_ratio, net_pnl ...
    score           Float64,
    total_return    Float64,
    sharpe_ratio    Float64,
    max_drawdown    Float64,
    total_trades    UInt32,
    created_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (strategy_id, optimization_id, score)
TTL toDateTime(created_at) + INTERVAL 1 YEAR DELETE
COMMENT 'Parameter optimisation results, kept 1 year';

CREATE TABLE IF NOT EXISTS backtest_results
(
    backtest_id      UUID,
    strategy_id      UInt64,
    run_id           UInt64,
    symbol           LowCardinality(String),
    timeframe        LowCardinality(String),
    period_start     DateTime64(3, 'UTC'),
    period_end       DateTime64(3, 'UTC'),
    params           Map(LowCardinality(String), Float64),
    initial_capital  Decimal(18, 8),
    final_equity     Decimal(18, 8),
    total_return     Float64,
    annual_return    Float64,
    sharpe_ratio     Float64,
    sortino_ratio    Float64,
    max_drawdown     Float64,
    win_rate         Float64,
    profit_factor    Float64,
    total_trades     UInt32,
    equity_curve     Array(Float64) CODEC(Gorilla, ZSTD(3)),
    created_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- re-running the same backtest replaces its result
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(period_start)
ORDER BY (strategy_id, symbol, timeframe, backtest_id)
COMMENT 'Backtest summaries with their equity curves';

CREATE TABLE IF NOT EXISTS genetic_population
(
    ga_run_id      UUID,
    strategy_id    UInt64,
    generation     UInt32,
    individual_id  UInt32,
    genome         Map(LowCardinality(String), Float64),
    fitness        Float64,
    parent_ids     Array(UInt32),
    mutated        Bool,
    created_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (ga_run_id, generation, individual_id)
TTL toDateTime(created_at) + INTERVAL 180 DAY DELETE
COMMENT 'Genetic-algorithm populations: genomes and fitness per generation, kept 180 days';

CREATE TABLE IF NOT EXISTS walk_forward_results
(
    wf_id                UUID,
    strategy_id          UInt64,
    window_index         UInt16,
    in_sample_start      DateTime64(3, 'UTC'),
    in_sample_end        DateTime64(3, 'UTC'),
    out_of_sample_start  DateTime64(3, 'UTC'),
    out_of_sample_end    DateTime64(3, 'UTC'),
    best_params          Map(LowCardinality(String), Float64),
    in_sample_score      Float64,
    out_of_sample_score  Float64,
    efficiency           Float64,   -- out-of-sample / in-sample score
    created_at           DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (strategy_id, wf_id, window_index)
COMMENT 'Walk-forward windows: in-sample best parameters and out-of-sample scores';

CREATE TABLE IF NOT EXISTS monte_carlo_simulations
(
    simulation_id  UUID,
    strategy_id    UInt64,
    backtest_id    UUID,
    path_id        UInt32,
    method         LowCardinality(String),   -- trade_shuffle, bootstrap, gbm
    final_equity   Float64,
    total_return   Float64,
    max_drawdown   Float64,
    equity_curve   Array(Float32) CODEC(ZSTD(3)),
    created_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (strategy_id, simulation_id, path_id)
TTL toDateTime(created_at) + INTERVAL 90 DAY DELETE
COMMENT 'Monte-Carlo paths of strategy results, kept 90 days';

-- migrate:down
DROP TABLE IF EXISTS monte_carlo_simulations;
DROP TABLE IF EXISTS walk_forward_results;
DROP TABLE IF EXISTS genetic_population;
DROP TABLE IF EXISTS backtest_results;
DROP TABLE IF EXISTS optimization_results;
