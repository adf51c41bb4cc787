"""The exception family: every expected failure carries its facts as fields, and composes from them
the message and the hint the fronts print. Also the process's list of secrets, masked out of anything
printed about an error (`redact`)."""

from __future__ import annotations

import re


class DbtoolsError(Exception):
    """An expected failure: printed as `error: message` and `hint: hint`, never as a traceback
    (`--debug` adds the traceback, with the driver's exception it was raised from)."""

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
    """A file in the migrations folder breaks a naming or format rule; `line` is the file line, when known."""

    def __init__(self, message: str, *, hint: str | None = None, line: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.line = line


class MigrationFailed(DbtoolsError):
    """A migration failed; history says exactly what ran.

    A failed statement names itself by `statement_index` (0-based) of `statements_total`, its `file` and
    `line` and an `excerpt`; `statements_done` is how many statements stayed applied; `in_step` (1-based)
    names a statement that ran without a transaction and may have left part of its work; `reverting` says a
    rollback's failure left history holding the version's unfinished row, not its applied one (its down
    section runs without a transaction: `rollback --resume` continues it). A failure outside
    any one statement (the script would not load, the history row could not be written) has no
    `statement_index` and says in `stage` what went wrong (and in `where`, when it knows, where it
    stopped). `server_message` is the store's own words."""

    def __init__(
        self,
        store: str,
        version: int,
        name: str,
        server_message: str,
        *,
        statement_index: int | None = None,
        line: int | None = None,
        statements_done: int = 0,
        statements_total: int = 0,
        file: str = "",
        excerpt: str = "",
        down: bool = False,
        in_step: int = 0,
        reverting: bool = False,
        stage: str = "failed",
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.store = store
        self.version = version
        self.name = name
        self.server_message = server_message
        self.statement_index = statement_index
        self.line = line
        self.statements_done = statements_done
        self.statements_total = statements_total
        self.file = file
        self.excerpt = excerpt
        self.down = down
        self.in_step = in_step
        self.reverting = reverting
        self.stage = stage
        self._where = where
        super().__init__(self._message(), hint=self._hint() if hint is None else hint)

    @property
    def label(self) -> str:
        """`version_name`, as every message names a migration."""
        return f"{self.version:03d}_{self.name}"

    @property
    def where(self) -> str:
        """`007_x.sql line 14, statement 3 of 5`; `a statement` for a failure outside any one, unless told."""
        if self._where is not None or self.statement_index is None:
            return self._where or "a statement"
        return f"{self.file} line {self.line}, statement {self.statement_index + 1} of {self.statements_total}"

    def _message(self) -> str:
        head = f"{self.store}: migration {self.label}"
        if self.statement_index is None:
            return f"{head} {self.stage}: {self.server_message}"
        return f"{head} failed at {self.where}: {self.server_message} [{self.excerpt}]"

    def _hint(self) -> str:
        done, store = self.statements_done, self.store
        if self.down and self.in_step:
            return partial_step_hint(store, self.in_step, done, down=True)
        if self.reverting:
            return (
                f"{down_steps_ran(done)}; history shows the rollback unfinished: `rollback --steps 1 --resume "
                f"--db {store}` continues at down step {done + 1}, or finish the down section by hand and run "
                f"`repair --db {store}` (the version then counts as not applied)"
            )
        if self.down:
            hint = "history still lists it as applied; fix the down section and run `rollback` again"
            if done:
                hint += f" (statements 1-{done} of the down section already ran: make them idempotent)"
            return hint
        if self.in_step:
            return partial_step_hint(store, self.in_step, done)
        if done:
            return (
                f"statements 1-{done} stayed applied (no transaction); fix the file from statement "
                f"{done + 1} on and run `migrate --resume --db {store}`, or undo them by hand and run `repair`"
            )
        return f"nothing of it was applied; fix the file and run `migrate --db {store}` again"


class ScriptFailed(DbtoolsError):
    """A program a migration step runs (mongosh) failed; the step's MigrationFailed quotes this."""


class Interrupted(DbtoolsError):
    """Ctrl-C stopped the run; history says what stayed. One line, exit 130 (128 + SIGINT)."""

    exit_code = 130

    def lines(self) -> list[str]:
        return [f"interrupted: {self.message}"]


def down_steps_ran(done: int) -> str:
    """`down steps 1-3 ran` / `down step 1 ran` / `no down step ran`: what a stopped rollback did."""
    return f"down steps 1-{done} ran" if done > 1 else "down step 1 ran" if done else "no down step ran"


def partial_step_hint(store: str, step: int, done: int, *, down: bool = False) -> str:
    """What to do about a migration (`down`: a rollback) stopped inside step `step` (1-based), which may have
    partly run."""
    unit, verb = ("down step", "rollback --steps 1") if down else ("statement", "migrate")
    kept = "ran;" if down else "stayed applied and"
    before = f"{unit}s 1-{done} {kept} " if done > 1 else f"{unit} 1 {kept} " if done else ""
    undo = (
        f"finish the down section by hand and run `repair --db {store}` (the version then counts as not applied)"
        if down
        else f"undo by hand and run `repair --db {store}`"
    )
    return (
        f"{before}{unit} {step} ran without a transaction and may have left part of its work: check it, then "
        f"`{verb} --resume --rerun-step --db {store}` runs it again from its start, or "
        f"`{verb} --resume --skip-step --db {store}` counts it as done; or {undo}"
    )


class LockTimeout(DbtoolsError):
    """Another run holds the migration lock longer than we were told to wait.

    `holder` is who holds it (None: it was freed just as we gave up), `waited` the seconds we waited,
    `where` the store's display URL and `breaking` how to free a lock whose holder hangs or died."""

    def __init__(self, store: str, holder: str | None, waited: float, *, where: str, breaking: str) -> None:
        self.store = store
        self.holder = holder
        self.waited = waited
        self.where = where
        self.breaking = breaking
        super().__init__(
            f"{store}: the migration lock on {where} is held by {holder or 'another run (it has gone since)'}; "
            f"waited {waited:.1f} s",
            hint=f"wait for that run to finish and retry (or raise --lock-timeout); {breaking}",
        )


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


def missing_driver(store: str, package: str) -> MissingDependency:
    """`store` cannot run: `package` (a Python driver requirements.txt installs) is missing."""
    return MissingDependency(f"{store}: {package} is not installed", hint="pip install -r requirements.txt")


class SandboxFailed(DbtoolsError):
    """A throwaway server did not start or did not become ready."""


class BackupFailed(DbtoolsError):
    """A backup could not be written (folder not writable, disk full, the dump tool failed)."""


class BackupInvalid(DbtoolsError):
    """A backup folder is incomplete or damaged (no manifest, a checksum differs)."""


class RestoreFailed(DbtoolsError):
    """The backup could not be loaded; the target was left as it was."""


# -- secrets ------------------------------------------------------------------------------------------

_SECRETS: set[str] = set()
_USERINFO = r"(\w[\w+.-]*://[^/\s:@]*:)[^\s@]+@"  # scheme://user:PASSWORD@ in any URL (compiled on first use)


def secret(value: str) -> None:
    """Remember `value` (a password, an ENVSUB value) as one never to print: `redact` masks it."""
    if value:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """`text` with every remembered secret (also percent-encoded) and every URL's password masked: for
    what the messages cannot vet themselves, such as a driver's exception shown by `--debug`."""
    from urllib.parse import quote, quote_plus

    forms = {form for value in _SECRETS for form in (value, quote(value, safe=""), quote(value), quote_plus(value))}
    for form in sorted(forms, key=len, reverse=True):  # longest first: no form left half-masked
        text = text.replace(form, "***")
    return re.sub(_USERINFO, r"\1***@", text)
