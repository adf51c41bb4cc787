"""Secrets never printed: hostile passwords in URLs, every driver error path, history and audit rows,
and the argument lists of the tools dbtools starts (what `ps` shows)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest

from dbtools import backends, runner
from dbtools.sandbox import free_port, start
from dbtools.settings import Settings
from tests.backup.conftest import MIGRATIONS, ROOT, write_migrations

# every piece between the special characters is distinctive: none may appear anywhere
HOSTILE = "Kq7Rm/Zx9Tp#Wv3Bn?Jm5Lc@Ht2Gd:Qa4Ne%Ub6Xo"
WRONG = "Fy1Wq/Ex8Kl#Pr3Sd@Ti5Mu"
FRAGMENTS = [part for pw in (HOSTILE, WRONG) for part in re.split(r"[/#?@:%]", pw)]
SPECIAL = {"/": "%2F", "?": "%3F", "#": "%23", "@": "%40"}

# Runs the CLI with an audit hook that records the argv of every process it starts (what `ps` shows).
_WITH_ARGV_LOG = """
import json, sys
log = open(sys.argv[1], "a")
def hook(event, args):
    if event in ("subprocess.Popen", "os.exec", "os.posix_spawn"):
        log.write(json.dumps([str(a) for a in args[1]]) + "\\n"); log.flush()
sys.addaudithook(hook)
from dbtools.cli import main
sys.exit(main(sys.argv[2:]))
"""


def leaked(text: str) -> list[str]:
    return [f for f in FRAGMENTS if f in text]


def dbtools(*args: str, env: dict[str, str], argv_log: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "CLICKHOUSE_", "REDIS_", "MONGO_"))}
    base = {**base, "DBTOOLS_AUDIT": "off", **env}
    command = [sys.executable, "-c", _WITH_ARGV_LOG, str(argv_log)] if argv_log else [sys.executable, "-m", "dbtools"]
    done = subprocess.run([*command, *args], env=base, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert not leaked(done.stdout + done.stderr), (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and len(lines) == 2 and lines[1].startswith("hint: "), done.stderr
    for needle in needles:
        assert needle in lines[0], (needle, done.stderr)


def url(settings: Settings, password: str = HOSTILE, **changes: object) -> str:
    """The settings' URL with `password`, percent-encoded as it must be."""
    plain = Settings(**{**settings.__dict__, "password": "", **changes}).url  # type: ignore[arg-type]
    scheme, rest = plain.split("://", 1)
    user, host = rest.split("@", 1) if "@" in rest.split("/", 1)[0] else ("", rest)  # no user: no `@`
    return f"{scheme}://{user}:{quote(password, safe='')}@{host}"


def in_process(args: list[str], env: dict[str, str], monkeypatch, capsys) -> subprocess.CompletedProcess[str]:
    """`dbtools ARGS` run by cli.main in this process (for checks that end before any connection)."""
    from dbtools import cli

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = cli.main(args)
    out, err = capsys.readouterr()
    assert not leaked(out + err), (args, out, err)
    return subprocess.CompletedProcess(args, code, out, err)


@pytest.mark.parametrize("store", sorted(backends.REGISTRY))
@pytest.mark.parametrize("char", sorted(SPECIAL))
def test_unencoded_character_in_a_url_password_is_named_never_echoed(store: str, char: str, monkeypatch, capsys):
    defaults = backends.load(store).defaults
    password = f"Kq7Rm{char}Zx9Tp"
    env = {defaults.url_env: f"{defaults.schemes[0]}://admin:{password}@127.0.0.2:1/db"}
    done = in_process(["status", "--db", store], env, monkeypatch, capsys)
    one_line_error(done, 2, defaults.url_env, f"the password contains {char!r}", SPECIAL[char])


def test_unencoded_character_in_a_url_user_name_is_named(monkeypatch, capsys) -> None:
    env = {"REDIS_URL": "redis://Kq7Rm/Zx9Tp:Wv3Bn@127.0.0.2:1/0"}
    done = in_process(["status", "--db", "redis"], env, monkeypatch, capsys)
    one_line_error(done, 2, "REDIS_URL", "the user name contains '/'", "%2F")


def test_unencoded_password_through_the_subprocess_front() -> None:
    done = dbtools("status", "--db", "postgres", env={"POSTGRES_URL": f"postgres://u:{HOSTILE}@127.0.0.2:1/d"})
    one_line_error(done, 2, "POSTGRES_URL", "the password contains '/'", "%2F")


@pytest.fixture(scope="module")
def guarded() -> Iterator[dict[str, Settings]]:
    """PostgreSQL, Redis and the ClickHouse server, each with the hostile password."""
    started = []
    found: dict[str, Settings] = {}
    try:
        for store in ("postgres", "redis", "clickhouse"):
            try:
                box = start(store, "local", password=HOSTILE)
                found[store] = box.__enter__()
                started.append(box)
            except Exception as exc:  # no server binary here
                if store != "clickhouse":
                    raise
                print(f"clickhouse skipped: {exc}")
        yield found
    finally:
        for box in reversed(started):
            box.__exit__(None, None, None)


@pytest.fixture(scope="module")
def audit_db(guarded: dict[str, Settings]) -> Settings:
    """A PostgreSQL database with the project's audit_logs table: the audit sink of every run below."""
    settings = guarded["postgres"].with_database("audited")
    runner.migrate("postgres", migrations_dir=MIGRATIONS, settings=settings, create_db=True)
    return settings


