"""Redis specifics against a real redis-server started on a free port: settings and connection errors,
SCAN-based migrations up and down, the renewed token lock, parallel CLI runs, the key-layout check."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dbtools import runner
from dbtools.backends.redis import RedisBackend
from dbtools.backends.redis.layout import LOCK_KEY
from dbtools.errors import ConfigError, ConnectionFailed, DatabaseMissing, HistoryMismatch, LockTimeout
from dbtools.sandbox import free_port, start
from dbtools.settings import Settings, from_env
from tests.conftest import Servers

REPO = Path(__file__).resolve().parents[2]
PROJECT_LAYOUT = REPO / "migrations" / "redis" / "layout.toml"


@pytest.fixture
def mdir(tmp_path: Path) -> Path:
    """A migrations folder whose Redis layout is the project's (migrations/redis/layout.toml)."""
    (tmp_path / "redis").mkdir()
    shutil.copy(PROJECT_LAYOUT, tmp_path / "redis" / "layout.toml")
    return tmp_path


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    return {**clean, "REDIS_URL": settings.url, **extra}


def cli(mdir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def write(mdir: Path, version: int, name: str, text: str) -> Path:
    path = mdir / "redis" / f"{version:03d}_{name}.py"
    path.write_text(text)
    return path


# -- settings and connection errors ---------------------------------------------------------------


def test_settings_come_from_redis_variables_or_url() -> None:
    defaults = from_env("redis", RedisBackend.defaults, {})
    assert (defaults.host, defaults.port, defaults.database, defaults.password) == ("localhost", 6379, "0", "")
    parts = from_env("redis", RedisBackend.defaults, {"REDIS_HOST": "cache", "REDIS_PORT": "6380", "REDIS_DB": "2"})
    assert (parts.host, parts.port, parts.database) == ("cache", 6380, "2")
    url = from_env("redis", RedisBackend.defaults, {"REDIS_URL": "rediss://:pw@cache.example:6390/5"})
    assert (url.scheme, url.host, url.port, url.database, url.password) == ("rediss", "cache.example", 6390, "5", "pw")
    with pytest.raises(ConfigError, match="is not a DB index"):
        RedisBackend(parts.with_database("sessions")).connect()


def test_connection_errors_are_one_clear_line(servers: Servers) -> None:
    port = free_port()
    with pytest.raises(ConnectionFailed) as refused:
        RedisBackend(Settings("redis", "redis", "127.0.0.1", port, "0", "", "")).connect()
    assert refused.value.message == f"redis at 127.0.0.1:{port}: connection refused; is Redis running there?"
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        http_port = web.server_address[1]
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match="does not speak the Redis protocol") as wrong:
            RedisBackend(Settings("redis", "redis", "127.0.0.1", http_port, "0", "", "")).connect()
        assert f"is {http_port} the Redis port" in wrong.value.hint
        assert time.monotonic() - started < 2  # no silent retries
    finally:
        web.shutdown()
    base = servers.get("redis")
    with pytest.raises(DatabaseMissing, match="DB index 5000 does not exist"):
        RedisBackend(base.with_database("5000")).connect()


def test_wrong_or_missing_password_is_reported_without_the_password() -> None:
    with start("redis", provider="local", password="s3cret-pw") as settings:
        RedisBackend(settings).connect()
        for password in ("wrong-pw", ""):
            bad = Settings("redis", "redis", settings.host, settings.port, "0", "", password, source="REDIS_URL")
            with pytest.raises(ConnectionFailed, match="authentication failed for the default user") as failure:
                RedisBackend(bad).connect()
            assert "wrong-pw" not in failure.value.message and "REDIS_PASSWORD" in failure.value.hint


def test_server_gone_in_mid_run_is_one_clear_line() -> None:
    with start("redis", provider="local") as settings:
        backend = RedisBackend(settings)
        backend.connect()
    # the sandbox has stopped: the next call finds nobody there
    with pytest.raises(ConnectionFailed, match="connection refused; is Redis running there"):
        backend.history()
    backend.close()


