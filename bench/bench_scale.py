"""Scale benchmark: dbtools beside dbmate's Go binary and the floors as the work grows (issue 18).

    .venv/bin/python bench/bench_scale.py                                  # every section (30-60 min)
    .venv/bin/python bench/bench_scale.py --only history --sizes 100,1000  # one section, smaller
    .venv/bin/python bench/bench_scale.py --quick                          # small sizes, one round (smoke)

Sections (`--only a,b`; all by default), each measured in interleaved rounds, every tool a new process:

* history - N = 100, 500, 1,000, 5,000, 20,000 trivial migrations on a durable PostgreSQL 15 server:
  apply (dbtools, dbmate, the psql floor of one transaction per migration), then the no-op run and
  `status` (dbtools, dbmate) beside two Python floors: "query" (interpreter + psycopg2 + connect + one
  query) and "files" (list + read + SHA-256 every file, connect, fetch the history table). Prints
  per-migration and marginal costs, so growth shows, and peak memory per process.
* large - one migration of 200,000 INSERT statements (about 22 MB): dbtools, dbmate, and the floor
  (psycopg2 sending the section and its history row as one multi-statement query).
* clickhouse - 200 migrations x 3 statements on chdb and on the native protocol (Debian's 18.16
  server), beside floors that run the same statements and one history INSERT per migration.
* verify - `python -m dbtools.verify` for N = 25 ... 400 generated migrations (with down sections) and
  for langfuse's 434 PostgreSQL migrations, beside applying twice and rolling back once.
* seed - `seed --db postgres --scale large` beside COPY of the same rows pre-rendered to text.

Wall time is noisy on a shared machine: compare tools within one run (ratios are medians of per-round
ratios); CPU and memory are steadier. Peak memory is each process's own maximum resident set (wait4).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bench_postgres  # noqa: E402  - the probe, generator and dbmate installer are shared

PY = sys.executable
SECTIONS = ("history", "large", "clickhouse", "verify", "seed")
LANGFUSE = Path("/work/shared/corpus/langfuse/postgres")
SEED_UNTIL = "2026-11-01"
TIME = shutil.which("time", path="/usr/bin:/bin") or "/usr/bin/time"  # GNU time

FLOOR_QUERY = """
import sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("SELECT max(version) FROM migration_history")
cur.fetchall()
"""
FLOOR_FILES = """
import hashlib, os, sys, psycopg2
folder, url = sys.argv[1], sys.argv[2]
sums = {}
for name in sorted(os.listdir(folder)):
    with open(os.path.join(folder, name), "rb") as f:
        sums[name] = hashlib.sha256(f.read()).hexdigest()
conn = psycopg2.connect(url)
cur = conn.cursor()
cur.execute("SELECT * FROM migration_history")
rows = cur.fetchall()
"""
FLOOR_LARGE = """
import sys, psycopg2
path, url = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
up = text.split("-- migrate:up", 1)[1].split("-- migrate:down", 1)[0]
conn = psycopg2.connect(url)
conn.autocommit = True
cur = conn.cursor()
cur.execute("CREATE TABLE floor_history (version bigint PRIMARY KEY, applied_at timestamptz DEFAULT now())")
cur.execute("BEGIN;\\n" + up + "\\n;INSERT INTO floor_history (version) VALUES (1); COMMIT")
"""
# "floor + appends" (argv "appends"): the floor plus, before every statement, one durable append of a
# 16-column row (dbtools' progress-row shape) to a StripeLog table, one round trip each, no lock check:
# the same number of durable writes as dbtools makes (3 "statement k started" + 1 finished row per
# migration against the floor's 1), so the gap from the plain floor to it is the price of
# statement-level resume alone, and the gap from it to dbtools is everything else.
PROGRESS_ROW = "{v}, 'name', 'checksum', 'running', {k}, 3, 'progress', NULL, {t}, 0, 'user', '1.0', '', {k1}, {r}, 0"
PROGRESS_TABLE = (
    "(version Int64, name String, checksum String, status String, statements_done UInt32, "
    "statements_total Nullable(UInt32), progress_checksum String, error Nullable(String), applied_at DateTime, "
    "execution_ms UInt64, applied_by String, tool_version String, adopted_from String, in_step UInt32, "
    "revision UInt64, deleted UInt8) ENGINE = StripeLog"
)
FLOOR_CHDB = f"""
import sys, time
from pathlib import Path
from chdb import session
folder, path, appends = Path(sys.argv[1]), sys.argv[2], sys.argv[3:] == ["appends"]
s = session.Session(path)
s.query("CREATE TABLE IF NOT EXISTS default.floor_history (version Int64, name String, applied_at DateTime) "
        "ENGINE = ReplacingMergeTree ORDER BY version")
if appends:
    s.query("CREATE TABLE IF NOT EXISTS default.floor_progress {PROGRESS_TABLE}")
for f in sorted(folder.iterdir()):
    up = f.read_text().split("-- migrate:up", 1)[1].split("-- migrate:down", 1)[0]
    version = int(f.name.split('_')[0])
    for k, statement in enumerate(x for x in up.split(";\\n") if x.strip()):
        if appends:
            row = "{PROGRESS_ROW}".format(v=version, k=k, k1=k + 1, t=int(time.time()), r=time.time_ns())
            s.query(f"INSERT INTO default.floor_progress VALUES ({{row}})")
        s.query(statement)
    s.query(f"INSERT INTO default.floor_history VALUES ({{version}}, '{{f.stem}}', now())")
