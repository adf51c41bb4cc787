"""PostgreSQL benchmark: dbtools against psql floors and dbmate on one durable throwaway server.

    .venv/bin/python bench/bench_postgres.py [--n 500] [--rounds 3] [--baseline DIR]

Generates N trivial dbmate-style migrations, starts one PostgreSQL server with real fsync
(dbtools.sandbox, durable=True) and, for several interleaved rounds on fresh databases, measures

* dbtools: apply-all, no-op re-run, rollback-all (`python -m dbtools ...`, a new process each);
* (a) psql: every up statement in one transaction (`psql -1`);
* (b) psql: one session, each migration as BEGIN; stmt; INSERT history row; COMMIT (the honest
  floor), and the same for rollback (BEGIN; DROP; DELETE; COMMIT);
* (c) dbmate's Go binary called directly (`--no-dump-schema migrate`, then again as a no-op);
* with `--baseline DIR` (another checkout, e.g. `git worktree add /tmp/base main`): that tree's
  dbtools the same way, in the same rounds, so a change is measured against what it replaces.

For each: wall time, client CPU (user+sys of the child, from RUSAGE_CHILDREN), transactions
committed in the database (pg_stat_database.xact_commit) and WAL flushes (pg_stat_wal.wal_sync,
wal_write). Medians over the rounds, then ratios. A start-up section times `status --db postgres`
and lists what `python -X importtime` says it imports.

Autovacuum is switched off on the throwaway server (ALTER SYSTEM) and a CHECKPOINT precedes every
measured run, so background work does not land in one tool's counters by chance.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
DBMATE_BINARY = Path("node_modules") / "@dbmate" / "linux-x64" / "bin" / "dbmate"
DBMATE = ROOT / DBMATE_BINARY  # the project's package.json installs it (`npm install`)
PY = sys.executable
DRIVERS = ("psycopg2", "chdb", "clickhouse_driver", "clickhouse_connect", "redis", "pymongo", "sqlparse")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# -- migrations ---------------------------------------------------------------------------------


def generate(folder: Path, n: int) -> list[tuple[int, str, str]]:
    """Write N dbmate-readable migrations into folder/postgres; return (version, up, down)."""
    target = folder / "postgres"
    target.mkdir(parents=True)
    width = max(3, len(str(n)))
    out = []
    for i in range(1, n + 1):
        up = f"CREATE TABLE t{i} (id bigserial primary key, v text);"
        down = f"DROP TABLE t{i};"
        (target / f"{i:0{width}d}_create_t{i}.sql").write_text(f"-- migrate:up\n{up}\n\n-- migrate:down\n{down}\n")
        out.append((i, up, down))
    return out


def psql_scripts(folder: Path, migrations: Sequence[tuple[int, str, str]]) -> dict[str, Path]:
    """The psql inputs: (a) all ups, run with -1; (b) one transaction per migration with a history row."""
    history = (
        "CREATE TABLE IF NOT EXISTS bench_history (version bigint PRIMARY KEY, applied_at timestamptz DEFAULT now());\n"
    )
    one_tx = folder / "one_transaction.sql"
    one_tx.write_text("".join(f"{up}\n" for _, up, _ in migrations))
    floor = folder / "floor_apply.sql"
    floor.write_text(
        history
        + "".join(
            f"BEGIN;\n{up}\nINSERT INTO bench_history (version) VALUES ({v});\nCOMMIT;\n" for v, up, _ in migrations
        )
    )
    floor_down = folder / "floor_rollback.sql"
    floor_down.write_text(
        "".join(
            f"BEGIN;\n{down}\nDELETE FROM bench_history WHERE version = {v};\nCOMMIT;\n"
            for v, _, down in reversed(migrations)
        )
    )
    noop = folder / "floor_noop.sql"
    noop.write_text("SELECT max(version) FROM bench_history;\n")
    return {"one_tx": one_tx, "floor": floor, "floor_down": floor_down, "noop": noop}


# -- dbmate -------------------------------------------------------------------------------------


def ensure_dbmate() -> Path | None:
    """dbmate's Go binary: the project's node_modules (npm install), else bench/.work's; installed with
    npm at the project root if neither exists; None with a message if impossible."""
    for candidate in (DBMATE, WORK / DBMATE_BINARY):
        if candidate.exists():
            return candidate
    npm = shutil.which("npm")
    if npm is None:
        print(
            "note: npm is not installed, so dbmate is skipped (install Node.js/npm, or put dbmate's "
            f"binary at {DBMATE})",
            file=sys.stderr,
        )
        return None
    print(f"installing dbmate: npm install --no-save dbmate (in {ROOT})", file=sys.stderr)
    done = subprocess.run(
        [npm, "install", "--no-save", "--no-audit", "--no-fund", "dbmate"], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode or not DBMATE.exists():
        print(
            f"note: npm install dbmate failed, dbmate is skipped:\n{(done.stderr or done.stdout)[-800:]}",
            file=sys.stderr,
        )
        return None
    return DBMATE


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Sample:
    wall: float
    cpu: float
    xacts: int
    wal_sync: int
    wal_write: int


@dataclass
class Row:
    label: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


class Probe:
    """A session on the maintenance database that reads counters and prepares databases."""

    def __init__(self, settings) -> None:
        import psycopg2

        self.settings = settings
        self.conn = psycopg2.connect(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password or None,
            dbname="postgres",
        )
        self.conn.autocommit = True

    def sql(self, text: str, params: Sequence[object] | None = None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(text, params)
            return cur.fetchall() if cur.description else []

    def url(self, database: str) -> str:
        return self.settings.with_database(database).url

    def fresh(self, database: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{database}"')
        self.sql(f'CREATE DATABASE "{database}"')

    def drop(self, database: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{database}"')

    def counters(self, database: str) -> tuple[int, int, int]:
        self.sql("SELECT pg_stat_clear_snapshot()")
        (row,) = self.sql(
            "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = %s), wal_sync, wal_write "
            "FROM pg_stat_wal",
            (database,),
        )
        return int(row[0] or 0), int(row[1]), int(row[2])

    def settled(self, database: str, before: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
        """Counters once the finished client's backend has exited and flushed its statistics."""
        last = self.counters(database)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.counters(database)
            if now == last and self.backends(database) == 0 and now != before:
                return now
            last = now
        return last

    def backends(self, database: str) -> int:
        (row,) = self.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
        )
        return int(row[0])


