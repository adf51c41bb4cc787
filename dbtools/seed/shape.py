"""What the dataset is made of: its symbols and timeframes, sizes (Scale), stores and stages, the Dataset value."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from dbtools.seed.table import Table

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


@dataclass(frozen=True)
class Users:
    ids: np.ndarray
    usernames: list[str]
    roles: list[str]
    created: list[datetime]


def _ms_to_datetimes(ms: np.ndarray) -> np.ndarray:
    return ms.astype("datetime64[ms]")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