s.close()
"""
FLOOR_NATIVE = f"""
import os, sys, time
from pathlib import Path
os.environ.setdefault("CLICKHOUSE_DRIVER_LASY_DATE_LUT", "1970-01-01:1970-01-01")  # as dbtools imports it
from clickhouse_driver import Client
folder, port, database, appends = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:] == ["appends"]
c = Client("127.0.0.1", port=port)
c.execute(f"CREATE DATABASE IF NOT EXISTS {{database}}")
c = Client("127.0.0.1", port=port, database=database)
c.execute("CREATE TABLE IF NOT EXISTS floor_history (version Int64, name String, applied_at DateTime) "
          "ENGINE = ReplacingMergeTree ORDER BY version")
if appends:
    c.execute("CREATE TABLE IF NOT EXISTS floor_progress {PROGRESS_TABLE}")
for f in sorted(folder.iterdir()):
    up = f.read_text().split("-- migrate:up", 1)[1].split("-- migrate:down", 1)[0]
    version = int(f.name.split('_')[0])
    for k, statement in enumerate(x for x in up.split(";\\n") if x.strip()):
        if statement.strip().startswith("INSERT") and " VALUES (" in statement:  # 18.16 wants no inline data
            head, _, row = statement.strip().rstrip(";").partition(" VALUES (")
            statement = f"{{head}} SELECT {{row[:-1]}}"
        if appends:  # INSERT ... SELECT: one round trip (INSERT ... VALUES is two with clickhouse-driver)
            at = f"toDateTime({{int(time.time())}})"
            row = "{PROGRESS_ROW}".format(v=version, k=k, k1=k + 1, t=at, r=time.time_ns())
            c.execute(f"INSERT INTO floor_progress SELECT {{row}}")
        c.execute(statement)
    c.execute(f"INSERT INTO floor_history SELECT {{version}}, '{{f.stem}}', now()")
c.disconnect()
"""
FLOOR_COPY = """
import io, json, sys, psycopg2
folder, url = sys.argv[1], sys.argv[2]
conn = psycopg2.connect(url)
cur = conn.cursor()
for table, columns in json.load(open(folder + "/order.json")):
    with open(f"{folder}/{table}.copy") as f:
        cur.copy_expert(f'COPY "{table}" ({columns}) FROM STDIN', f, size=1 << 20)
conn.commit()
"""


# -- running one process and measuring it --------------------------------------------------------


@dataclass
class Run:
    """One process: wall seconds, CPU seconds (user+sys), its own peak resident set in MB."""

    wall: float
    cpu: float
    rss_mb: float
    stdout: str = ""
    xacts: int | None = None


def execute(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Run:
    """Run argv to completion under GNU time, which reports the process's own CPU and peak resident set.

    (wait4 on a child forked from this process would not do: Linux counts the parent's resident set at
    fork time into the child's maximum.)"""
    with tempfile.NamedTemporaryFile("r") as usage, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        wrapped = [TIME, "-f", "%U %S %M", "-o", usage.name, *argv]
        started = time.perf_counter()
        code = subprocess.run(wrapped, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err).returncode
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        fields = usage.read().split()
    if code:
        raise SystemExit(f"benchmark command failed ({code}): {' '.join(map(str, argv))[:300]}\n{stderr[-2000:]}")
    user, system, rss_kb = float(fields[-3]), float(fields[-2]), int(fields[-1])
    return Run(wall, user + system, rss_kb / 1024, stdout)


@dataclass
class Series:
    """Runs of one labelled command, in round order (so rounds pair up across labels)."""

    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str = "wall") -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    def peak(self, attr: str = "rss_mb") -> float:
        return max(getattr(r, attr) for r in self.runs)


def paired_ratio(a: Series, b: Series, attr: str = "wall") -> float:
    """Median of per-round ratios a/b (same round: machine noise mostly cancels)."""
    values = [getattr(x, attr) / getattr(y, attr) for x, y in zip(a.runs, b.runs, strict=False) if getattr(y, attr)]
    return statistics.median(values) if values else float("nan")


def rotated(items: list[Callable[[], None]], index: int) -> list[Callable[[], None]]:
    shift = index % len(items)
    return items[shift:] + items[:shift]


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


class Env:
    """Environments for the processes measured."""

    def __init__(self, bytecode_cache: bool) -> None:
        self.base = bench_postgres.python_env(bytecode_cache)

    def python(self, **extra: str) -> dict[str, str]:
        return {**self.base, **extra}


# -- section: long histories ---------------------------------------------------------------------


@dataclass
class HistoryResult:
    n: int
    series: dict[str, Series]
    drivers: str = ""


def history_section(
    probe: bench_postgres.Probe,
    dbmate: Path | None,
    env: Env,
    sizes: list[int],
    rounds: int,
    repeats: int,
    work: Path,
    base: Path | None = None,
) -> list[HistoryResult]:
    results = []
    for n in sizes:
        t0 = time.monotonic()
        results.append(history_size(probe, dbmate, env, n, rounds, repeats, work, base))
        print(f"  history: N={n:,} done in {time.monotonic() - t0:.0f} s", flush=True)
    return results


