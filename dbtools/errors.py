"""The exception family: every expected failure carries a message and a hint for the user."""

from __future__ import annotations


class DbtoolsError(Exception):
    """An expected failure: printed as `error: message` and `hint: hint`, never as a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(DbtoolsError):
    """The command line or a call's arguments do not make sense."""

    exit_code = 2


class ConfigError(DbtoolsError):
    """A setting (URL, environment variable) is malformed; the hint names the variable."""

    exit_code = 2


class ConnectionFailed(DbtoolsError):
    """The store could not be reached or refused us (host, port, password, database)."""


class DatabaseMissing(ConnectionFailed):
    """The server answers but the database does not exist; `--create-db` creates it."""


class MigrationFileError(DbtoolsError):
    """A file in the migrations folder breaks a naming or format rule."""


class MigrationFailed(DbtoolsError):
    """A statement of a migration failed; history says exactly what ran."""


class LockTimeout(DbtoolsError):
    """Another run holds the migration lock longer than we were told to wait."""


class HistoryMismatch(DbtoolsError):
    """History and files disagree (changed, missing, out of order, failed) and the command refuses."""


class ValidationFailed(DbtoolsError):
    """A check found problems (layout violations, lint errors)."""


class MissingDependency(DbtoolsError):
    """A driver or external program needed for this store is not installed."""
