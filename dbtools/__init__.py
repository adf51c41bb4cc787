"""dbtools: versioned migrations, history, locking and seeding for ClickHouse, PostgreSQL, MongoDB and Redis.

The verbs, for scripts and notebooks: `dbtools.migrate("postgres")`, `dbtools.status("redis")`, ...
(the command line, invoke tasks and migrations/migrate.py call the same functions).
"""

__version__ = "0.1.0"

# the version is defined first: the modules below read it
from dbtools.runner import (
    baseline,
    migrate,
    new,
    repair,
    rollback,
    status,
    validate,
)

__all__ = ["__version__", "baseline", "migrate", "new", "repair", "rollback", "status", "validate"]