def history_size(
    probe: bench_postgres.Probe,
    dbmate: Path | None,
    env: Env,
    n: int,
    rounds: int,
    repeats: int,
    work: Path,
    base: Path | None = None,
) -> HistoryResult:
    """Apply N migrations with each tool, then time the no-op run and `status` beside the floors; with
    `base` (a checkout of another revision), its no-op run and `status` on the same history, in the same rounds."""
    folder = work / f"history_{n}"
    migrations = bench_postgres.generate(folder, n)
    scripts = bench_postgres.psql_scripts(folder, migrations)
    mdir = folder / "postgres"
    series: dict[str, Series] = {}

    def add(label: str, run: Run) -> None:
        series.setdefault(label, Series()).runs.append(run)

    def dbtools_cmd(db: str, *args: str) -> tuple[list[str], dict[str, str]]:
        return (
            [PY, "-m", "dbtools", "--migrations-dir", str(folder), *args, "--db", "postgres"],
            env.python(POSTGRES_URL=probe.url(db)),
        )

    def dbmate_cmd(db: str, command: str) -> list[str]:
        return [
            str(dbmate),
            "--url",
            probe.url(db) + "?sslmode=disable",
            "--migrations-dir",
            str(mdir),
            "--no-dump-schema",
            command,
        ]

    def measured(db: str, argv: list[str], run_env: dict[str, str] | None = None) -> Run:
        probe.sql("CHECKPOINT")
        before = probe.settled(db)
        run = execute(argv, env=run_env)
        run.xacts = probe.settled(db, before)[0] - before[0]
        return run

    apply_rounds = rounds if n <= 1000 else 1
    kept: dict[str, str] = {}
    for index in range(apply_rounds):
        last = index == apply_rounds - 1

        def dbtools_apply(index: int = index, last: bool = last) -> None:
            db = f"h{n}_dbtools_{index}"
            probe.fresh(db)
            argv, run_env = dbtools_cmd(db, "migrate")
            add("dbtools apply", measured(db, argv, run_env))
            if last:
                kept["dbtools"] = db
            else:
                probe.drop(db)

        def dbmate_apply(index: int = index, last: bool = last) -> None:
            db = f"h{n}_dbmate_{index}"
            probe.fresh(db)
            add("dbmate apply", measured(db, dbmate_cmd(db, "migrate")))
            if last:
                kept["dbmate"] = db
            else:
                probe.drop(db)

        def floor_apply(index: int = index) -> None:
            db = f"h{n}_floor_{index}"
            probe.fresh(db)
            psql = shutil.which("psql") or "psql"
            argv = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(scripts["floor"]), probe.url(db)]
            add("psql floor apply", measured(db, argv))
            probe.drop(db)

        steps = [dbtools_apply, floor_apply] + ([dbmate_apply] if dbmate else [])
        for step in rotated(steps, index):
            step()
    db = kept["dbtools"]
    commands: dict[str, tuple[list[str], dict[str, str] | None, Path]] = {
        "dbtools no-op": (*dbtools_cmd(db, "migrate"), ROOT),
        "dbtools status": (*dbtools_cmd(db, "status"), ROOT),
        "floor query": ([PY, "-c", FLOOR_QUERY, probe.url(db)], env.python(), ROOT),
        "floor files": ([PY, "-c", FLOOR_FILES, str(mdir), probe.url(db)], env.python(), ROOT),
    }
    if base is not None:  # `python -m dbtools` run from the checkout imports that checkout's package
        commands["base no-op"] = (*dbtools_cmd(db, "migrate"), base)
        commands["base status"] = (*dbtools_cmd(db, "status"), base)
    if dbmate:
        commands["dbmate no-op"] = (dbmate_cmd(kept["dbmate"], "migrate"), None, ROOT)
        commands["dbmate status"] = (dbmate_cmd(kept["dbmate"], "status"), None, ROOT)
    labels = list(commands)
    for index in range(repeats):
        for label in labels[index % len(labels) :] + labels[: index % len(labels)]:
            argv, run_env, cwd = commands[label]
            add(label, execute(argv, env=run_env, cwd=cwd))
    result = HistoryResult(n, series, drivers_loaded(*dbtools_cmd(db, "migrate")))
    for name in kept.values():
        probe.drop(name)
    shutil.rmtree(folder, ignore_errors=True)
    return result


DRIVERS = ("psycopg2", "chdb", "clickhouse_driver", "pymongo", "redis", "sqlparse", "pglast", "numpy", "pyarrow")


def drivers_loaded(argv: list[str], run_env: dict[str, str]) -> str:
    """Which drivers and heavy libraries are in sys.modules when the command exits."""
    code = (
        "import atexit, runpy, sys; atexit.register(lambda: print('MODULES ' + "
        "' '.join(sorted(m for m in sys.modules if '.' not in m)))); "
        "sys.argv = ['dbtools', *sys.argv[1:]]; runpy.run_module('dbtools', run_name='__main__')"
    )
    run = execute([PY, "-c", code, *argv[3:]], env=run_env)
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("MODULES ")), "MODULES ")
    loaded = set(line.split()[1:])
    return ", ".join(f"{d} {'YES' if d in loaded else 'no'}" for d in DRIVERS)