def run_measured(
    probe: Probe, database: str, argv: Sequence[str], *, env: dict[str, str] | None = None, stdin: Path | None = None
) -> Sample:
    """Run argv once (CHECKPOINT first) and return wall, child CPU and server counter deltas."""
    probe.sql("CHECKPOINT")
    before = probe.settled(database)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as source:
        done = subprocess.run(argv, env=env, stdin=source, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - started
    after_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(
            f"benchmark command failed ({done.returncode}): {' '.join(map(str, argv))}\n"
            f"{done.stderr.decode(errors='replace')[-1500:]}"
        )
    after = probe.settled(database, before)
    cpu = (after_usage.ru_utime - usage.ru_utime) + (after_usage.ru_stime - usage.ru_stime)
    return Sample(wall, cpu, after[0] - before[0], after[1] - before[1], after[2] - before[2])


def python_env(bytecode_cache: bool) -> dict[str, str]:
    """The environment for dbtools processes.

    An installed package runs from cached bytecode. This machine exports PYTHONDONTWRITEBYTECODE=1,
    which would make every run recompile dbtools' modules from source; so by default the children
    write and read bytecode under bench/.work/pycache (PYTHONPYCACHEPREFIX: nothing is written
    next to the sources)."""
    env = dict(os.environ)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache")
    return env


class Tools:
    """The command lines of every tool measured."""

    def __init__(
        self,
        probe: Probe,
        migrations_dir: Path,
        scripts: dict[str, Path],
        dbmate: Path | None,
        bytecode_cache: bool = True,
        baseline: Path | None = None,
    ):
        self.probe = probe
        self.baseline = baseline
        self.bytecode_cache = bytecode_cache
        self.dir = migrations_dir
        self.scripts = scripts
        self.dbmate = dbmate
        self.psql = shutil.which("psql") or "psql"

    def dbtools(self, database: str, *args: str) -> tuple[list[str], dict[str, str]]:
        env = {**python_env(self.bytecode_cache), "POSTGRES_URL": self.probe.url(database)}
        return [PY, "-m", "dbtools", "--migrations-dir", str(self.dir), *args, "--db", "postgres"], env

    def baseline_run(self, database: str, *args: str) -> tuple[list[str], dict[str, str]]:
        """The baseline tree's dbtools: -P keeps the current folder off sys.path, PYTHONPATH puts the tree first."""
        argv, env = self.dbtools(database, *args)
        return [PY, "-P", *argv[1:]], {**env, "PYTHONPATH": str(self.baseline)}

    def psql_run(self, database: str, script: Path, *extra: str) -> tuple[list[str], dict[str, str]]:
        argv = [self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", *extra, "-f", str(script), self.probe.url(database)]
        return argv, dict(os.environ)

    def dbmate_run(self, database: str, command: str) -> tuple[list[str], dict[str, str]]:
        url = self.probe.url(database) + "?sslmode=disable"
        argv = [
            str(self.dbmate),
            "--url",
            url,
            "--migrations-dir",
            str(self.dir / "postgres"),
            "--no-dump-schema",
            command,
        ]
        return argv, dict(os.environ)


def one_round(tools: Tools, rows: dict[str, Row], index: int, n: int) -> None:
    """One round: each tool on its own fresh database, in an order rotated per round."""
    probe = tools.probe

    def measure(key: str, database: str, cmd: tuple[list[str], dict[str, str]]) -> None:
        argv, env = cmd
        rows[key].samples.append(run_measured(probe, database, argv, env=env))

    def dbtools_suite() -> None:
        db = f"bench_dbtools_{index}"
        probe.fresh(db)
        measure("dbtools apply", db, tools.dbtools(db, "migrate"))
        measure("dbtools no-op", db, tools.dbtools(db, "migrate"))
        measure("dbtools rollback", db, tools.dbtools(db, "rollback", "--to", "0"))
        (count,) = probe_count(probe, db)
        if count:
            raise SystemExit(f"dbtools rollback left {count} table(s) behind")
        probe.drop(db)

    def psql_one_tx() -> None:
        db = f"bench_psql1_{index}"
        probe.fresh(db)
        measure("(a) psql one tx", db, tools.psql_run(db, tools.scripts["one_tx"], "-1"))
        probe.drop(db)

    def psql_floor() -> None:
        db = f"bench_floor_{index}"
        probe.fresh(db)
        measure("(b) floor apply", db, tools.psql_run(db, tools.scripts["floor"]))
        measure("(b) floor no-op", db, tools.psql_run(db, tools.scripts["noop"]))
        measure("(b) floor rollback", db, tools.psql_run(db, tools.scripts["floor_down"]))
        probe.drop(db)

    def dbmate_suite() -> None:
        db = f"bench_dbmate_{index}"
        probe.fresh(db)
        measure("(c) dbmate apply", db, tools.dbmate_run(db, "migrate"))
        measure("(c) dbmate no-op", db, tools.dbmate_run(db, "migrate"))
        (count,) = probe_count(probe, db, conn_db=True)
        if count != n:
            raise SystemExit(f"dbmate applied {count} of {n} migrations")
        probe.drop(db)

    def baseline_suite() -> None:
        db = f"bench_baseline_{index}"
        probe.fresh(db)
        measure("baseline apply", db, tools.baseline_run(db, "migrate"))
        measure("baseline no-op", db, tools.baseline_run(db, "migrate"))
        measure("baseline rollback", db, tools.baseline_run(db, "rollback", "--to", "0"))
        probe.drop(db)

    suites: list[Callable[[], None]] = [dbtools_suite, psql_floor, psql_one_tx]
    if tools.dbmate:
        suites.insert(1, dbmate_suite)
    if tools.baseline:
        suites.insert(1, baseline_suite)
    shift = index % len(suites)
    for suite in suites[shift:] + suites[:shift]:
        suite()


def probe_count(probe: Probe, database: str, *, conn_db: bool = False) -> tuple[int]:
    """Tables t<N> left in `database` (conn_db: rows in dbmate's schema_migrations)."""
    import psycopg2

    conn = psycopg2.connect(probe.url(database))
    try:
        with conn.cursor() as cur:
            if conn_db:
                cur.execute("SELECT count(*) FROM schema_migrations")
            else:
                cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^t[0-9]+$'")
            return (int(cur.fetchone()[0]),)
    finally:
        conn.close()


# -- start-up -----------------------------------------------------------------------------------


def startup(tools: Tools, database: str, repeats: int) -> list[str]:
    """`status --db postgres` wall time and what `-X importtime` says it imports."""
    lines = []
    argv, env = tools.dbtools(database, "status")

    def timed(cmd: Sequence[str]) -> tuple[float, float]:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr.decode(errors='replace')[-800:]}")
        return wall, (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)

    probes = {
        "python -c pass (interpreter floor)": [PY, "-c", "pass"],
        "python -m dbtools --version": [PY, "-m", "dbtools", "--version"],
        "dbtools status --db postgres": argv,
    }
    if tools.dbmate:
        dbmate_argv, _ = tools.dbmate_run(database + "_dbmate", "status")
        probes["dbmate status (Go binary, called directly)"] = dbmate_argv
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in probes}
    for _ in range(repeats):  # interleaved
        for key, cmd in probes.items():
            results[key].append(timed(cmd))
    lines.append(f"{'command':<46} {'median wall':>12} {'min wall':>9} {'median CPU':>11}")
    for key, values in results.items():
        walls = [w for w, _ in values]
        cpus = [c for _, c in values]
        lines.append(
            f"{key:<46} {statistics.median(walls):>11.3f}s {min(walls):>8.3f}s {statistics.median(cpus):>10.3f}s"
        )

    done = subprocess.run([PY, "-X", "importtime", *argv[1:]], env=env, capture_output=True, text=True, cwd=ROOT)
    imports = parse_importtime(done.stderr)
    total = sum(self_us for self_us, _, _ in imports.values())
    top = sorted(((cum, name) for name, (_, cum, depth) in imports.items() if depth == 0), reverse=True)[:12]
    lines.append("")
    lines.append(
        f"`python -X importtime -m dbtools status --db postgres`: {len(imports)} modules, "
        f"{total / 1e6:.3f} s of import time in all (importtime itself inflates this); top-level imports by "
        "cumulative time (modules loaded through importlib.import_module, such as the backend, are not "
        "listed by importtime, their imports show at top level):"
    )
    for cum, name in top:
        lines.append(f"  {cum / 1e6:8.3f} s  {name}")
    heavy = sorted(((own, name) for name, (own, _, _) in imports.items()), reverse=True)[:10]
    lines.append("largest self times: " + ", ".join(f"{name} {own / 1000:.1f} ms" for own, name in heavy))
    # sys.modules at exit is the authority on what was imported (importtime misses import_module)
    probe_code = (
        "import atexit, runpy, sys; atexit.register(lambda: sys.stderr.write('MODULES ' + "
        "' '.join(sorted(m for m in sys.modules if '.' not in m)) + '\\n')); "
        "sys.argv = ['dbtools', *sys.argv[1:]]; runpy.run_module('dbtools', run_name='__main__')"
    )
    done = subprocess.run([PY, "-c", probe_code, *argv[3:]], env=env, capture_output=True, text=True, cwd=ROOT)
    found = re.search(r"^MODULES (.*)$", done.stderr, re.MULTILINE)
    loaded = set(found.group(1).split()) if found else set()
    lines.append(
        "drivers in sys.modules after `status --db postgres`: "
        + ", ".join(f"{d} {'YES' if d in loaded else 'no'}" for d in DRIVERS)
    )
    return lines


