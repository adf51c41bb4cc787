"""`seed --db STORE` generates only what that store receives, the same rows a full build gives it, and
counts rows as it goes (pure: no store)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dbtools.seed.dataset import SCALES, STORES, build

UNTIL = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def everything():
    return build(11, "small", UNTIL)


def as_text(table) -> dict[str, list[str]]:
    return {name: list(map(str, values)) for name, values in table.columns.items()}


@pytest.mark.parametrize("store", STORES)
def test_one_store_gets_the_rows_a_full_build_gives_it_and_nothing_else(everything, store: str) -> None:
    alone = build(11, "small", UNTIL, stores=[store])
    assert list(alone.stores) == [store]
    assert [t.target for t in alone.stores[store]] == [t.target for t in everything.stores[store]]
    for mine, full in zip(alone.stores[store], everything.stores[store], strict=True):
        assert as_text(mine) == as_text(full), mine.target


def test_progress_counts_rows_from_the_first_candles() -> None:
    reported: list[int] = []
    data = build(11, "small", UNTIL, stores=["postgres"], progress=reported.append)
    size = SCALES["small"]
    candles = size.symbols * size.days * 1440
    rows = sum(len(t) for t in data.stores["postgres"])
    # the minute candles come first, one report per symbol, then one per table kept
    assert reported[: size.symbols] == [size.days * 1440] * size.symbols
    assert sum(reported) == candles + rows
