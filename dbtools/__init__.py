"""dbtools: versioned migrations, history, locking and seeding for ClickHouse, PostgreSQL, MongoDB and Redis.

The verbs, for scripts and notebooks: `dbtools.migrate("postgres")`, `dbtools.status("redis")`, ...
(the command line, invoke tasks and migrations/migrate.py call the same functions).
"""

__version__ = "0.1.0"

# the version is defined first: the modules below read it
from typing import Any

from dbtools.runner import (
    migrate,
    rollback,
    status,
    validate,
)

__all__ = ["__version__", "baseline", "migrate", "new", "repair", "rollback", "status", "validate"]


def __getattr__(name: str) -> Any:
    """baseline, new and repair (`upkeep.py`), loaded on first use: not on migrate's path."""
    if name in ("baseline", "new", "repair"):
        from dbtools import upkeep

        return getattr(upkeep, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