def test_audit_warning_about_a_bad_sink_url_does_not_echo_it(guarded: dict[str, Settings], tmp_path: Path) -> None:
    migrations = write_migrations(tmp_path / "m", "redis", {"001_k.py": "def up(r):\n    r.set('k', 1)\n"})
    env = {
        "REDIS_URL": url(guarded["redis"].with_database("2")),
        "DBTOOLS_AUDIT": "postgres",
        "POSTGRES_URL": f"postgres://postgres:{HOSTILE}@127.0.0.1:{guarded['postgres'].port}/audited",
    }
    done = dbtools("--migrations-dir", str(migrations), "migrate", "--db", "redis", env=env)
    assert done.returncode == 0, done.stderr
    assert "warning: audit sink postgres unavailable" in done.stderr and "POSTGRES_URL" in done.stderr


MIGRATION = {
    "postgres": ("001_t.sql", "CREATE TABLE t (id int);"),
    "redis": ("001_t.py", "def up(r):\n    r.set('k', 1)\n"),
    "clickhouse": ("001_t.sql", "CREATE TABLE t (id Int32) ENGINE = MergeTree ORDER BY id"),
}
# URL changes that make each driver fail in its own way: (what, changes to the settings, exit code)
FAULTS = {
    "postgres": [
        ("TLS required by a server without TLS", {"query": {"sslmode": "require"}}, 1),
        ("an option libpq does not know", {"query": {"bogus": "1"}}, 2),
    ],
    "redis": [
        ("TLS to a server without TLS", {"scheme": "rediss", "query": {"socket_timeout": "1"}}, 1),
        ("an unknown option", {"query": {"foo": "1"}}, 2),
    ],
    "clickhouse": [("a junk connect timeout", {"query": {"connect_timeout": "abc"}}, 2)],
}


@pytest.mark.parametrize("store", ["postgres", "redis", "clickhouse"])
def test_hostile_password_never_leaves_the_process(
    guarded: dict[str, Settings], audit_db: Settings, store: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    if store not in guarded:
        pytest.skip("no clickhouse-server binary here")
    target = guarded[store].with_database("1" if store == "redis" else "secrets")
    name, body = MIGRATION[store]
    mdir = ["--migrations-dir", str(write_migrations(tmp_path / "m", store, {name: body}))]
    if store == "postgres":  # the run's own database is its audit sink: give it the project's audit_logs
        mdir, audit_db = ["--migrations-dir", str(MIGRATIONS)], target
    url_env = backends.load(store).defaults.url_env
    env = {"DBTOOLS_AUDIT": "postgres", "POSTGRES_URL": url(audit_db), url_env: url(target)}
    argv_log = tmp_path / "argv.jsonl"

    # the working path: migrate, status, backup, restore (children: pg_dump, pg_restore, clickhouse-client)
    for args in (["migrate", "--create-db"], ["status"], ["backup", "--to", str(tmp_path / "b")]):
        done = dbtools(*mdir, *args, "--db", store, env=env, argv_log=argv_log)
        assert done.returncode == 0, done.stderr
    folder = done.stdout.strip().splitlines()[-1]
    done = dbtools(*mdir, "restore", "--force", "--from", folder, "--db", store, env=env, argv_log=argv_log)
    assert done.returncode == 0, done.stderr

    # every error path a driver has: wrong password, nobody listening, bad options, TLS mismatches
    # (in this process: the same code path as the command, without a Python start each)
    status = [*mdir, "status", "--db", store]
    one_line_error(in_process(status, {url_env: url(target, WRONG)}, monkeypatch, capsys), 1)
    one_line_error(in_process(status, {url_env: url(target, port=free_port())}, monkeypatch, capsys), 1)
    for what, changes, code in FAULTS[store]:
        done = in_process(status, {url_env: url(target, **changes)}, monkeypatch, capsys)
        assert done.returncode == code, (what, done.stderr)
        one_line_error(done, code)

    # --debug: the traceback, with the driver's own exception the error was raised from, still without a secret
    done = in_process(["--debug", *status], {url_env: url(target, WRONG)}, monkeypatch, capsys)
    assert done.returncode == 1 and "Traceback" in done.stderr, done.stderr
    assert "direct cause" in done.stderr and done.stderr.strip().splitlines()[-2].startswith("error: "), done.stderr

    # history rows, audit rows and the argv of every child process
    backend = backends.load(store)(target)
    backend.connect()
    try:
        history = repr(backend.history())
    finally:
        backend.close()
    assert "applied" in history and not leaked(history)
    with psycopg2.connect(audit_db.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), coalesce(string_agg(a::text, '\n'), '') FROM audit_logs a")
        count, audit = cur.fetchone()
    assert count > 0 and not leaked(audit)
    children = argv_log.read_text() if argv_log.exists() else ""
    if store in ("postgres", "clickhouse"):
        assert json.loads(children.splitlines()[0]), "the backup started no tool: nothing was checked"
    assert not leaked(children), children


def test_hostile_mongodb_password_in_every_driver_error(servers, monkeypatch, capsys) -> None:
    """The MongoDB sandbox has no users: any password is a wrong one (SecantusDB or mongod)."""
    server = servers.get("mongodb")
    faults = [
        ({}, 1, "authentication failed"),
        ({"query": {"tls": "true", "serverSelectionTimeoutMS": "1500"}}, 1, "no MongoDB server answered"),
        ({"query": {"foo": "1"}}, 2, "MONGO_URL"),
        ({"query": {"serverSelectionTimeoutMS": "abc"}}, 2, "MONGO_URL"),
        ({"port": free_port()}, 1, "connection refused"),
    ]
    for changes, code, needle in faults:
        done = in_process(["status", "--db", "mongodb"], {"MONGO_URL": url(server, **changes)}, monkeypatch, capsys)
        one_line_error(done, code, needle)
        debug = in_process(
            ["--debug", "status", "--db", "mongodb"], {"MONGO_URL": url(server, **changes)}, monkeypatch, capsys
        )
        assert debug.returncode == code and "Traceback" in debug.stderr, debug.stderr