def history_report(results: list[HistoryResult]) -> list[str]:
    if not results:
        return []
    labels = [
        "dbtools apply",
        "dbmate apply",
        "psql floor apply",
        "dbtools no-op",
        "dbmate no-op",
        "dbtools status",
        "dbmate status",
        "base no-op",
        "base status",
        "floor query",
        "floor files",
    ]
    lines = ["== long histories: median wall s (ms per migration) [peak MB]; apply rounds: 3 up to 1,000, then 1"]
    head = f"{'':<18}" + "".join(f"{'N=' + format(r.n, ','):>30}" for r in results)
    lines += [head, "-" * len(head)]
    for label in labels:
        cells = []
        for r in results:
            s = r.series.get(label)
            if not s or not s.runs:
                cells.append(f"{'-':>30}")
                continue
            wall = s.median()
            cells.append(f"{wall:>9.3f} ({wall / r.n * 1000:7.3f}) [{s.peak():5.0f}]".rjust(30))
        lines.append(f"{label:<18}" + "".join(cells))
    lines.append("")
    lines.append("marginal cost between sizes, ms per added migration (median wall; CPU in brackets):")
    for label in labels:
        cells = []
        for a, b in itertools.pairwise(results):
            sa, sb = a.series.get(label), b.series.get(label)
            if not sa or not sb:
                continue
            wall = (sb.median() - sa.median()) / (b.n - a.n) * 1000
            cpu = (sb.median("cpu") - sa.median("cpu")) / (b.n - a.n) * 1000
            cells.append(f"{a.n:,}->{b.n:,}: {wall:.3f} ({cpu:.3f})")
        if cells:
            lines.append(f"  {label:<18} " + "   ".join(cells))
    lines.append("")
    lines.append("ratios (median of per-round ratios; wall, CPU in brackets):")
    pairs = [
        ("dbtools apply", "dbmate apply"),
        ("dbtools apply", "psql floor apply"),
        ("dbtools no-op", "floor files"),
        ("dbtools status", "floor files"),
        ("dbtools no-op", "floor query"),
        ("dbtools no-op", "dbmate no-op"),
        ("dbtools status", "dbmate status"),
        ("base no-op", "floor query"),
        ("base no-op", "floor files"),
        ("base status", "floor files"),
        ("dbtools no-op", "base no-op"),
        ("dbtools status", "base status"),
    ]
    for a, b in pairs:
        cells = []
        for r in results:
            if a in r.series and b in r.series:
                cells.append(
                    f"N={r.n:,}: {paired_ratio(r.series[a], r.series[b]):.2f}x "
                    f"({paired_ratio(r.series[a], r.series[b], 'cpu'):.2f}x)"
                )
        if cells:
            lines.append(f"  {a + ' / ' + b:<34} " + "  ".join(cells))
    lines.append("")
    lines.append("targets:")
    by_n = {r.n: r for r in results}
    if 500 in by_n:
        r = by_n[500]
        if "dbmate apply" in r.series:
            ratio = paired_ratio(r.series["dbtools apply"], r.series["dbmate apply"])
            lines.append(f"  500 migrations apply <= 1.0x dbmate:             {ratio:.2f}x  {verdict(ratio <= 1.0)}")
        xacts = statistics.median(run.xacts or 0 for run in r.series["dbtools apply"].runs)
        lines.append(f"  500 migrations <= 1 transaction each (+10):      {xacts:.0f}  {verdict(xacts <= 510)}")
        ratio = paired_ratio(r.series["dbtools no-op"], r.series["floor query"])
        lines.append(f"  no-op over 500 <= 1.3x the Python floor (query): {ratio:.2f}x  {verdict(ratio <= 1.3)}")
        lines.append(f"  drivers imported by the no-op over 500: {r.drivers}")
    top = results[-1]
    for label in ("dbtools no-op", "dbtools status"):
        ratio = paired_ratio(top.series[label], top.series["floor files"])
        lines.append(f"  {label} over {top.n:,} <= 2x the Python floor (files): {ratio:.2f}x  {verdict(ratio <= 2.0)}")
        peak = top.series[label].peak()
        lines.append(f"  {label} over {top.n:,} peak memory < 100 MB:          {peak:.0f} MB  {verdict(peak < 100)}")
    return lines


# -- section: one large migration ----------------------------------------------------------------


def large_file(folder: Path, statements: int) -> Path:
    """One dbmate-readable migration: a table and `statements` INSERTs of about 110 bytes each."""
    target = folder / "postgres"
    target.mkdir(parents=True)
    path = target / "001_large.sql"
    with open(path, "w") as f:
        f.write("-- migrate:up\nCREATE TABLE big_rows (id bigint PRIMARY KEY, name text, note text);\n")
        for i in range(1, statements):
            f.write(
                f"INSERT INTO big_rows (id, name, note) VALUES ({i}, 'row {i}', "
                f"'a note of ordinary length, as data migrations carry, row {i}');\n"
            )
        f.write("\n-- migrate:down\nDROP TABLE big_rows;\n")
    return path


