"""The platform's PostgreSQL schema (migrations/postgres): applies, rolls back exactly, and its constraints bite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from dbtools import runner
from dbtools.backends.postgres import PostgresBackend
from dbtools.settings import Settings
from tests.conftest import Servers, fresh_settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
TABLES = {
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
}


@pytest.fixture(scope="module")
def schema(servers: Servers) -> Settings:
    settings = fresh_settings(servers, "postgres")
    runner.migrate("postgres", migrations_dir=MIGRATIONS, settings=settings, create_db=True)
    return settings


@pytest.fixture
def cur(schema: Settings) -> Iterator[psycopg2.extensions.cursor]:
    conn = psycopg2.connect(schema.url)
    with conn.cursor() as cursor:
        cursor.execute(
            "INSERT INTO users (email, username, password_hash) VALUES ('ann@example.com', 'ann', 'h') RETURNING id"
        )
        cursor.execute(
            "INSERT INTO strategies (owner_id, name, kind) VALUES (%s, 'trend', 'trend_following')", cursor.fetchone()
        )
        yield cursor
    conn.rollback()
    conn.close()


def test_every_table_of_the_seed_exists(schema: Settings) -> None:
    backend = PostgresBackend(schema)
    backend.connect()
    names = {row[0].split(".")[1] for row in backend.snapshot()["relations"] if row[1] == "r"}
    backend.close()
    assert names == TABLES


def test_rollback_undoes_exactly_and_reapply_is_identical(servers: Servers) -> None:
    settings = fresh_settings(servers, "postgres")
    backend = PostgresBackend(settings)
    backend.connect(create_database=True)
    empty = backend.snapshot()
    runner.migrate("postgres", migrations_dir=MIGRATIONS, settings=settings)
    applied = backend.snapshot()
    runner.rollback("postgres", to=0, migrations_dir=MIGRATIONS, settings=settings)
    assert backend.snapshot() == empty
    runner.migrate("postgres", migrations_dir=MIGRATIONS, settings=settings)
    assert backend.snapshot() == applied
    backend.close()


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        (
            "INSERT INTO users (email, username, password_hash) VALUES ('ANN@example.com', 'ann2', 'h')",
            psycopg2.errors.UniqueViolation,
        ),  # e-mail unique regardless of case
        (
            "INSERT INTO users (email, username, password_hash) VALUES ('not-an-email', 'bob', 'h')",
            psycopg2.errors.CheckViolation,
        ),
        (
            "INSERT INTO trading_accounts (user_id, name, exchange, balance) "
            "SELECT id, 'main', 'binance', -1 FROM users",
            psycopg2.errors.CheckViolation,
        ),  # negative balance
        (
            "INSERT INTO strategy_runs (strategy_id, kind, strategy_version, initial_capital) "
            "SELECT id, 'backtest', 1, -100 FROM strategies",
            psycopg2.errors.CheckViolation,
        ),  # negative capital
        (
            "INSERT INTO strategy_runs (strategy_id, kind, strategy_version) SELECT id, 'live', 1 FROM strategies",
            psycopg2.errors.CheckViolation,
        ),  # live run without an account
        (
            "INSERT INTO strategies (owner_id, name, kind, status) SELECT id, 's2', 'grid', 'running' FROM users",
            psycopg2.errors.InvalidTextRepresentation,
        ),  # unknown enum value
        (
            "INSERT INTO strategy_runs (strategy_id, kind, strategy_version) VALUES (999999, 'backtest', 1)",
            psycopg2.errors.ForeignKeyViolation,
        ),  # dangling foreign key
        (
            "INSERT INTO api_keys (user_id, name, key_prefix, key_hash) SELECT id, 'k', 'short', 'h' FROM users",
            psycopg2.errors.CheckViolation,
        ),
        (
            "INSERT INTO api_keys (user_id, name, key_prefix, key_hash, scopes) "
            "SELECT id, 'k', 'abcdefgh12', 'h', '{root}' FROM users",
            psycopg2.errors.CheckViolation,
        ),
        (
            "INSERT INTO email_queue (to_address, subject, template, status) VALUES ('a@b.c', 's', 't', 'sent')",
            psycopg2.errors.CheckViolation,
        ),  # sent without sent_at
        (
            "INSERT INTO alert_rules (user_id, name, condition) SELECT id, 'r', '{\"value\": 1}' FROM users",
            psycopg2.errors.CheckViolation,
        ),
    ],
)
def test_constraints_reject_bad_rows(cur: psycopg2.extensions.cursor, sql: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        cur.execute(sql)


def test_one_live_subscription_per_user(cur: psycopg2.extensions.cursor) -> None:
    insert = (
        "INSERT INTO subscriptions (user_id, plan, status, current_period_end) "
        "SELECT id, 'pro', %s, now() + interval '30 days' FROM users"
    )
    cur.execute(insert, ("cancelled",))
    cur.execute(insert, ("active",))
    with pytest.raises(psycopg2.errors.UniqueViolation):
        cur.execute(insert, ("trialing",))


def test_updated_at_is_kept_current(cur: psycopg2.extensions.cursor) -> None:
    cur.execute("UPDATE users SET updated_at = now() - interval '1 day', full_name = 'x'")
    cur.execute("SELECT updated_at >= now() - interval '1 minute' FROM users")
    assert cur.fetchone() == (True,)


def test_unread_and_unsent_lookups_use_partial_indexes(cur: psycopg2.extensions.cursor) -> None:
    cur.execute("SET enable_seqscan = off")
    cur.execute("EXPLAIN SELECT * FROM notifications WHERE user_id = 1 AND read_at IS NULL ORDER BY created_at DESC")
    assert "notifications_unread_idx" in " ".join(r[0] for r in cur.fetchall())
    cur.execute("EXPLAIN SELECT * FROM email_queue WHERE status IN ('pending', 'failed') AND scheduled_at <= now()")
    assert "email_queue_unsent_idx" in " ".join(r[0] for r in cur.fetchall())
