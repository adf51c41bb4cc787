-- Market data: candles, ticks and computed indicators, plus 1-minute candles built from ticks.
--
-- Prices in market data are Float64 on purpose: they feed indicator and backtest arithmetic, where
-- Decimal's slower math buys nothing, and Gorilla compresses them well. Money that is booked
-- (trades, portfolio cash) is Decimal, in 002.

-- migrate:up
CREATE TABLE IF NOT EXISTS ohlcv_data
(
    exchange     LowCardinality(String),
    symbol       LowCardinality(String),
    timeframe    LowCardinality(String),
    open_time    DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    open         Float64 CODEC(Gorilla, ZSTD(1)),
    high         Float64 CODEC(Gorilla, ZSTD(1)),
    low          Float64 CODEC(Gorilla, ZSTD(1)),
    close        Float64 CODEC(Gorilla, ZSTD(1)),
    volume       Float64 CODEC(Gorilla, ZSTD(1)),
    quote_volume Float64 CODEC(Gorilla, ZSTD(1)),
    trades_count UInt32 CODEC(T64, ZSTD(1)),
    ingested_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- a candle re-downloaded or corrected replaces the older row with the same key
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(open_time)
ORDER BY (symbol, timeframe, exchange, open_time)
COMMENT 'Historical OHLCV candles per exchange, symbol and timeframe';

CREATE TABLE IF NOT EXISTS tick_data
(
    exchange  LowCardinality(String),
    symbol    LowCardinality(String),
    ts        DateTime64(6, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    trade_id  UInt64 CODEC(Delta, ZSTD(1)),
    price     Float64 CODEC(Gorilla, ZSTD(1)),
    quantity  Float64 CODEC(Gorilla, ZSTD(1)),
    side      Enum8('buy' = 1, 'sell' = 2),
    best_bid  Float64 CODEC(Gorilla, ZSTD(1)),
    best_ask  Float64 CODEC(Gorilla, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (symbol, exchange, ts)
-- raw ticks are kept 90 days; candles keep the history
TTL toDateTime(ts) + INTERVAL 90 DAY DELETE
COMMENT 'Real-time trades (ticks), kept 90 days';

CREATE TABLE IF NOT EXISTS indicators
(
    symbol       LowCardinality(String),
    timeframe    LowCardinality(String),
    indicator    LowCardinality(String),   -- sma_20, ema_50, rsi_14, macd.signal ...
    ts           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    value        Float64 CODEC(Gorilla, ZSTD(1)),
    params       String DEFAULT '{}',      -- JSON of the parameters used
    computed_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (symbol, timeframe, indicator, ts)
COMMENT 'Indicator values computed from candles (SMA, EMA, RSI, ...)';

-- 1-minute candles aggregated from ticks as they arrive: states merge across insert blocks.
CREATE TABLE IF NOT EXISTS candles_1m_from_ticks
(
    exchange  LowCardinality(String),
    symbol    LowCardinality(String),
    minute    DateTime('UTC'),
    open      AggregateFunction(argMin, Float64, DateTime64(6, 'UTC')),
    high      SimpleAggregateFunction(max, Float64),
    low       SimpleAggregateFunction(min, Float64),
    close     AggregateFunction(argMax, Float64, DateTime64(6, 'UTC')),
    volume    SimpleAggregateFunction(sum, Float64),
    trades    SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (symbol, exchange, minute)
COMMENT '1-minute candle states aggregated from ticks by candles_1m_from_ticks_mv';

CREATE MATERIALIZED VIEW IF NOT EXISTS candles_1m_from_ticks_mv TO candles_1m_from_ticks AS
SELECT
    exchange,
    symbol,
    toStartOfMinute(ts) AS minute,
    argMinState(price, ts) AS open,
    max(price) AS high,
    min(price) AS low,
    argMaxState(price, ts) AS close,
    sum(quantity) AS volume,
    toUInt64(count()) AS trades
FROM tick_data
GROUP BY exchange, symbol, minute;

-- The finished candles, read like ohlcv_data.
CREATE VIEW IF NOT EXISTS candles_1m AS
SELECT
    exchange,
    symbol,
    minute AS open_time,
    argMinMerge(open) AS open,
    max(high) AS high,
    min(low) AS low,
    argMaxMerge(close) AS close,
    sum(volume) AS volume,
    sum(trades) AS trades_count
FROM candles_1m_from_ticks
GROUP BY exchange, symbol, open_time;

-- migrate:down
DROP VIEW IF EXISTS candles_1m;
DROP VIEW IF EXISTS candles_1m_from_ticks_mv;
DROP TABLE IF EXISTS candles_1m_from_ticks;
DROP TABLE IF EXISTS indicators;
DROP TABLE IF EXISTS tick_data;
DROP TABLE IF EXISTS ohlcv_data;
