"""docs/schema.md cannot drift: it must equal what `schema-docs` writes from freshly migrated servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtools import docs

ROOT = Path(__file__).resolve().parents[2]
SEED_NAMES = {
    "postgres": [
        "users",
        "user_sessions",
        "api_keys",
        "user_permissions",
        "audit_logs",
        "strategies",
        "strategy_runs",
        "strategy_access",
        "trading_accounts",
        "subscriptions",
        "notifications",
        "alert_rules",
        "email_queue",
    ],
    "clickhouse": [
        "ohlcv_data",
        "tick_data",
        "indicators",
        "signals",
        "trades",
        "strategy_metrics",
        "optimization_results",
        "backtest_results",
        "genetic_population",
        "portfolio_snapshots",
        "walk_forward_results",
        "monte_carlo_simulations",
    ],
    "mongodb": [
        "strategy_configs",
        "indicator_metadata",
        "system_logs",
        "event_store",
        "ml_models",
        "genetic_algorithm_config",
    ],
    "redis": [
        "candles:{symbol}:{timeframe}",
        "indicators:{strategy_id}:{symbol}",
        "sessions:{session_id}",
        "limits:{user_id}",
        "queue:calculations",
    ],
}


@pytest.fixture(scope="module")
def committed() -> dict[str, str]:
    return docs.sections((ROOT / "docs" / "schema.md").read_text())


@pytest.mark.parametrize("store", list(SEED_NAMES))
def test_committed_section_equals_a_fresh_one(store: str, committed: dict[str, str]) -> None:
    if not docs.available(store):
        pytest.skip(f"no {store} server here to regenerate its section from; the committed one is kept")
    fresh = docs.render_section(store, docs.describe_store(store, ROOT / "migrations"))
    assert committed.get(store) == fresh, (
        f"docs/schema.md is out of date for {store}: run `python -m dbtools schema-docs`"
    )


@pytest.mark.parametrize("store", list(SEED_NAMES))
def test_every_structure_the_seed_names_is_documented(store: str, committed: dict[str, str]) -> None:
    missing = [name for name in SEED_NAMES[store] if f"`{name}`" not in committed[store]]
    assert not missing


def test_postgres_section_has_an_er_diagram(committed: dict[str, str]) -> None:
    assert "```mermaid\nerDiagram" in committed["postgres"] and "users ||--o{ strategies" in committed["postgres"]


def test_regenerating_one_store_keeps_the_other_sections(committed: dict[str, str]) -> None:
    existing = (ROOT / "docs" / "schema.md").read_text()
    text, outcome = docs.generate(ROOT / "migrations", existing, ["redis"])
    assert list(outcome) == ["redis"]
    assert docs.sections(text) == committed  # redis regenerated to the same text, the others kept