def test_history_key_of_another_type_is_refused(rs: Settings, r: object, mdir: Path) -> None:
    r.set("migration_history", "not ours")
    write(mdir, 1, "a", "def up(r):\n    r.set('a', 1)\n")
    with pytest.raises(HistoryMismatch, match="key migration_history is a string"):
        runner.migrate("redis", migrations_dir=mdir, settings=rs)
    assert r.get("a") is None


# -- SCAN-based migrations ------------------------------------------------------------------------

RENAME = """from dbtools.backends.redis.tools import rename_keys


def up(r):
    rename_keys(r, "candle:{symbol}:{timeframe}", "candles:{symbol}:{timeframe}")


def down(r):
    rename_keys(r, "candles:{symbol}:{timeframe}", "candle:{symbol}:{timeframe}")
"""

EXPIRE = """from dbtools.redis_layout import SESSIONS
from dbtools.backends.redis.tools import expire_keys, persist_keys


def up(r):
    expire_keys(r, SESSIONS.pattern, 3600)


def down(r):
    persist_keys(r, SESSIONS.pattern)
"""

RESHAPE = """import json

from dbtools.backends.redis.tools import reshape_hashes


def nest(key, fields):
    # {"rsi": "55", "rsi_ts": "1700"} -> {"rsi": '{"value": "55", "ts": "1700"}'}
    if not any(name.endswith("_ts") for name in fields):
        return None
    names = [n for n in fields if not n.endswith("_ts")]
    return {n: json.dumps({"value": fields[n], "ts": fields.get(n + "_ts")}) for n in names}


def flat(key, fields):
    out = {}
    for name, text in fields.items():
        value = json.loads(text)
        out[name] = value["value"]
        if value["ts"] is not None:
            out[name + "_ts"] = value["ts"]
    return out


def up(r):
    reshape_hashes(r, "indicators:{strategy_id}:{symbol}", nest)


def down(r):
    reshape_hashes(r, "indicators:{strategy_id}:{symbol}", flat)
"""


def _fill_old_layout(r: object, n: int) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.rpush(f"candle:S{i}:1m", "o,h,l,c,v")
        pipe.hset(f"sessions:s{i}", mapping={"user_id": str(i)})
        pipe.hset(f"indicators:{i % 7}:S{i}", mapping={"rsi": "55", "rsi_ts": "1700"})
    pipe.hset("sessions:kept", "user_id", "0")
    pipe.expire("sessions:kept", 60)
    pipe.execute()


def test_scan_migrations_rename_expire_and_reshape_up_and_down(rs: Settings, r: object, mdir: Path) -> None:
    n = 3000
    _fill_old_layout(r, n)
    write(mdir, 1, "rename_candle_keys", RENAME)
    write(mdir, 2, "expire_sessions", EXPIRE)
    write(mdir, 3, "nest_indicator_timestamps", RESHAPE)
    r.config_resetstat()
    runner.migrate("redis", migrations_dir=mdir, settings=rs)
    assert r.exists("candles:S0:1m") and not r.exists("candle:S0:1m")
    assert sum(1 for _ in r.scan_iter(match="candles:*", count=1000)) == n
    assert 3000 < r.ttl(f"sessions:s{n - 1}") <= 3600 and r.ttl("sessions:kept") <= 60  # kept its own TTL
    assert json.loads(r.hget("indicators:0:S0", "rsi")) == {"value": "55", "ts": "1700"}
    assert runner.migrate("redis", migrations_dir=mdir, settings=rs) == []
    assert runner.rollback("redis", to=0, migrations_dir=mdir, settings=rs) == [3, 2, 1]
    assert r.lrange("candle:S7:1m", 0, -1) == ["o,h,l,c,v"] and not r.exists("candles:S7:1m")
    assert r.ttl("sessions:s5") == -1
    assert r.hgetall("indicators:5:S5") == {"rsi": "55", "rsi_ts": "1700"}
    stats = r.info("commandstats")
    assert "cmdstat_scan" in stats and "cmdstat_keys" not in stats  # SCAN in batches, never KEYS


