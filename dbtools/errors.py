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

    def lines(self) -> list[str]:
        """What the fronts print: `error: ...` and, when there is one, `hint: ...`."""
        return [f"error: {self.message}"] + ([f"hint: {self.hint}"] if self.hint else [])


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


class Interrupted(DbtoolsError):
    """Ctrl-C stopped the run; history says what stayed. One line, exit 130 (128 + SIGINT)."""

    exit_code = 130

    def lines(self) -> list[str]:
        return [f"interrupted: {self.message}"]


class LockTimeout(DbtoolsError):
    """Another run holds the migration lock longer than we were told to wait."""


class LeaseLost(DbtoolsError):
    """The migration lock this run held is no longer its own (the lease expired while the run was paused,
    or `unlock --force` broke it): the run stops and writes nothing more to history."""

    def during(self, label: str, shows: str) -> LeaseLost:
        """The same loss, said for the migration it stopped: `label` and what history shows now."""
        return LeaseLost(
            f"{self.message}; {label} was not recorded as applied ({shows})",
            hint="another run may be applying migrations now: see `status`; once no run holds the lock, "
            "continue with `migrate --resume` (or clean up and `repair`)",
        )


class HistoryMismatch(DbtoolsError):
    """History and files disagree (changed, missing, out of order, failed) and the command refuses."""


class Refusals(HistoryMismatch):
    """Several independent reasons to refuse, each printed as its own `error:` and `hint:` line."""

    def __init__(self, problems: list[DbtoolsError]) -> None:
        super().__init__(problems[0].message, hint=problems[0].hint)
        self.problems = problems

    def __str__(self) -> str:
        return "; ".join(p.message for p in self.problems)

    def lines(self) -> list[str]:
        return [line for problem in self.problems for line in problem.lines()]


class ValidationFailed(DbtoolsError):
    """A check found problems (layout violations, lint errors)."""


class MissingDependency(DbtoolsError):
    """A driver or external program needed for this store is not installed."""
