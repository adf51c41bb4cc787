"""dbtools: versioned migrations, history, locking and seeding for PostgreSQL, ClickHouse, MongoDB and Redis."""

__version__ = "0.1.0"
