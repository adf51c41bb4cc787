-- Trading: strategy signals, executed trades, portfolio snapshots, strategy metrics and their
-- daily roll-up from trades. Booked money is Decimal(18, 8): exact sums, satoshi precision.

-- migrate:up
CREATE TABLE IF NOT EXISTS signals
(
    signal_id    UUID,
    strategy_id  UInt64,
    run_id       UInt64,
    symbol       LowCardinality(String),
    timeframe    LowCardinality(String),
    ts           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    action       Enum8('buy' = 1, 'sell' = 2, 'close' = 3, 'hold' = 4),
    strength     Float32,                  -- confidence, 0..1
    price        Float64 CODEC(Gorilla, ZSTD(1)),
    reason       LowCardinality(String),   -- sma_cross_up, rsi_oversold ...
    indicators   Map(LowCardinality(String), Float64)  -- the values that triggered it
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (strategy_id, symbol, ts)
COMMENT 'Trading signals emitted by strategies';

CREATE TABLE IF NOT EXISTS trades
(
    trade_id      UUID,
    strategy_id   UInt64,
    run_id        UInt64,
    account_id    UInt64,
    mode          Enum8('backtest' = 1, 'paper' = 2, 'live' = 3),
    exchange      LowCardinality(String),
    symbol        LowCardinality(String),
    side          Enum8('buy' = 1, 'sell' = 2),
    ts            DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    price         Decimal(18, 8),
    quantity      Decimal(18, 8),
    fee           Decimal(18, 8),
    fee_currency  LowCardinality(String),
    realized_pnl  Decimal(18, 8),          -- on closing trades; 0 on opening ones
    signal_id     Nullable(UUID),
    updated_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- a fill reported again (partial fills, corrections) replaces the older row
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (strategy_id, symbol, ts, trade_id)
COMMENT 'Every executed trade (backtest, paper, live)';

CREATE TABLE IF NOT EXISTS portfolio_snapshots
(
    account_id    UInt64,
    strategy_id   UInt64,
    ts            DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    cash          Decimal(18, 8),
    equity        Decimal(18, 8),
    positions     Map(LowCardinality(String), Decimal(18, 8)),   -- symbol -> quantity held
    unrealized_pnl Decimal(18, 8),
    drawdown      Float64                  -- from the running equity peak, 0..1
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, strategy_id, ts)
TTL toDateTime(ts) + INTERVAL 2 YEAR DELETE
COMMENT 'Portfolio state (cash, equity, positions) over time, kept 2 years';

CREATE TABLE IF NOT EXISTS strategy_metrics
(
    strategy_id    UInt64,
    run_id         UInt64,
    period_start   DateTime64(3, 'UTC'),
    period_end     DateTime64(3, 'UTC'),
    total_trades   UInt32,
    winning_trades UInt32,
    net_pnl        Decimal(18, 8),
    total_return   Float64,
    sharpe_ratio   Float64,
    sortino_ratio  Float64,
    max_drawdown   Float64,
    profit_factor  Float64,
    computed_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- metrics are recomputed as runs progress: the newest computation wins
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (strategy_id, run_id, period_start)
COMMENT 'Performance metrics of strategy runs';

-- Daily per-strategy roll-up, maintained from trades as they are inserted.
CREATE TABLE IF NOT EXISTS strategy_metrics_daily
(
    strategy_id     UInt64,
    day             Date,
    trades          SimpleAggregateFunction(sum, UInt64),
    winning_trades  SimpleAggregateFunction(sum, UInt64),
    realized_pnl    SimpleAggregateFunction(sum, Decimal(38, 8)),
    fees            SimpleAggregateFunction(sum, Decimal(38, 8)),
    turnover        SimpleAggregateFunction(sum, Decimal(38, 8))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (strategy_id, day)
COMMENT 'Daily per-strategy roll-up of trades, maintained by strategy_metrics_daily_mv';

CREATE MATERIALIZED VIEW IF NOT EXISTS strategy_metrics_daily_mv TO strategy_metrics_daily AS
SELECT
    strategy_id,
    day,
    toUInt64(count()) AS trades,
    toUInt64(countIf(pnl > 0)) AS winning_trades,
    sum(pnl) AS realized_pnl,
    sum(trade_fee) AS fees,
    sum(notional) AS turnover
FROM
(
    -- renamed first: the output columns reuse the input names
    SELECT
        strategy_id,
        toDate(ts) AS day,
        toDecimal128(realized_pnl, 8) AS pnl,
        toDecimal128(fee, 8) AS trade_fee,
        toDecimal128(toDecimal128(price, 8) * toDecimal128(quantity, 8), 8) AS notional
    FROM trades
)
GROUP BY strategy_id, day;

-- migrate:down
DROP VIEW IF EXISTS strategy_metrics_daily_mv;
DROP TABLE IF EXISTS strategy_metrics_daily;
DROP TABLE IF EXISTS strategy_metrics;
DROP TABLE IF EXISTS portfolio_snapshots;
DROP TABLE IF EXISTS trades;
DROP TABLE IF EXISTS signals;