def test_rename_refuses_to_overwrite_an_existing_key(rs: Settings, r: object, mdir: Path) -> None:
    r.rpush("candle:BTC:1m", "old")
    r.rpush("candles:BTC:1m", "new")
    write(mdir, 1, "rename_candle_keys", RENAME)
    with pytest.raises(Exception, match="'candles:BTC:1m' already exists"):
        runner.migrate("redis", migrations_dir=mdir, settings=rs)
    assert r.lrange("candles:BTC:1m", 0, -1) == ["new"]


def test_repository_migrations_apply_and_pass_the_layout_check(rs: Settings, r: object) -> None:
    r.hset("sessions:abc", "user_id", "1")
    r.set("limits:42", 3)
    r.rpush("queue:calculations", "job")
    runner.migrate("redis", migrations_dir=REPO / "migrations", settings=rs)
    assert 0 < r.ttl("sessions:abc") <= 86400 and 0 < r.ttl("limits:42") <= 60
    events = []
    backend = RedisBackend(rs)
    backend.connect()
    assert backend.check(events.append) == 0
    backend.close()
    assert events[-1].detail.startswith("4 key(s) in DB")  # three keys plus the history hash


# -- lock -----------------------------------------------------------------------------------------

HOLD = """
import sys, time
from dbtools import backends, runner
b = backends.load("redis")(runner.settings_for("redis"))
b.connect()
with b.lock(5):
    print("locked", flush=True)
    time.sleep(float(sys.argv[1]))
    print("lost:", b.lock_lost(), flush=True)
"""


def test_lock_is_renewed_while_a_long_run_holds_it(rs: Settings, r: object) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, "2.2"], env=env_for(rs, REDIS_LOCK_TTL="0.6"), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        time.sleep(1.3)  # twice the TTL: only renewal keeps the key
        assert 0 < r.pttl(LOCK_KEY) <= 600
        other = RedisBackend(rs)
        other.connect()
        with pytest.raises(LockTimeout, match=r"held by dbtools .* pid \d+"):
            with other.lock(0.3):
                pass
        other.close()
        assert holder.stdout.readline().strip() == "lost: None"
        assert holder.wait(10) == 0
        assert r.exists(LOCK_KEY) == 0  # released by its token
    finally:
        holder.kill()


def test_frozen_holder_loses_the_lock_after_expiry_and_cannot_release_ours(rs: Settings, r: object) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, "1.5"], env=env_for(rs, REDIS_LOCK_TTL="0.6"), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        os.kill(holder.pid, signal.SIGSTOP)  # frozen: no heartbeat
        me = RedisBackend(rs)
        me.connect()
        started = time.monotonic()
        with me.lock(5):
            waited = time.monotonic() - started
            assert 0.2 < waited < 2  # taken over only once the frozen run's lease expired
            os.kill(holder.pid, signal.SIGCONT)
            line = holder.stdout.readline().strip()
            assert line.startswith("lost: the migration lock was lost")
            assert holder.wait(10) == 0
            assert f"pid {os.getpid()} " in me.lock_holder()  # its release did not free our lock
        assert me.lock_holder() is None
        me.close()
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()


def test_unlock_force_frees_a_stuck_lock(rs: Settings, r: object, mdir: Path) -> None:
    r.set(LOCK_KEY, json.dumps({"token": "x", "owner": "dbtools 0.1.0 pid 999999 ci@gone", "since": 0}))
    status = cli(mdir, "status", "--db", "redis", env=env_for(rs))
    assert "dbtools 0.1.0 pid 999999 ci@gone since 1970-01-01 00:00:00 UTC (never expires)" in status.stdout
    freed = cli(mdir, "unlock", "--force", "--db", "redis", env=env_for(rs))
    assert freed.returncode == 0 and "deleted the lock of dbtools 0.1.0 pid 999999" in freed.stdout
    assert r.exists(LOCK_KEY) == 0


# -- concurrency ----------------------------------------------------------------------------------


