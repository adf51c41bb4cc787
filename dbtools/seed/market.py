"""Market data that hangs together: candles from a regime-switching geometric Brownian motion,
higher timeframes aggregated from 1-minute candles, ticks inside the candles, and indicators
computed from the candles. Pure and deterministic: the same seed gives the same arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}
YEAR_MINUTES = 365 * 24 * 60
# annualised volatility of the calm, normal and turbulent regimes (crypto-like)
REGIME_VOLATILITY = np.array([0.35, 0.7, 1.6])
# chance per minute of leaving the current regime
REGIME_SWITCH = 1 / (3 * 24 * 60)


@dataclass(frozen=True)
class Candles:
    """Candles of one symbol and timeframe on a gap-free time grid (open_time in ms since the epoch)."""

    symbol: str
    timeframe: str
    open_time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    trades_count: np.ndarray


def minute_candles(rng: np.random.Generator, symbol: str, start_ms: int, minutes: int, price: float) -> Candles:
    """1-minute candles: each opens at the previous close; high/low bracket open and close."""
    regimes = _regimes(rng, minutes)
    sigma = REGIME_VOLATILITY[regimes] / np.sqrt(YEAR_MINUTES)
    log_returns = rng.standard_normal(minutes) * sigma - 0.5 * sigma**2
    close = price * np.exp(np.cumsum(log_returns))
    open_ = np.concatenate(([price], close[:-1]))
    # intra-minute excursions scale with the regime's volatility
    up = np.abs(rng.standard_normal(minutes)) * sigma * 0.6
    down = np.abs(rng.standard_normal(minutes)) * sigma * 0.6
    high = np.maximum(open_, close) * np.exp(up)
    low = np.minimum(open_, close) * np.exp(-down)
    # busier when the price moves: volume follows the absolute return, log-normally
    activity = 1 + 40 * np.abs(log_returns) / sigma.mean()
    volume = rng.lognormal(mean=1.0, sigma=0.5, size=minutes) * activity * 1000 / price
    trades = np.maximum(1, rng.poisson(20 * activity)).astype(np.uint32)
    open_time = start_ms + np.arange(minutes, dtype=np.int64) * 60_000
    return Candles(symbol, "1m", open_time, open_, high, low, close, volume, trades)


def _regimes(rng: np.random.Generator, steps: int) -> np.ndarray:
    """A Markov chain over the volatility regimes, mostly in the middle one."""
    switches = rng.random(steps) < REGIME_SWITCH
    choices = rng.choice(len(REGIME_VOLATILITY), size=steps, p=[0.3, 0.5, 0.2])
    # the regime in force at each step is the choice drawn at the last switch
    last_switch = np.maximum.accumulate(np.where(switches, np.arange(steps), 0))
    return choices[last_switch]


def aggregate(base: Candles, timeframe: str) -> Candles:
    """Candles of a longer timeframe built from 1-minute candles (whole periods only)."""
    width = MINUTES[timeframe]
    if width == 1:
        return base
    n = len(base.close) // width * width

    def grouped(values: np.ndarray) -> np.ndarray:
        return values[:n].reshape(-1, width)

    return Candles(
        base.symbol,
        timeframe,
        grouped(base.open_time)[:, 0],
        grouped(base.open)[:, 0],
        grouped(base.high).max(axis=1),
        grouped(base.low).min(axis=1),
        grouped(base.close)[:, -1],
        grouped(base.volume).sum(axis=1),
        grouped(base.trades_count).sum(axis=1).astype(np.uint32),
    )


def ticks(rng: np.random.Generator, candles: Candles, per_candle: int = 6) -> dict[str, np.ndarray]:
    """Ticks inside 1-minute candles: the first trades at the open, the last at the close, and
    the candle's high and low are both hit, so the candles rebuilt from these ticks equal the input."""
    n = len(candles.close)
    k = max(per_candle, 4)
    prices = rng.uniform(candles.low[:, None], candles.high[:, None], size=(n, k))
    prices[:, 0] = candles.open
    prices[:, -1] = candles.close
    # put the high and the low on two distinct interior ticks
    interior = np.argsort(rng.random((n, k - 2)), axis=1)[:, :2] + 1
    rows = np.arange(n)
    prices[rows, interior[:, 0]] = candles.high
    prices[rows, interior[:, 1]] = candles.low
    offsets = np.sort(rng.integers(1, 59_000_000, size=(n, k)), axis=1)  # microseconds into the minute
    offsets[:, 0] = rng.integers(0, 1000, size=n)
    ts_us = candles.open_time[:, None] * 1000 + offsets
    quantity = rng.lognormal(-1.0, 1.0, size=(n, k)) * (candles.volume / k)[:, None] / np.exp(-0.5)
    side = np.where(rng.random((n, k)) < 0.5, "buy", "sell")
    spread = prices * 0.0002
    return {
        "ts_us": ts_us.ravel(),
        "price": prices.ravel(),
        "quantity": quantity.ravel(),
        "side": side.ravel(),
        "best_bid": (prices - spread).ravel(),
        "best_ask": (prices + spread).ravel(),
    }


def sma(values: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average; NaN until `period` values exist."""
    out = np.full(len(values), np.nan)
    if len(values) >= period:
        sums = np.cumsum(np.concatenate(([0.0], values)))
        out[period - 1 :] = (sums[period:] - sums[:-period]) / period
    return out


def ema(values: np.ndarray, period: int) -> np.ndarray:
    """Exponential moving average seeded with the first SMA; NaN before it."""
    out = np.full(len(values), np.nan)
    if len(values) < period:
        return out
    alpha = 2 / (period + 1)
    current = values[:period].mean()
    out[period - 1] = current
    for i in range(period, len(values)):
        current += alpha * (values[i] - current)
        out[i] = current
    return out


def rsi(values: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's relative strength index, 0..100; NaN for the first `period` values."""
    out = np.full(len(values), np.nan)
    if len(values) <= period:
        return out
    change = np.diff(values)
    gains, losses = np.clip(change, 0, None), np.clip(-change, 0, None)
    avg_gain, avg_loss = gains[:period].mean(), losses[:period].mean()
    for i in range(period, len(values)):
        if i > period:
            avg_gain = (avg_gain * (period - 1) + gains[i - 1]) / period
            avg_loss = (avg_loss * (period - 1) + losses[i - 1]) / period
        out[i] = 100.0 if avg_loss == 0 else 100 - 100 / (1 + avg_gain / avg_loss)
    return out


INDICATORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sma_20": lambda c: sma(c, 20),
    "sma_50": lambda c: sma(c, 50),
    "ema_20": lambda c: ema(c, 20),
    "rsi_14": lambda c: rsi(c, 14),
}
