#!/usr/bin/env python3
"""The seed's front: `python migrations/migrate.py [clickhouse|postgres|mongodb|redis ...] [--to 3 --dry-run ...]`.

Applies this folder's migrations for the stores named (default: every store with a folder here).
Every flag and its value are passed on to `dbtools migrate` unchanged (`--to 3` as well as `--to=3`).
Settings come from the environment, then from the project's `.env` (beside this folder), as for every front.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # works from a checkout that was not pip-installed

from dbtools.cli import main, options_taking_values  # noqa: E402


def arguments(argv: list[str]) -> list[str]:
    """`dbtools migrate` arguments: bare words are store names (`--db`), flags pass through with their values."""
    takes_value = options_taking_values("migrate")
    stores, flags = [], []
    words = iter(argv)
    for word in words:
        if word.startswith("-"):
            flags.append(word)
            value = next(words, None) if word in takes_value else None  # `--to 3`: 3 is a value, not a store
            if value is not None:
                flags.append(value)
        else:
            stores.append(f"--db={word}")
    return ["--migrations-dir", str(HERE), "migrate", *stores, *flags]


if __name__ == "__main__":
    sys.exit(main(arguments(sys.argv[1:]), default_env_file=HERE.parent / ".env"))