def test_eight_parallel_cli_runs_apply_each_version_once(rs: Settings, r: object, mdir: Path) -> None:
    for i in range(1, 11):
        write(mdir, i, f"m{i}", f"import time\n\n\ndef up(r):\n    r.incr('applied:{i}')\n    time.sleep(0.02)\n")
    env = env_for(rs)
    argv = [sys.executable, "-m", "dbtools", "--migrations-dir", str(mdir), "migrate", "--db", "redis"]
    runs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0] * 8, outputs
    assert sum(out.count("redis: applied") for out, _ in outputs) == 10
    assert [r.get(f"applied:{i}") for i in range(1, 11)] == ["1"] * 10  # each body ran once
    backend = RedisBackend(rs)
    backend.connect()
    assert [(row.version, row.status) for row in backend.history()] == [(i, "applied") for i in range(1, 11)]
    backend.close()


# -- layout check ---------------------------------------------------------------------------------

PLANTED = {
    "match no declared pattern": ["candle:BTC:1m", "session:1", "tmp", "limits", "queue:other", "a:b:c", "x" * 40],
    "are hash, declared list [candles:{symbol}:{timeframe}]": [f"candles:BAD{i}:1h" for i in range(5)],
    "have no TTL, declared with one [sessions:{session_id}]": [f"sessions:nottl{i}" for i in range(4)],
    "have no TTL, declared with one [limits:{user_id}]": ["limits:u1", "limits:u2", "limits:u3"],
    "have a TTL, declared without (they would vanish) [queue:calculations]": ["queue:calculations"],
    "are string, declared hash [indicators:{strategy_id}:{symbol}]": ["indicators:7:ETH"],
}


def _fill_valid(r: object, total: int) -> None:
    pipe = r.pipeline(transaction=False)
    kinds = 4
    for i in range(total // kinds):
        pipe.rpush(f"candles:S{i}:1m", "1")
        pipe.hset(f"indicators:{i % 50}:S{i}", "rsi", "50")
        pipe.hset(f"sessions:{i}", "user_id", str(i))
        pipe.expire(f"sessions:{i}", 3600)
        pipe.set(f"limits:{i}", 1, ex=60)
        if i % 2000 == 0:
            pipe.execute()
    pipe.execute()


def _plant(r: object) -> int:
    pipe = r.pipeline(transaction=False)
    for key in PLANTED["match no declared pattern"]:
        pipe.set(key, "1")
    for key in PLANTED["are hash, declared list [candles:{symbol}:{timeframe}]"]:
        pipe.hset(key, "o", "1")
    for key in PLANTED["have no TTL, declared with one [sessions:{session_id}]"]:
        pipe.hset(key, "user_id", "1")
    for key in PLANTED["have no TTL, declared with one [limits:{user_id}]"]:
        pipe.set(key, 5)
    pipe.rpush("queue:calculations", "job")
    pipe.expire("queue:calculations", 600)
    pipe.set("indicators:7:ETH", "55")
    pipe.execute()
    return sum(len(keys) for keys in PLANTED.values())


def test_check_finds_exactly_the_planted_violations_among_100000_keys(
    rs: Settings, r: object, mdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill_valid(r, 100_000)
    planted = _plant(r)
    assert r.dbsize() == 100_000 + planted
    done = cli(mdir, "check", "--db", "redis", env=env_for(rs))
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[0] == f"error: redis: {planted} violation(s) of the declared layout"
    found = {}
    for line in done.stdout.splitlines():
        match = re.match(r"redis: violation\s+(\d+) key\(s\) (.+); e\.g\. (.+)$", line)
        if match:
            found[match[2]] = (int(match[1]), set(match[3].split(", ")))
    assert {kind: count for kind, (count, _) in found.items()} == {k: len(v) for k, v in PLANTED.items()}
    for kind, (_, samples) in found.items():
        assert samples <= set(PLANTED[kind]) and len(samples) == min(5, len(PLANTED[kind]))
    scanned = next(line for line in done.stdout.splitlines() if "scanned" in line)
    assert f"{100_000 + planted} key(s) in DB {rs.database}" in scanned
    with capsys.disabled():
        print(f"\n  redis check: {scanned.split('scanned', 1)[1].strip()}")


def test_check_of_a_conforming_database_exits_0(rs: Settings, r: object, mdir: Path) -> None:
    _fill_valid(r, 2000)
    done = cli(mdir, "check", "--db", "redis", env=env_for(rs))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("redis: ok, no violations")