def parse_importtime(stderr: str) -> dict[str, tuple[int, int, int]]:
    """module -> (self us, cumulative us, nesting depth) from `-X importtime` output."""
    out = {}
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            out[m.group(4)] = (int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2)
    return out


# -- report -------------------------------------------------------------------------------------


def table(rows: dict[str, Row], n: int) -> list[str]:
    head = (
        f"{'tool':<22} {'wall med':>9} {'min':>7} {'max':>7} {'CPU med':>8} {'xacts':>6} {'/mig':>5} "
        f"{'wal_sync':>8} {'/mig':>5} {'wal_write':>9}"
    )
    lines = [head, "-" * len(head)]
    for row in rows.values():
        if not row.samples:
            continue
        walls = [s.wall for s in row.samples]
        per = n if row.label.endswith(("apply", "rollback", "one tx")) else 0
        xacts, syncs = row.median("xacts"), row.median("wal_sync")
        lines.append(
            f"{row.label:<22} {statistics.median(walls):>8.3f}s {min(walls):>6.2f}s {max(walls):>6.2f}s "
            f"{row.median('cpu'):>7.3f}s {xacts:>6.0f} {xacts / per if per else 0:>5.2f} {syncs:>8.0f} "
            f"{syncs / per if per else 0:>5.2f} {row.median('wal_write'):>9.0f}"
        )
    return lines


