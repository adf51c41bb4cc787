"""The first hour, timed on fresh clones: onboarding (first and second run) and `nox -s migration_tests`.

    .venv/bin/python bench/bench_setup.py [--rounds 1] [--skip-nox] [--skip-onboard] [--ref HEAD]

Each round clones the repository (`git clone` of the committed REF: uncommitted edits are not measured)
into a temporary folder and runs, as a new user would:

- `scripts/onboard.sh` twice: the first run (venv, packages, servers, migrate, seed) and the second
  (nothing to do). The package cache is the machine's (uv's or pip's), warm after any earlier install;
  onboarding starts servers of its own (the store variables point at free ports, so the machine's own
  PostgreSQL/Redis services are never touched) and `scripts/onboard.sh down` stops them afterwards;
- `nox -s migration_tests` (all four stores, the nox of this venv) and the size of `.nox` afterwards.

It prints each figure beside its budget (issue 16: onboarding at most 60 s, a second run at most 3 s,
migration tests at most 120 s and 1.5 GB under .nox) and, per phase, what onboarding reported. Rounds
run the two measurements alternately; figures are the median over rounds. The machine is shared: note
its load average (printed) when comparing runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = {"onboard first run": 60.0, "onboard second run": 3.0, "nox migration_tests": 120.0}
NOX_SIZE_BUDGET = 1.5 * 1024**3
LOGS = ROOT / "bench" / ".work" / "setup"  # the last run's full output (bench/.work is git-ignored)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clone(ref: str, into: Path) -> Path:
    target = into / "dbtools"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "-q", ref], check=True)
    return target


def timed(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    took = time.monotonic() - started
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(done.stdout + done.stderr)
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        sys.exit(f"{' '.join(argv)} failed in {cwd} (exit {done.returncode}), log in {log}:\n{tail}")
    return took, done.stdout


def onboard(ref: str, work: Path) -> dict[str, float]:
    """Seconds of onboarding's first and second run on a fresh clone, and of each first-run phase."""
    project = clone(ref, work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "REDIS_", "MONGO_", "CLICKHOUSE_"))}
    env.update(
        POSTGRES_PORT=str(free_port()),  # nothing answers there: onboarding starts servers of its own
        REDIS_PORT=str(free_port()),
        MONGO_PORT=str(free_port()),
        DBTOOLS_ONBOARD_NO_DOCKER="1",
        VIRTUAL_ENV="",
    )
    try:
        first, out = timed(["scripts/onboard.sh"], project, env, LOGS / "onboard-1.log")
        second, _ = timed(["scripts/onboard.sh"], project, env, LOGS / "onboard-2.log")
    finally:
        subprocess.run(["scripts/onboard.sh", "down"], cwd=project, env=env, capture_output=True, timeout=120)
    figures = {"onboard first run": first, "onboard second run": second}
    for name, seconds in re.findall(r"^onboard: (\w+) .*\((\d+\.\d) s\)$", out, re.MULTILINE):
        figures[f"  phase {name}"] = float(seconds)
    shutil.rmtree(project, ignore_errors=True)
    return figures


def nox_migration_tests(ref: str, work: Path) -> dict[str, float]:
    """Seconds of `nox -s migration_tests` on a fresh clone and the bytes under .nox afterwards."""
    project = clone(ref, work)
    nox = shutil.which("nox", path=str(Path(sys.executable).parent)) or "nox"
    env = {**os.environ, "VIRTUAL_ENV": ""}
    took, out = timed([nox, "-s", "migration_tests"], project, env, LOGS / "nox.log")
    size = int(subprocess.run(["du", "-sb", str(project / ".nox")], capture_output=True, text=True).stdout.split()[0])
    figures = {"nox migration_tests": took, "nox .nox bytes": float(size)}
    for session, outcome, seconds in re.findall(r"\* migration_tests\(store='(\w+)'\): (\w+).*took (\d+) seconds", out):
        figures[f"  {session} ({outcome})"] = float(seconds)
    shutil.rmtree(project, ignore_errors=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="fresh clones per measurement (default: 1)")
    parser.add_argument("--ref", default="HEAD", help="the commit to clone (default: HEAD)")
    parser.add_argument("--skip-nox", action="store_true", help="measure onboarding only")
    parser.add_argument("--skip-onboard", action="store_true", help="measure nox only")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    runs: dict[str, list[float]] = {}
    for round_no in range(args.rounds):
        steps = [("onboard", onboard), ("nox", nox_migration_tests)]
        if round_no % 2:
            steps.reverse()  # alternate, so neither always runs on the warmer machine
        for name, step in steps:
            if (name == "onboard" and args.skip_onboard) or (name == "nox" and args.skip_nox):
                continue
            with tempfile.TemporaryDirectory(prefix=f"bench-setup-{name}-") as tmp:
                Path(tmp).chmod(0o755)  # as root, onboarding runs PostgreSQL as the postgres user inside it
                for key, value in step(args.ref, Path(tmp)).items():
                    runs.setdefault(key, []).append(value)
    for key, values in runs.items():
        value = statistics.median(values)
        if key == "nox .nox bytes":
            print(f"{'.nox size':<28} {value / 1024**3:6.2f} GB   budget 1.5 GB  ({value / NOX_SIZE_BUDGET:.2f}x)")
        elif key in BUDGETS:
            budget = BUDGETS[key]
            print(f"{key:<28} {value:6.1f} s    budget {budget:g} s   ({value / budget:.2f}x)")
        else:
            print(f"{key:<28} {value:6.1f} s")
    print(f"machine: load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
