"""ClickHouse benchmark: 200 generated migrations of 3 statements, apply-all and a no-op re-run,
on a throwaway clickhouse-server (native protocol) and on chdb (embedded). Prints figures.

    .venv/bin/python bench/bench_clickhouse.py [--migrations 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from dbtools import runner
from dbtools.backends.clickhouse import ClickHouseBackend
from dbtools.backends.clickhouse.sandbox import embedded_recipe, local_recipe
from dbtools.errors import MissingDependency
from dbtools.sandbox.embedded import EmbeddedSandbox
from dbtools.sandbox.local import LocalSandbox
from dbtools.settings import Settings


def generate(root: Path, count: int) -> Path:
    """`count` migrations, each: CREATE TABLE, INSERT, ALTER TABLE ADD COLUMN (with a down section)."""
    folder = root / "clickhouse"
    folder.mkdir(parents=True)
    for i in range(1, count + 1):
        (folder / f"{i:04d}_table_{i}.sql").write_text(
            "-- migrate:up\n"
            f"CREATE TABLE bench_{i} (id UInt64, symbol String, at DateTime) ENGINE = MergeTree ORDER BY id;\n"
            f"INSERT INTO bench_{i} VALUES ({i}, 'SYM;{i}', now());\n"
            f"ALTER TABLE bench_{i} ADD COLUMN price Float64 DEFAULT 0;\n"
            f"-- migrate:down\nDROP TABLE bench_{i};\n"
        )
    return root


def measure(label: str, settings: Settings, mdir: Path, count: int) -> None:
    started = time.perf_counter()
    done = runner.migrate("clickhouse", migrations_dir=mdir, settings=settings, create_db=True)
    apply_s = time.perf_counter() - started
    assert len(done) == count, len(done)
    started = time.perf_counter()
    assert runner.migrate("clickhouse", migrations_dir=mdir, settings=settings) == []
    noop_s = time.perf_counter() - started
    print(
        f"{label:<28} apply-all {apply_s:7.2f} s ({apply_s / count * 1000:6.1f} ms/migration, "
        f"{apply_s / (3 * count) * 1000:5.1f} ms/statement)   no-op re-run {noop_s * 1000:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--migrations", type=int, default=200)
    count = parser.parse_args().migrations
    with tempfile.TemporaryDirectory() as tmp:
        mdir = generate(Path(tmp), count)
        print(f"{count} migrations x 3 statements (CREATE TABLE, INSERT, ALTER), progress recorded per statement")
        try:
            with LocalSandbox("clickhouse", local_recipe) as settings:
                backend = ClickHouseBackend(settings)
                backend.connect()
                version = backend._client.version  # type: ignore[union-attr]
                backend.close()
                measure(f"native (server {version})", settings.with_database("bench"), mdir, count)
        except MissingDependency as exc:
            print(f"native: skipped ({exc.message})")
        with EmbeddedSandbox("clickhouse", embedded_recipe) as settings:
            measure("chdb (embedded)", settings.with_database("bench"), mdir, count)


if __name__ == "__main__":
    main()
