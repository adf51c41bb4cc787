"""The embedded engine (chdb, current ClickHouse): modern DDL, a real project's history, progress, busy dirs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dbtools import runner
from dbtools.backends.clickhouse import ClickHouseBackend
from dbtools.errors import HistoryMismatch, MigrationFailed
from dbtools.settings import Settings
from tests import corpus

from .conftest import clickhouse_env

MODERN = """-- migrate:up
CREATE TABLE ticks (
    symbol     LowCardinality(String),
    ts         DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    price      Decimal(18, 8) CODEC(ZSTD(3)),
    volume     Float64 CODEC(Gorilla),
    attrs      Map(LowCardinality(String), String),  -- a comment; with a semicolon
    INDEX idx_symbol symbol TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (symbol, ts)
TTL toDateTime(ts) + INTERVAL 90 DAY;
# a hash comment; ClickHouse style
CREATE TABLE candles_1m (
    symbol LowCardinality(String), minute DateTime('UTC'),
    open AggregateFunction(argMin, Decimal(18, 8), DateTime64(3, 'UTC')),
    close AggregateFunction(argMax, Decimal(18, 8), DateTime64(3, 'UTC'))
) ENGINE = AggregatingMergeTree ORDER BY (symbol, minute);
CREATE MATERIALIZED VIEW candles_1m_mv TO candles_1m AS
SELECT symbol, toStartOfMinute(ts) AS minute, argMinState(price, ts) AS open, argMaxState(price, ts) AS close
FROM ticks GROUP BY symbol, minute;
INSERT INTO ticks (symbol, ts, price, volume)
VALUES ('BTC;USD', '2026-01-01 00:00:01.500', 1.5, 2), ('it\\'s', now64(3), 2, 3);
/* block comment; */ ALTER TABLE ticks MODIFY TTL toDateTime(ts) + INTERVAL 30 DAY;
-- migrate:down
DROP VIEW candles_1m_mv;
DROP TABLE candles_1m;
DROP TABLE ticks;
"""


def snapshot(settings: Settings) -> dict:
    backend = ClickHouseBackend(settings)
    backend.connect()
    try:
        return backend.snapshot()
    finally:
        backend.close()


def test_modern_ddl_applies_rolls_back_and_reapplies_the_same(embedded: Settings, tmp_path: Path) -> None:
    (tmp_path / "clickhouse").mkdir()
    (tmp_path / "clickhouse" / "001_ticks.sql").write_text(MODERN)
    empty = snapshot(embedded)
    [row] = runner.migrate("clickhouse", migrations_dir=tmp_path, settings=embedded)
    assert (row.status, row.statements_done, row.statements_total) == ("applied", 5, 5)
    applied = snapshot(embedded)
    assert {t[0] for t in applied["tables"]} == {"ticks", "candles_1m", "candles_1m_mv"}
    ticks = next(t for t in applied["tables"] if t[0] == "ticks")[2]
    assert "CODEC(DoubleDelta" in ticks and "TTL" in ticks and "LowCardinality" in ticks
    backend = ClickHouseBackend(embedded)
    backend.connect()
    assert backend.query("SELECT count() FROM candles_1m") == [(2,)]  # the view saw the INSERT
    backend.close()
    runner.rollback("clickhouse", to=0, migrations_dir=tmp_path, settings=embedded)
    assert snapshot(embedded) == empty
    runner.migrate("clickhouse", migrations_dir=tmp_path, settings=embedded)
    assert snapshot(embedded) == applied


def test_langfuse_history_applies_and_rolls_back_fully(embedded: Settings, tmp_path: Path) -> None:
    expected = corpus.entry("langfuse/clickhouse")
    folder = corpus.lay_out("langfuse/clickhouse", tmp_path, "clickhouse")
    empty = snapshot(embedded)
    done = runner.migrate("clickhouse", migrations_dir=folder, settings=embedded)
    assert len(done) == expected["versions"] == 46 and all(row.status == "applied" for row in done)
    tables = {t[0] for t in snapshot(embedded)["tables"]}
    assert {"traces", "observations", "scores"} <= tables
    reverted = runner.rollback("clickhouse", to=0, migrations_dir=folder, settings=embedded)
    assert len(reverted) == 46
    assert snapshot(embedded) == empty
    assert runner.status("clickhouse", migrations_dir=folder, settings=embedded)["applied"] == []


def test_failure_resume_and_down_failure_on_chdb(embedded: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "clickhouse"
    folder.mkdir()
    path = folder / "001_a.sql"
    path.write_text(
        "-- migrate:up\nCREATE TABLE a (x DateTime64(3)) ENGINE = MergeTree ORDER BY x;\n"
        "ALTER TABLE a ADD COLUMN y Nope;\nCREATE TABLE b (x UInt8) ENGINE = Memory;\n"
        "-- migrate:down\nDROP TABLE b;\nDROP TABLE nope_a;\n"
    )
    with pytest.raises(MigrationFailed, match=r"line 3, statement 2 of 3: .*Nope"):
        runner.migrate("clickhouse", migrations_dir=tmp_path, settings=embedded)
    with pytest.raises(HistoryMismatch, match="failed in statement 2 of 3"):
        runner.migrate("clickhouse", migrations_dir=tmp_path, settings=embedded)
    path.write_text(path.read_text().replace("y Nope", "y String"))
    runner.migrate("clickhouse", migrations_dir=tmp_path, settings=embedded, step_choice="rerun")
    with pytest.raises(MigrationFailed, match=r"down section of 001_a\.sql line 7, statement 2 of 2") as failed:
        runner.rollback("clickhouse", steps=1, migrations_dir=tmp_path, settings=embedded)
    # DROP TABLE b ran: history says the rollback failed in down step 2, not "applied" (issue 13)
    assert "down step 1 ran; down step 2 ran without a transaction" in (failed.value.hint or "")
    status = runner.status("clickhouse", migrations_dir=tmp_path, settings=embedded)
    assert status["applied"] == [] and [(r["in_step"], r["direction"]) for r in status["unfinished"]] == [(2, "down")]
    path.write_text(path.read_text().replace("DROP TABLE nope_a", "DROP TABLE a"))
    runner.rollback("clickhouse", steps=1, step_choice="rerun", migrations_dir=tmp_path, settings=embedded)
    status = runner.status("clickhouse", migrations_dir=tmp_path, settings=embedded)
    assert (status["pending"], status["unfinished"]) == ([1], [])


BUSY = textwrap.dedent(
    """
    import sys
    from chdb import session
    s = session.Session(sys.argv[1])
    print("open", flush=True)
    sys.stdin.read()
    """
)


def test_busy_directory_is_explained_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "chdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", BUSY, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        (tmp_path / "clickhouse").mkdir()
        env = clickhouse_env(Settings("clickhouse", "chdb", "", 0, "", "", "", path=str(folder)))
        done = subprocess.run(
            [sys.executable, "-m", "dbtools", "--migrations-dir", str(tmp_path), "status", "--db", "clickhouse"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1
        assert done.stderr.startswith(f"error: clickhouse (chdb) at {folder}: the chdb directory is in use by pid ")
        assert len(done.stderr.strip().splitlines()) == 2 and not done.stdout.strip(), done
    finally:
        holder.kill()
        holder.wait()