def ratios(rows: dict[str, Row]) -> list[str]:
    lines = []

    def per_round(a: str, b: str, attr: str) -> float | None:
        if not rows[a].samples or not rows[b].samples:
            return None
        values = [
            getattr(x, attr) / getattr(y, attr)
            for x, y in zip(rows[a].samples, rows[b].samples, strict=False)
            if getattr(y, attr)
        ]
        return statistics.median(values) if values else None

    pairs = [
        ("dbtools apply", "baseline apply"),
        ("dbtools no-op", "baseline no-op"),
        ("dbtools rollback", "baseline rollback"),
        ("dbtools apply", "(c) dbmate apply"),
        ("dbtools no-op", "(c) dbmate no-op"),
        ("dbtools apply", "(b) floor apply"),
        ("dbtools rollback", "(b) floor rollback"),
        ("dbtools no-op", "(b) floor no-op"),
        ("(c) dbmate apply", "(b) floor apply"),
    ]
    lines.append("ratios (median of per-round ratios; same round, so machine noise mostly cancels):")
    for a, b in pairs:
        wall, cpu = per_round(a, b, "wall"), per_round(a, b, "cpu")
        if wall is None:
            continue
        lines.append(f"  {a:<18} / {b:<20} wall {wall:5.2f}x   CPU {cpu if cpu is not None else float('nan'):5.2f}x")
    return lines


