"""Seeding a real PostgreSQL: the data reads back consistent; a second run adds nothing; --reset reloads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest

from dbtools import runner
from dbtools.errors import HistoryMismatch
from dbtools.seed import dataset, load
from dbtools.settings import Settings
from tests.conftest import Servers, fresh_settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.fixture(scope="module")
def data():
    return dataset.build(3, "small", datetime(2026, 11, 1, tzinfo=UTC))


@pytest.fixture
def pg(servers: Servers) -> Settings:
    settings = fresh_settings(servers, "postgres")
    runner.migrate("postgres", migrations_dir=MIGRATIONS, settings=settings, create_db=True)
    return settings


def scalar(settings: Settings, sql: str):
    with psycopg2.connect(settings.url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_seed_loads_consistent_rows_once(pg: Settings, data) -> None:
    loaded = load("postgres", data, settings=pg, migrations_dir=MIGRATIONS)
    users = next(t for t in data.stores["postgres"] if t.target == "users")
    assert loaded["users"] == len(users) == scalar(pg, "SELECT count(*) FROM users")
    assert (
        scalar(pg, "SELECT count(*) FROM strategies s LEFT JOIN users u ON u.id = s.owner_id WHERE u.id IS NULL") == 0
    )
    assert scalar(pg, "SELECT bool_and(octet_length(token_hash) = 32) FROM user_sessions")
    # identity sequences moved past the loaded ids: a new user gets a fresh id
    new_id = scalar(
        pg, "INSERT INTO users (email, username, password_hash) VALUES ('n@x.io', 'newbie', 'h') RETURNING id"
    )
    assert new_id == len(users) + 1
    assert load("postgres", data, settings=pg, migrations_dir=MIGRATIONS) == {}
    assert scalar(pg, "SELECT count(*) FROM users") == len(users) + 1


def test_reset_wipes_and_reloads_the_same_rows(pg: Settings, data) -> None:
    load("postgres", data, settings=pg, migrations_dir=MIGRATIONS)
    before = scalar(pg, "SELECT md5(string_agg(email || role, ',' ORDER BY id)) FROM users")
    scalar(pg, "UPDATE users SET role = 'viewer' RETURNING 1")
    load("postgres", data, settings=pg, migrations_dir=MIGRATIONS, reset=True)
    assert scalar(pg, "SELECT md5(string_agg(email || role, ',' ORDER BY id)) FROM users") == before


def test_seed_refuses_a_schema_with_pending_migrations(servers: Servers, data) -> None:
    settings = fresh_settings(servers, "postgres")
    runner.migrate("postgres", migrations_dir=MIGRATIONS, settings=settings, create_db=True, target=1)
    with pytest.raises(HistoryMismatch, match="pending"):
        load("postgres", data, settings=settings, migrations_dir=MIGRATIONS)


def test_failed_load_leaves_the_tables_as_they_were(pg: Settings, data) -> None:
    broken = dataset.Dataset(
        data.seed,
        data.scale,
        data.until,
        {
            "postgres": [
                *data.stores["postgres"][:2],
                dataset.Table("strategies", {"id": [1], "owner_id": [999_999], "name": ["x"], "kind": ["grid"]}),
            ]
        },
    )
    with pytest.raises(Exception, match="loading strategies failed"):
        load("postgres", broken, settings=pg, migrations_dir=MIGRATIONS)
    assert scalar(pg, "SELECT count(*) FROM users") == 0


def test_tables_load_in_chunks_of_rows_with_progress_counting_rows(
    pg: Settings, data, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dbtools.seed as seed

    monkeypatch.setattr(seed, "CHUNK_ROWS", 7)  # every table of the small scale spans several chunks
    counted: list[int] = []
    monkeypatch.setattr(seed, "rows_progress", lambda enabled, what, total=None: _Counting(counted, total))
    loaded = load("postgres", data, settings=pg, migrations_dir=MIGRATIONS, progress=True)
    tables = data.stores["postgres"]
    assert loaded == {t.target: len(t) for t in tables}
    assert counted[0] == sum(len(t) for t in tables) and sum(counted[1:]) == counted[0]
    assert max(counted[1:]) == 7
    users = next(t for t in tables if t.target == "users")
    assert scalar(pg, "SELECT count(*) FROM users") == len(users)
    new_id = scalar(
        pg, "INSERT INTO users (email, username, password_hash) VALUES ('c@x.io', 'chunky', 'h') RETURNING id"
    )
    assert new_id == len(users) + 1


class _Counting:
    """A rows_progress stand-in that records the total, then every count it is given."""

    def __init__(self, counted: list[int], total: int | None) -> None:
        self.counted = counted
        counted.append(total or 0)

    def __enter__(self):
        return self.counted.append

    def __exit__(self, *exc: object) -> None:
        return None
