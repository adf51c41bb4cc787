"""The `backup`, `restore` and `rehearse` commands of `python -m dbtools` (part of the CLI front).

Kept beside cli.py so the front stays small; errors propagate to `cli.main`, which prints them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from dbtools.errors import UsageError

if TYPE_CHECKING:
    from dbtools.cli import Arguments


def add_commands(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the three commands on the CLI's subparsers."""
    p = sub.add_parser("backup", parents=parents, help="back a store up (schema, data, history) into a folder")
    p.add_argument("--to", required=True, metavar="DIR", help="folder to create the backup folder in")
    _lock_timeout(p, "a backup waits for a running migration and holds the migration lock while it reads")

    p = sub.add_parser("restore", parents=parents, help="restore a backup into the database the settings point at")
    p.add_argument("--from", required=True, metavar="FOLDER", dest="source", help="a folder `backup` printed")
    p.add_argument("--force", action="store_true", help="replace everything in a non-empty target (all or nothing)")
    _lock_timeout(p, "a restore holds the migration lock: migrations wait for it, it waits for them")

    p = sub.add_parser(
        "rehearse", parents=parents, help="apply pending migrations to a backup in a throwaway sandbox, timed"
    )
    p.add_argument("--from", required=True, metavar="FOLDER", dest="source", help="a folder `backup` printed")
    p.add_argument(
        "--provider",
        metavar="KIND",
        help="throwaway server: docker, local, embedded, or a store's own (mongodb: secantusdb); "
        "default: the first that can load the backup here",
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON object (for CI)")


def _lock_timeout(parser: argparse.ArgumentParser, why: str) -> None:
    from dbtools.runner import DEFAULT_LOCK_TIMEOUT
    from dbtools.values import SECONDS_TO_WAIT, argument

    parser.add_argument(
        "--lock-timeout",
        type=argument(SECONDS_TO_WAIT),
        default=DEFAULT_LOCK_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the migration lock; {why}",
    )


def _lock_lines(event: Any) -> None:
    """Print only the 'waiting for the lock' line: the command prints its own result."""
    from dbtools.audit import stdout_reporter

    if event.action == "lock":
        stdout_reporter(sys.stderr)(event)


def run(args: Arguments) -> int:
    """Dispatch one of the three commands; return the exit code."""
    from dbtools import backup

    if args.command == "backup":
        for store in _stores(args, None):
            started = time.monotonic()
            folder = backup.backup(
                store, args.to, migrations_dir=args.migrations_dir, lock_timeout=args.lock_timeout, report=_lock_lines
            )
            manifest = json.loads((folder / backup.MANIFEST).read_text())
            size = sum(f["size"] for f in manifest["files"])
            print(
                f"{store}: backed up version {manifest['version'] or 0} with {manifest['method']} "
                f"({manifest['tool']}): {len(manifest['files'])} file(s), {_size(size)}, "
                f"{time.monotonic() - started:.1f} s"
            )
            print(folder)
        return 0
    store = _stores(args, args.source)[0]
    if args.command == "restore":
        started = time.monotonic()
        manifest = backup.restore(
            store,
            args.source,
            force=args.force,
            migrations_dir=args.migrations_dir,
            lock_timeout=args.lock_timeout,
            report=_lock_lines,
        )
        print(
            f"{store}: restored {args.source} (version {manifest['version'] or 0}, {manifest['method']}) "
            f"in {time.monotonic() - started:.1f} s; `status --db {store}` shows version {manifest['version'] or 0}"
        )
        return 0
    on_step = None if args.json else _print_step
    from dbtools.rehearse import rehearse

    result = rehearse(store, args.source, migrations_dir=args.migrations_dir, provider=args.provider, on_step=on_step)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_summary(result)
    return 1 if any(m["status"] == "failed" for m in result["migrations"]) else 0


def _stores(args: Arguments, folder: str | None) -> list[str]:
    """--db values; for restore/rehearse without --db, the store the backup's manifest names."""
    stores = [s.strip() for value in args.db or [] for s in value.split(",") if s.strip()]
    if not stores and folder is not None:
        from pathlib import Path

        from dbtools.backup import MANIFEST

        manifest = Path(folder) / MANIFEST
        if manifest.is_file():
            try:
                named = json.loads(manifest.read_text())["store"]
                stores = [named] if isinstance(named, str) else []
            except (ValueError, KeyError, TypeError):
                stores = []
    if not stores or (folder is not None and len(stores) != 1):
        raise UsageError(
            f"{args.command} needs exactly one --db STORE" if folder else "backup needs --db STORE",
            hint=f"e.g. `{args.command} --db postgres " + ("--from FOLDER`" if folder else "--to backups/`"),
        )
    return stores


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _print_step(step: dict[str, Any]) -> None:
    print(f"  {step['version']:03d}_{step['name']}: {step['status']} in {step['duration_ms']} ms{_cost(step['cost'])}")
    if step.get("error"):
        print(f"    error: {step['error']}")


def _cost(cost: dict[str, Any]) -> str:
    """What the store said a migration cost, in a few words."""
    parts = []
    if "lock_timeout_hits" in cost:
        waits = cost["lock_waits"]
        parts.append(f"lock waits {len(waits)}" + (f" ({sum(w['ms'] for w in waits)} ms)" if waits else ""))
        parts.append(f"lock_timeout hits {cost['lock_timeout_hits']}")
        held = [f"{h['mode']} on {h['relation']} {h['ms']} ms" for h in cost["locks_held"][:3]]
        if held:
            parts.append("held " + ", ".join(held))
    if "mutations_running" in cost:
        parts.append(f"mutations still running {cost['mutations_running']}")
    return "; " + "; ".join(parts) if parts else ""


def _print_summary(result: dict[str, Any]) -> None:
    steps = result["migrations"]
    total = sum(s["duration_ms"] for s in steps)
    server = f" ({result['sandbox_server']})" if result.get("sandbox_server") else ""
    print(
        f"{result['store']}: rehearsed on a {result['sandbox']} sandbox{server}: restored version "
        f"{result['from_version'] or 0} in {result['restore_ms']} ms, applied {len(steps)} pending migration(s) "
        f"in {total} ms, now at version {result.get('to_version')}; the source was not touched"
    )