def targets(rows: dict[str, Row], n: int) -> list[str]:
    def med(key: str, attr: str) -> float | None:
        return rows[key].median(attr) if rows[key].samples else None

    lines = [
        "targets (the floor does exactly one transaction and one flush per migration by construction;"
        " up to 10 per run of fixed overhead is allowed):"
    ]
    for what, attr in (("transaction", "xacts"), ("WAL flush", "wal_sync")):
        mine, floor = med("dbtools apply", attr), med("(b) floor apply", attr)
        ok = mine <= max(n, floor) + 10
        lines.append(
            f"  <= 1 {what} per migration:{' ' * (14 - len(what))}{mine:.0f} for {n} "
            f"({mine / n:.3f}/migration; floor {floor:.0f})  {'OK' if ok else 'MISSED'}"
        )
    cpu, dbmate_cpu = med("dbtools apply", "cpu"), med("(c) dbmate apply", "cpu")
    if dbmate_cpu is not None:
        lines.append(
            f"  client CPU below dbmate's:         {cpu:.3f} s vs {dbmate_cpu:.3f} s  "
            f"{'OK' if cpu < dbmate_cpu else 'MISSED'}"
        )
    noop = med("dbtools no-op", "wall")
    lines.append(f"  no-op run under 0.10 s:            {noop:.3f} s  {'OK' if noop < 0.10 else 'MISSED'}")
    return lines


