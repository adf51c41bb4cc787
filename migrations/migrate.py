#!/usr/bin/env python3
"""The seed's front: `python migrations/migrate.py [clickhouse|postgres|mongodb|redis ...] [--dry-run ...]`.

Applies this folder's migrations for the stores named (default: every store with a folder here).
Flags are passed on to `dbtools migrate`.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # works from a checkout that was not pip-installed

from dbtools.cli import main  # noqa: E402

if __name__ == "__main__":
    stores = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    flags = [arg for arg in sys.argv[1:] if arg.startswith("-")]
    sys.exit(main(["--migrations-dir", str(HERE), "migrate", *(f"--db={s}" for s in stores), *flags]))