def large_section(
    probe: bench_postgres.Probe, dbmate: Path | None, env: Env, statements: int, rounds: int, work: Path
) -> tuple[dict[str, Series], float, Series]:
    folder = work / "large"
    path = large_file(folder, statements)
    size_mb = path.stat().st_size / 2**20
    series: dict[str, Series] = {}
    baseline = Series()

    def check(db: str) -> None:
        rows = _count(probe, db, "SELECT count(*) FROM big_rows")
        if rows != statements - 1:
            raise SystemExit(f"large: {db} has {rows} rows, expected {statements - 1}")

    for index in range(rounds):
        t0 = time.monotonic()

        def dbtools_run(index: int = index) -> None:
            db = f"large_dbtools_{index}"
            probe.fresh(db)
            run_env = env.python(POSTGRES_URL=probe.url(db))
            argv = [PY, "-m", "dbtools", "--migrations-dir", str(folder), "migrate", "--db", "postgres"]
            series.setdefault("dbtools", Series()).runs.append(execute(argv, env=run_env))
            check(db)
            baseline.runs.append(execute(argv, env=run_env))  # the same process on a no-op: its fixed memory
            probe.drop(db)

        def dbmate_run(index: int = index) -> None:
            db = f"large_dbmate_{index}"
            probe.fresh(db)
            argv = [
                str(dbmate),
                "--url",
                probe.url(db) + "?sslmode=disable",
                "--migrations-dir",
                str(folder / "postgres"),
                "--no-dump-schema",
                "migrate",
            ]
            series.setdefault("dbmate", Series()).runs.append(execute(argv))
            check(db)
            probe.drop(db)

        def floor_run(index: int = index) -> None:
            db = f"large_floor_{index}"
            probe.fresh(db)
            argv = [PY, "-c", FLOOR_LARGE, str(path), probe.url(db)]
            series.setdefault("floor (one query)", Series()).runs.append(execute(argv, env=env.python()))
            check(db)
            probe.drop(db)

        steps = [dbtools_run, floor_run] + ([dbmate_run] if dbmate else [])
        for step in rotated(steps, index):
            step()
        print(f"  large: round {index + 1}/{rounds} done in {time.monotonic() - t0:.0f} s", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    return series, size_mb, baseline


def _count(probe: bench_postgres.Probe, db: str, sql: str) -> int:
    import psycopg2

    conn = psycopg2.connect(probe.url(db))
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def large_report(series: dict[str, Series], size_mb: float, statements: int, baseline: Series) -> list[str]:
    if not series:
        return []
    lines = [
        f"== one migration of {statements:,} statements ({size_mb:.1f} MB), median of "
        f"{len(next(iter(series.values())).runs)} rounds",
        f"{'tool':<20} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'us/statement':>13}",
    ]
    for label, s in series.items():
        lines.append(
            f"{label:<20} {s.median():>8.2f} {s.median('cpu'):>8.2f} {s.peak():>8.0f} "
            f"{s.median() / statements * 1e6:>13.1f}"
        )
    mine = series["dbtools"]
    lines.append("")
    if "dbmate" in series:
        ratio = paired_ratio(mine, series["dbmate"])
        lines.append(
            f"dbtools / dbmate wall {ratio:.2f}x (CPU {paired_ratio(mine, series['dbmate'], 'cpu'):.2f}x); "
            f"target <= 1.2x  {verdict(ratio <= 1.2)}"
        )
    lines.append(f"dbtools / floor wall {paired_ratio(mine, series['floor (one query)']):.2f}x")
    extra = mine.peak() - statistics.median(r.rss_mb for r in baseline.runs)
    lines.append(
        f"client memory for the file: peak {mine.peak():.0f} MB - {mine.peak() - extra:.0f} MB of the same "
        f"process on a no-op = {extra:.0f} MB = {extra / size_mb:.1f}x the file; target < 3x  "
        f"{verdict(extra < 3 * size_mb)}"
    )
    return lines


# -- section: ClickHouse -------------------------------------------------------------------------


def clickhouse_section(
    env: Env, migrations: int, rounds: int, work: Path, base: Path | None = None
) -> dict[str, dict[str, Series]]:
    """dbtools and its floors on chdb and on the native protocol, interleaved; with `base` (a checkout of
    another revision) that revision's dbtools too, in the same rounds."""
    import bench_clickhouse

    from dbtools.errors import MissingDependency
    from dbtools.sandbox import start

    folder = work / "clickhouse"
    bench_clickhouse.generate(folder, migrations)
    mdir = folder / "clickhouse"
    out: dict[str, dict[str, Series]] = {"chdb": {}, "native": {}}

    def dbtools_argv() -> list[str]:
        return [PY, "-m", "dbtools", "--migrations-dir", str(folder), "migrate", "--create-db", "--db", "clickhouse"]

    native = None
    try:
        native = start("clickhouse", "local")
        settings = native.__enter__()
    except MissingDependency as exc:
        print(f"  clickhouse native: skipped ({exc.message})", flush=True)
        native = None
    try:
        for index in range(rounds):
            t0 = time.monotonic()

            def chdb_dbtools(index: int = index, label: str = "dbtools", cwd: Path = ROOT) -> None:
                path = work / f"chdb_{label}_{index}"
                env_ = env.python(CLICKHOUSE_URL=f"chdb://{path}", DBTOOLS_AUDIT="off")
                out["chdb"].setdefault(label, Series()).runs.append(execute(dbtools_argv(), env=env_, cwd=cwd))
                shutil.rmtree(path, ignore_errors=True)

            def chdb_floor(index: int = index, appends: bool = False) -> None:
                path = work / f"chdb_floor_{index}_{appends}"
                argv = [PY, "-c", FLOOR_CHDB, str(mdir), str(path), *(["appends"] if appends else [])]
                run = execute(argv, env=env.python())
                out["chdb"].setdefault("floor+appends" if appends else "floor", Series()).runs.append(run)
                shutil.rmtree(path, ignore_errors=True)

            steps: list[Callable[[], None]] = [chdb_dbtools, chdb_floor, lambda index=index: chdb_floor(index, True)]
            if base is not None:
                steps.append(lambda index=index, base=base: chdb_dbtools(index, "base", base))
            if native is not None:

                def native_dbtools(index: int = index, label: str = "dbtools", cwd: Path = ROOT) -> None:
                    url = settings.with_database(f"bench_{label}_{index}").url
                    env_ = env.python(CLICKHOUSE_URL=url, DBTOOLS_AUDIT="off")
                    out["native"].setdefault(label, Series()).runs.append(execute(dbtools_argv(), env=env_, cwd=cwd))
                    settle(settings.port, f"bench_{label}_{index}")

                def native_floor(index: int = index, appends: bool = False) -> None:
                    database = f"bench_floor_{index}_{int(appends)}"
                    argv = [PY, "-c", FLOOR_NATIVE, str(mdir), str(settings.port), database]
                    run = execute([*argv, *(["appends"] if appends else [])], env=env.python())
                    out["native"].setdefault("floor+appends" if appends else "floor", Series()).runs.append(run)
                    settle(settings.port, database)

                steps += [native_dbtools, native_floor, lambda index=index: native_floor(index, True)]
                if base is not None:
                    steps.append(lambda index=index, base=base: native_dbtools(index, "base", base))
            for step in rotated(steps, index):
                step()
            print(f"  clickhouse: round {index + 1}/{rounds} done in {time.monotonic() - t0:.0f} s", flush=True)
    finally:
        if native is not None:
            native.__exit__(None, None, None)
        shutil.rmtree(folder, ignore_errors=True)
    return out


def settle(port: int, database: str, limit: float = 30.0) -> None:
    """Drop the database a native run made and wait until the server has no merge running: every run
    then starts on the same server (18.16 slows down as hundreds of tables pile up, and a run's
    MergeTree parts are merged after it exits, on whichever run comes next)."""
    from clickhouse_driver import Client

    client = Client("127.0.0.1", port=port)
    deadline = time.monotonic() + limit
    try:
        client.execute(f"DROP DATABASE IF EXISTS {database}")
        time.sleep(0.5)
        while time.monotonic() < deadline and client.execute("SELECT count() FROM system.merges")[0][0]:
            time.sleep(0.1)
    finally:
        client.disconnect()


def clickhouse_report(out: dict[str, dict[str, Series]], migrations: int) -> list[str]:
    lines = [
        f"== ClickHouse: {migrations} migrations x 3 statements (CREATE TABLE, INSERT, ALTER); floor = the same "
        "statements and one history INSERT per migration, one process"
    ]
    for where, series in out.items():
        if not series:
            continue
        mine, floor = series["dbtools"], series["floor"]
        ratio = paired_ratio(mine, floor)
        per = mine.median() / migrations * 1000
        cpu = paired_ratio(mine, floor, "cpu")
        lines.append(
            f"  {where:<7} dbtools {mine.median():6.2f} s ({per:5.1f} ms/migration)  floor "
            f"{floor.median():6.2f} s  ratio {ratio:.2f}x (CPU {cpu:.2f}x)  target <= 1.25x "
            f"{verdict(ratio <= 1.25)}"
        )
        if "floor+appends" in series:
            ref = series["floor+appends"]
            lines.append(
                f"  {'':<7} floor + 3 durable appends per migration (one before each statement) {ref.median():6.2f} s "
                f"({paired_ratio(ref, floor):.2f}x the floor); dbtools / it {paired_ratio(mine, ref):.2f}x "
                f"(CPU {paired_ratio(mine, ref, 'cpu'):.2f}x)"
            )
        if "base" in series:
            old = series["base"]
            lines.append(
                f"  {'':<7} base    {old.median():6.2f} s  ratio {paired_ratio(old, floor):.2f}x "
                f"(CPU {paired_ratio(old, floor, 'cpu'):.2f}x); dbtools/base {paired_ratio(mine, old):.2f}x"
            )
    return lines


# -- section: verify -----------------------------------------------------------------------------


def verify_section(env: Env, sizes: list[int], work: Path, langfuse: bool) -> list[tuple[str, int, Run, Run]]:
    """(label, migrations, verify run, reference run: apply twice + roll back once) per case."""
    from dbtools.sandbox import start

    cases: list[tuple[str, Path, int, bool]] = []
    for n in sizes:
        folder = work / f"verify_{n}"
        bench_postgres.generate(folder, n)
        cases.append((f"generated {n}", folder, n, True))
    if langfuse and LANGFUSE.is_dir():
        folder = work / "verify_langfuse"
        folder.mkdir()
        (folder / "postgres").symlink_to(LANGFUSE)
        cases.append(("langfuse", folder, len(list(LANGFUSE.glob("*.sql"))), False))
    results = []
    with start("postgres", "local") as settings:  # like verify's own sandbox: fsync off
        for label, folder, n, has_downs in cases:
            t0 = time.monotonic()
            argv = [
                PY,
                "-m",
                "dbtools.verify",
                "--db",
                "postgres",
                "--provider",
                "local",
                "--migrations-dir",
                str(folder),
            ]
            verify_run = execute(argv, env=env.python(DBTOOLS_AUDIT="off"))
            reference = Run(0.0, 0.0, 0.0)
            for step in ("apply", "apply again", "rollback"):
                if step == "rollback" and not has_downs:
                    continue
                db = f"ref_{abs(hash((label, step))) % 10**8}"
                run_env = env.python(POSTGRES_URL=settings.with_database(db).url, DBTOOLS_AUDIT="off")
                base = [PY, "-m", "dbtools", "--migrations-dir", str(folder)]
                if step == "rollback":
                    db = f"ref_{abs(hash((label, 'apply'))) % 10**8}"
                    run_env["POSTGRES_URL"] = settings.with_database(db).url
                    run = execute([*base, "rollback", "--to", "0", "--db", "postgres"], env=run_env)
                else:
                    run = execute([*base, "migrate", "--create-db", "--db", "postgres"], env=run_env)
                reference.wall += run.wall
                reference.cpu += run.cpu
                reference.rss_mb = max(reference.rss_mb, run.rss_mb)
            results.append((label, n, verify_run, reference))
            print(f"  verify: {label} done in {time.monotonic() - t0:.0f} s", flush=True)
    return results


def verify_report(results: list[tuple[str, int, Run, Run]]) -> list[str]:
    if not results:
        return []
    lines = [
        "== verify (python -m dbtools.verify, local sandbox with fsync off) beside applying twice and rolling "
        "back once with `migrate` / `rollback --to 0` on the same kind of server",
        f"{'case':<16} {'verify s':>9} {'ms/migration':>13} {'peak MB':>8} {'reference s':>12} {'ratio':>6}",
    ]
    per: dict[int, float] = {}
    for label, n, run, ref in results:
        per_migration = run.wall / n * 1000
        if label.startswith("generated"):
            per[n] = per_migration
        lines.append(
            f"{label:<16} {run.wall:>9.2f} {per_migration:>13.2f} {run.rss_mb:>8.0f} {ref.wall:>12.2f} "
            f"{run.wall / ref.wall:>5.2f}x"
        )
    if 100 in per and 400 in per:
        ratio = per[400] / per[100]
        lines.append(f"cost per migration at 400 / at 100: {ratio:.2f}x; target <= 1.2x  {verdict(ratio <= 1.2)}")
    return lines


# -- section: seed -------------------------------------------------------------------------------


def seed_section(probe: bench_postgres.Probe, env: Env, rounds: int, work: Path) -> tuple[dict[str, Series], int]:
    import json

    from dbtools import runner
    from dbtools.audit import discard
    from dbtools.backends.postgres.load import _copy_chunks
    from dbtools.seed import dataset

    until = datetime.fromisoformat(SEED_UNTIL).replace(tzinfo=UTC)
    data = dataset.build(42, "large", until, stores=["postgres"])
    tables = data.stores["postgres"]
    rows = sum(len(t) for t in tables)
    rendered = work / "seed_copy"
    rendered.mkdir()
    order = []
    for t in tables:
        with open(rendered / f"{t.target}.copy", "w") as f:
            for chunk in _copy_chunks(t, 50_000):
                f.write(chunk.getvalue())
        order.append((t.target, ", ".join(f'"{c}"' for c in t.columns)))
    (rendered / "order.json").write_text(json.dumps(order))
    del data, tables
    series: dict[str, Series] = {}

    def migrated(db: str) -> str:
        probe.fresh(db)
        settings = probe.settings.with_database(db)
        runner.migrate("postgres", migrations_dir=ROOT / "migrations", settings=settings, report=discard)
        return settings.url

    for index in range(rounds):

        def dbtools_seed(index: int = index) -> None:
            db = f"seed_dbtools_{index}"
            url = migrated(db)
            argv = [
                PY,
                "-m",
                "dbtools",
                "--migrations-dir",
                str(ROOT / "migrations"),
                "seed",
                "--db",
                "postgres",
                "--scale",
                "large",
                "--until",
                SEED_UNTIL,
            ]
            series.setdefault("dbtools seed", Series()).runs.append(
                execute(argv, env=env.python(POSTGRES_URL=url, DBTOOLS_AUDIT="off"))
            )
            probe.drop(db)

        def floor_copy(index: int = index) -> None:
            db = f"seed_floor_{index}"
            url = migrated(db)
            argv = [PY, "-c", FLOOR_COPY, str(rendered), url]
            series.setdefault("floor COPY", Series()).runs.append(execute(argv, env=env.python()))
            probe.drop(db)

        for step in rotated([dbtools_seed, floor_copy], index):
            step()
    shutil.rmtree(rendered, ignore_errors=True)
    return series, rows


def seed_report(series: dict[str, Series], rows: int) -> list[str]:
    if not series:
        return []
    mine, floor = series["dbtools seed"], series["floor COPY"]
    ratio = paired_ratio(mine, floor)
    return [
        f"== seed --db postgres --scale large ({rows:,} rows), durable server",
        f"  dbtools seed  {mine.median():6.2f} s  CPU {mine.median('cpu'):6.2f} s  peak {mine.peak():5.0f} MB",
        f"  floor COPY    {floor.median():6.2f} s  CPU {floor.median('cpu'):6.2f} s  peak {floor.peak():5.0f} MB"
        "  (COPY of pre-rendered text, one transaction)",
        f"  ratio {ratio:.2f}x; peak memory < 200 MB  {verdict(mine.peak() < 200)}",
    ]


# -- main ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated sections (default: all of {', '.join(SECTIONS)})")
    parser.add_argument("--sizes", default="100,500,1000,5000,20000", help="history sizes (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="no-op/status runs per tool and size (default: 5)")
    parser.add_argument("--statements", type=int, default=200_000, help="statements in the large file")
    parser.add_argument("--large-rounds", type=int, default=2, help="rounds of the large file (default: 2)")
    parser.add_argument("--ch-migrations", type=int, default=200, help="ClickHouse migrations (default: 200)")
    parser.add_argument("--ch-base", type=Path, help="a checkout of another revision, measured beside (ClickHouse)")
    parser.add_argument(
        "--base", type=Path, help="a checkout of another revision: its no-op run and status measured beside (history)"
    )
    parser.add_argument("--verify-sizes", default="25,50,100,200,400", help="verify sizes (default: %(default)s)")
    parser.add_argument("--no-langfuse", action="store_true", help="skip verifying langfuse's history")
    parser.add_argument("--no-dbmate", action="store_true", help="skip dbmate")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="run dbtools without a bytecode cache")
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke run of every section")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.repeats, args.statements = "100,500", 1, 2, 20_000
        args.large_rounds, args.ch_migrations, args.verify_sizes = 1, 20, "25,50"
    sections = [s.strip() for s in (args.only or ",".join(SECTIONS)).split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    sizes = [int(x) for x in args.sizes.split(",")]
    env = Env(not args.no_bytecode_cache)
    dbmate = None if args.no_dbmate else bench_postgres.ensure_dbmate()
    subprocess.run([PY, "-m", "dbtools", "--version"], env=env.python(), capture_output=True, cwd=ROOT)  # warm cache
    began = time.monotonic()
    print(
        f"bench_scale: sections {', '.join(sections)}; load average {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} CPUs; dbmate {'skipped' if dbmate is None else dbmate}",
        flush=True,
    )
    reports: list[list[str]] = []
    work = Path(tempfile.mkdtemp(prefix="dbtools-scale-"))
    os.chmod(work, 0o755)
    try:
        if {"history", "large", "seed"} & set(sections):
            from dbtools.sandbox import start

            with start("postgres", "local", durable=True) as settings:
                probe = bench_postgres.Probe(settings)
                probe.sql("ALTER SYSTEM SET autovacuum = off")
                probe.sql("SELECT pg_reload_conf()")
                (version,) = probe.sql("SELECT version()")[0]
                print(f"  durable server: {version.split(',')[0]}", flush=True)
                if "history" in sections:
                    results = history_section(probe, dbmate, env, sizes, args.rounds, args.repeats, work, args.base)
                    reports.append(history_report(results))
                    _show(reports[-1])
                if "large" in sections:
                    series, size_mb, baseline = large_section(
                        probe, dbmate, env, args.statements, args.large_rounds, work
                    )
                    reports.append(large_report(series, size_mb, args.statements, baseline))
                    _show(reports[-1])
                if "seed" in sections:
                    series, rows = seed_section(probe, env, args.rounds, work)
                    reports.append(seed_report(series, rows))
                    _show(reports[-1])
        if "clickhouse" in sections:
            reports.append(
                clickhouse_report(
                    clickhouse_section(env, args.ch_migrations, args.rounds, work, args.ch_base), args.ch_migrations
                )
            )
            _show(reports[-1])
        if "verify" in sections:
            verify_sizes = [int(x) for x in args.verify_sizes.split(",")]
            reports.append(verify_report(verify_section(env, verify_sizes, work, not args.no_langfuse)))
            _show(reports[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n\n######## summary ########")
    for lines in reports:
        print()
        print("\n".join(lines))
    load = os.getloadavg()
    print(
        f"\ntotal {time.monotonic() - began:.0f} s; load average at the end {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} on {os.cpu_count()} CPUs"
    )
    return 0


def _show(lines: list[str]) -> None:
    print()
    print("\n".join(lines), flush=True)
    print()


if __name__ == "__main__":
    sys.exit(main())
