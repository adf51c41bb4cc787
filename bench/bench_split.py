"""Splitting one big PostgreSQL file: time and memory of postgres_dialect.split.

    .venv/bin/python bench/bench_split.py [--statements 200000] [--rounds 3]

Writes a file of N INSERT statements (about 20 MB for 200,000), then per round, in a fresh process,
reads it and splits it, printing CPU and wall seconds and the peak resident memory the split added
over the text it was given (VmHWM after resetting it through /proc/self/clear_refs, minus VmRSS
before). Also the same file with a COPY data block and a BEGIN ATOMIC function every 1,000
statements, which sends those pieces through the token-by-token reader.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
from dbtools.backends.postgres import dialect as postgres_dialect
import pglast, pglast.ast  # loaded before measuring: their size is not the split's

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

text = open(sys.argv[1], encoding="utf-8").read()
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS:")
cpu, wall = time.process_time(), time.perf_counter()
script = postgres_dialect.split(text, source="big.sql")
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
print(json.dumps({"cpu": cpu, "wall": wall, "extra": status("VmHWM:") - before, "size": len(text.encode()),
                  "statements": len(script), "last_line": script[-1].line}))
"""


def write(path: Path, statements: int, mixed: bool) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(statements):
            out.write(f"INSERT INTO accounts (id, name, balance, note) VALUES ({i}, 'name {i}', {i}.56, 'a note');\n")
            if mixed and i % 1000 == 999:
                out.write("COPY accounts (id, name) FROM stdin;\n1\tit's; data\n2\t\\N\n\\.\n")
                out.write(f"CREATE FUNCTION f{i}() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for label, mixed in (("INSERTs only", False), ("with COPY and BEGIN ATOMIC every 1,000", True)):
            path = Path(tmp) / "big.sql"
            write(path, args.statements, mixed)
            runs = []
            for _ in range(args.rounds):
                done = subprocess.run(
                    [sys.executable, "-c", CHILD, str(path), str(ROOT)], capture_output=True, text=True, check=True
                )
                runs.append(json.loads(done.stdout))
            size = runs[0]["size"]
            print(
                f"{label}: {size / 2**20:.1f} MB, {runs[0]['statements']} statements; "
                f"CPU {statistics.median(r['cpu'] for r in runs):.2f} s, "
                f"wall {statistics.median(r['wall'] for r in runs):.2f} s (median of {args.rounds}); "
                f"memory over the text {max(r['extra'] for r in runs) / 2**20:.1f} MB "
                f"({max(r['extra'] for r in runs) / size:.2f}x the file)"
            )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
