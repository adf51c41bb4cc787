"""dbtools: versioned migrations, history, locking and seeding for ClickHouse, PostgreSQL, MongoDB and Redis.

The verbs, for scripts and notebooks: `dbtools.migrate("postgres")`, `dbtools.status("redis")`, ...
(the command line, invoke tasks and migrations/migrate.py call the same functions).
"""

from __future__ import annotations

__version__ = "0.1.0"

# the version is defined first: the modules below read it

from dbtools.runner import (
    migrate,
    rollback,
    status,
    validate,
)

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["__version__", "baseline", "migrate", "new", "repair", "rollback", "status", "validate"]


def __getattr__(name: str) -> Any:
    """baseline, new and repair (`upkeep.py`), loaded on first use: not on migrate's path."""
    if name in ("baseline", "new", "repair"):
        from dbtools import upkeep

        return getattr(upkeep, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