def count_queries(tools: Tools, log: Path | None, n: int) -> list[str]:
    """Queries each client sends (log_statement = all, one extra untimed run each): round trips."""
    probe = tools.probe
    if log is None or not log.exists():
        return ["(server log not found: query counts skipped)"]
    probe.sql("ALTER SYSTEM SET log_statement = 'all'")
    probe.sql("ALTER SYSTEM SET log_line_prefix = '%d|'")
    probe.sql("SELECT pg_reload_conf()")
    time.sleep(0.3)
    runs: list[tuple[str, str, tuple[list[str], dict[str, str]]]] = []
    for db, steps in (
        ("q_dbtools", [("dbtools apply", "migrate"), ("dbtools no-op", "migrate"), ("dbtools rollback", "rollback")]),
        ("q_dbmate", [("(c) dbmate apply", "migrate"), ("(c) dbmate no-op", "migrate")]),
        ("q_floor", [("(b) floor apply", "floor")]),
    ):
        if db == "q_dbmate" and not tools.dbmate:
            continue
        probe.fresh(db)
        for label, step in steps:
            if db == "q_dbtools":
                extra = ("rollback", "--to", "0") if step == "rollback" else ("migrate",)
                runs.append((db, label, tools.dbtools(db, *extra)))
            elif db == "q_dbmate":
                runs.append((db, label, tools.dbmate_run(db, step)))
            else:
                runs.append((db, label, tools.psql_run(db, tools.scripts["floor"])))
    lines = [f"{'tool':<22} {'queries':>8} {'/mig':>6}   (log_statement=all; one protocol round trip each)"]
    try:
        for db, label, (argv, env) in runs:
            mark = log.stat().st_size
            subprocess.run(argv, env=env, check=True, capture_output=True, cwd=ROOT)
            probe.settled(db)
            with open(log, "rb") as f:
                f.seek(mark)
                text = f.read().decode(errors="replace")
            count = len(re.findall(rf"^{db}\|LOG:  (?:statement|execute [^:]*):", text, re.MULTILINE))
            per = count / n if "no-op" not in label else 0
            lines.append(f"{label:<22} {count:>8} {per:>6.2f}")
    finally:
        probe.sql("ALTER SYSTEM RESET log_statement")
        probe.sql("ALTER SYSTEM RESET log_line_prefix")
        probe.sql("SELECT pg_reload_conf()")
        for db in ("q_dbtools", "q_dbmate", "q_floor"):
            probe.drop(db)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="migrations to generate (default 500)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--startup-repeats", type=int, default=10, help="runs of `status` timed (default 10)")
    parser.add_argument("--no-dbmate", action="store_true", help="skip dbmate")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run dbtools with the inherited environment (here PYTHONDONTWRITEBYTECODE=1: "
        "every run compiles dbtools from source)",
    )
    parser.add_argument("--no-query-count", action="store_true", help="skip the log_statement query count")
    parser.add_argument("--baseline", type=Path, help="another checkout whose dbtools is measured in the same rounds")
    args = parser.parse_args(argv)

    from dbtools.sandbox import start

    dbmate = None if args.no_dbmate else ensure_dbmate()
    folder = Path(tempfile.mkdtemp(prefix="dbtools-bench-"))
    os.chmod(folder, 0o755)
    try:
        migrations = generate(folder, args.n)
        scripts = psql_scripts(folder, migrations)
        began = time.monotonic()
        sandbox = start("postgres", "local", durable=True)
        with sandbox as settings:
            probe = Probe(settings)
            probe.sql("ALTER SYSTEM SET autovacuum = off")
            probe.sql("SELECT pg_reload_conf()")
            time.sleep(0.3)
            (version,) = probe.sql("SELECT version()")[0]
            settings_line = ", ".join(
                f"{k}={v}"
                for k, v in probe.sql(
                    "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'autovacuum') ORDER BY name"
                )
            )
            tools = Tools(
                probe,
                folder,
                scripts,
                dbmate,
                bytecode_cache=not args.no_bytecode_cache,
                baseline=args.baseline.resolve() if args.baseline else None,
            )
            warm, env = tools.dbtools("postgres", "--version")  # fills the bytecode cache
            subprocess.run([*warm[:3], "--version"], env=env, capture_output=True, cwd=ROOT)
            keys = [
                "dbtools apply",
                "(c) dbmate apply",
                "(b) floor apply",
                "(a) psql one tx",
                "dbtools no-op",
                "(c) dbmate no-op",
                "(b) floor no-op",
                "dbtools rollback",
                "(b) floor rollback",
                "baseline apply",
                "baseline no-op",
                "baseline rollback",
            ]
            rows = {k: Row(k) for k in keys}
            cache = "off (inherited env)" if args.no_bytecode_cache else "on (bench/.work/pycache)"
            print(
                f"{args.n} migrations, {args.rounds} interleaved rounds; {version.split(',')[0]}; {settings_line}; "
                f"dbtools bytecode cache {cache}",
                flush=True,
            )
            for index in range(args.rounds):
                t0 = time.monotonic()
                one_round(tools, rows, index, args.n)
                print(f"  round {index + 1}/{args.rounds} done in {time.monotonic() - t0:.1f} s", flush=True)

            status_db = "bench_status"
            probe.fresh(status_db)
            cmd, env = tools.dbtools(status_db, "migrate")
            subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=ROOT)
            if dbmate:
                probe.fresh(status_db + "_dbmate")
                cmd, env = tools.dbmate_run(status_db + "_dbmate", "migrate")
                subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=ROOT)
            start_lines = startup(tools, status_db, args.startup_repeats)
            query_lines = [] if args.no_query_count else count_queries(tools, getattr(sandbox, "log", None), args.n)
            load = os.getloadavg()

        print()
        print(
            f"== apply / no-op / rollback of {args.n} migrations (median of {args.rounds} rounds; "
            "CPU = client user+sys; xacts = xact_commit delta; wal_sync / wal_write = pg_stat_wal deltas)"
        )
        for line in table(rows, args.n):
            print(line)
        print(
            "dbmate rollback-all: skipped - dbmate 2.x rolls back one migration per process "
            f"(`dbmate rollback` x {args.n} would time {args.n} process starts, not a rollback)"
        )
        print()
        for line in ratios(rows):
            print(line)
        print()
        for line in targets(rows, args.n):
            print(line)
        print()
        if query_lines:
            print("== queries sent per run (separate untimed pass)")
            for line in query_lines:
                print(line)
            print()
        print(f"== start-up (status on a database with {args.n} applied; {args.startup_repeats} interleaved runs)")
        for line in start_lines:
            print(line)
        print()
        print(
            f"total {time.monotonic() - began:.0f} s; load average at the end {load[0]:.2f} {load[1]:.2f} "
            f"{load[2]:.2f} on {os.cpu_count()} CPUs"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
