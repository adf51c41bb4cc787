"""Running a migration's statements: in one transaction with its history row, or one by one with progress."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from dbtools.backends.base import history_row, migration_failed, statement_failed, step_failed, step_started
from dbtools.backends.postgres.client import _server_message
from dbtools.backends.postgres.history import PostgresHistory, _history_write_failed
from dbtools.errors import ConnectionFailed, DbtoolsError, MigrationFailed
from dbtools.migrations import Migration
from dbtools.plan import AppliedMigration

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:  # imported where statements are read: a no-op run reads none
    from dbtools.backends.postgres import dialect
    from dbtools.sqltext import Statement

_ONE_QUERY_BYTES = 1 << 20  # a section at least this big goes in its own query (no copy into a bigger one)
_AFTER_SECTION = b"\n;\n"  # ends a last statement written without a semicolon (or a trailing -- comment)
_LOCATE_BATCH = 1000  # statements per query when a failed section is run again to find the failing one


def _execute(cur: Any, statement: Statement, *, begin: bool = False) -> None:
    """Run one statement (`begin`: open the transaction in the same round trip); COPY ... FROM STDIN
    streams the data block that followed it in the file. Ctrl-C cancels it on the server (the
    driver then raises QueryCanceled, as it does for a statement Ctrl-C came before)."""
    from dbtools import interrupt

    try:
        with interrupt.cancellable(cur.connection.cancel):
            if statement.data is None:
                cur.execute(("BEGIN;\n" if begin else "") + statement.sql)
                return
            if begin:
                cur.execute("BEGIN")
            cur.copy_expert(statement.sql, io.StringIO(statement.data))
    except interrupt.Stopped as exc:
        from psycopg2.errors import QueryCanceled

        raise QueryCanceled(str(exc)) from None


def _codec(conn: Any) -> str:
    """The Python codec of the connection's client encoding."""
    from psycopg2.extensions import encodings

    return str(encodings.get(conn.encoding, "utf-8"))


def _first_failure(cur: Any, script: dialect.Script, tail: bytes) -> tuple[int, str] | None:
    """Run `script` then `tail` inside the open transaction (see `_locate`)."""
    import psycopg2

    text, total = script.text, len(script)
    first = 0
    while first < total:
        last = min(total, first + _LOCATE_BATCH) - 1
        start, end = script.span(first, last)
        try:
            cur.execute("SAVEPOINT dbtools_locate;\n" + text[start:end] + "\n;")
        except psycopg2.Error:
            cur.execute("ROLLBACK TO SAVEPOINT dbtools_locate")
            for index in range(first, last + 1):
                try:
                    cur.execute(script[index].sql)
                except psycopg2.Error as exc:
                    return index, _server_message(exc)
            return None
        first = last + 1
    try:
        cur.execute(tail)
    except psycopg2.Error as exc:
        return total, _server_message(exc)
    return None


class PostgresApply(PostgresHistory):
    """apply and revert."""

    @staticmethod
    def runs_in_transaction(
        migration: Migration, statements: Sequence[Statement], server_version: int | None = None, *, down: bool = False
    ) -> bool:
        """False when the section's directive or marker says so, or a statement cannot run inside the
        transaction dbtools opens (it must run outside one, or the file controls its own transactions)."""
        declared = migration.down_transactional if down else migration.transactional
        if declared is not None:
            return declared
        from dbtools.backends.postgres import dialect

        if not isinstance(statements, dialect.Script):
            statements = dialect.Script.of(statements)
        return not statements.needs_autocommit(server_version)

    def apply(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> AppliedMigration:
        if self.runs_in_transaction(migration, statements, self._conn.server_version):
            return self._apply_in_transaction(migration, statements)
        return self._apply_statement_by_statement(migration, statements, start_at)

    def _connection_lost(
        self, m: Migration, where: str, exc: Exception, shows: str, *, doing: str = "applying"
    ) -> ConnectionFailed:
        """The one line for a session that died under a migration (server crash or restart, the session
        ended by `unlock --force` or an administrator, a network cut): what happened and what history shows."""
        return ConnectionFailed(
            f"postgres at {self.settings.address}: the connection was lost while {doing} {m.label} ({where}): "
            f"{_server_message(exc)}; {shows}",
            hint="if the server restarted or someone ran `unlock --force`, check `status --db postgres` "
            "once it answers, then run `migrate` again (with --resume where status says so) or `repair`",
        )

    def _commit_outcome(self, m: Migration, *, down: bool = False) -> str:
        """What history says, read on a new session, of a migration whose connection was lost once its
        COMMIT could have been sent: its history row commits (or, rolled back, is deleted) with it, so
        the row tells whether the transaction committed before the connection went."""
        import psycopg2

        unknown = (
            "whether its transaction committed is not known: a new session could not read history; its "
            "history row commits with it, so `status --db postgres` will tell once the server answers"
        )
        try:
            conn = self._open(self.settings.database)
        except DbtoolsError:
            return unknown
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT status, checksum FROM {self._history} WHERE version = %s", (m.version,))
                row = cur.fetchone()
        except psycopg2.Error:  # no answer is not "no row": claim neither outcome
            return unknown
        finally:
            conn.close()
        recorded = row is not None and row[0] == "applied" and row[1] == m.checksum
        if recorded != down:
            action = "rolled back" if down else "applied"
            return f"its transaction had committed: history, read again on a new session, records it as {action}"
        return (
            "its transaction did not commit (history, read again on a new session, is unchanged), so nothing of "
            "it was kept and history is as it was"
        )

    def _apply_in_transaction(self, m: Migration, statements: Sequence[Statement]) -> AppliedMigration:
        import psycopg2

        from dbtools.backends.postgres import dialect

        if isinstance(statements, dialect.Script) and statements.sendable(self._conn.server_version):
            return self._apply_as_one(m, statements)
        started = time.monotonic()
        cur = self._conn.cursor()
        index = -1
        try:
            for index in range(len(statements)):
                # BEGIN rides with the first statement: one round trip less per migration
                _execute(cur, statements[index], begin=index == 0)
            if not statements:
                cur.execute("BEGIN")
            row = history_row(
                m, status="applied", started=started, statements_done=len(statements), statements=statements
            )
            index = len(statements)
            cur.execute(self._upsert + "; COMMIT", row.values())
            return row
        except psycopg2.Error as exc:
            if self._conn.closed:
                if index < len(statements):
                    where = f"statement {index + 1} of {len(statements)}"
                    shows = "its transaction did not commit, so nothing of it was kept and history is as it was"
                else:  # COMMIT was sent: it may have committed before the connection went
                    where, shows = "at COMMIT", self._commit_outcome(m)
                raise self._connection_lost(m, where, exc, shows) from exc
            cur.execute("ROLLBACK")
            if not 0 <= index < len(statements):
                raise _history_write_failed(m, exc) from exc
            failure = statement_failed(self.name, m, statements, index, _server_message(exc), kept=False)
            from dbtools import interrupt

            if not interrupt.requested():  # stopped by Ctrl-C, the migration is simply not applied
                row = history_row(
                    m, status="failed", started=started, statements_done=0, statements=statements, error=failure.message
                )
                self.record(row)
            raise failure from exc
        finally:
            cur.close()

    def _apply_as_one(self, m: Migration, script: dialect.Script) -> AppliedMigration:
        """The section and its history row in one transaction, sent as one multi-statement query: the
        server parses it, nothing is cut here. Only after a failure is the section cut, to name the
        statement (by the error's position, else by running it again in a transaction rolled back)."""
        started = time.monotonic()
        row = history_row(m, status="applied", started=started, statements_done=len(script), statements=script)
        with self._conn.cursor() as cur:
            params = row.values()
            record = cur.mogrify(self._upsert_timed, params[:8] + params[10:])
            self._run_as_one(cur, m, script, record, started)
        return row._replace(applied_at=datetime.now(UTC), execution_ms=int((time.monotonic() - started) * 1000))

    def _run_as_one(
        self, cur: Any, m: Migration, script: dialect.Script, tail: bytes, started: float, *, down: bool = False
    ) -> None:
        """BEGIN; the section; `tail` (the history write); COMMIT - one round trip for a section under
        _ONE_QUERY_BYTES, else three, so a big section is encoded once and never copied into a bigger string."""
        import psycopg2

        from dbtools import interrupt

        # in the connection's encoding, as psycopg2 encodes a str query (a LATIN1 database talks LATIN1)
        body = script.text.encode(_codec(cur.connection))
        head = b"BEGIN;\n"
        in_tail = False
        try:
            with interrupt.cancellable(cur.connection.cancel):  # Ctrl-C cancels it on the server
                if len(body) < _ONE_QUERY_BYTES:
                    cur.execute(b"".join((head, body, _AFTER_SECTION, tail, b";\nCOMMIT")))
                else:
                    head = b""
                    cur.execute(b"BEGIN")
                    cur.execute(body)
                    del body
                    in_tail = True
                    cur.execute(tail + b";\nCOMMIT")
        except interrupt.Stopped as exc:  # Ctrl-C came first: nothing was sent
            raise migration_failed(self.name, m, str(exc), stage="was not started") from None
        except psycopg2.Error as exc:
            if self._conn.closed:  # the query ends in COMMIT: it may have committed before the connection went
                where = f"its section of {len(script)} statement(s), sent as one query"
                shows = self._commit_outcome(m, down=down)
                raise self._connection_lost(m, where, exc, shows, doing="rolling back" if down else "applying") from exc
            cur.execute("ROLLBACK")
            if interrupt.requested():  # cancelled by Ctrl-C: simply not applied, nothing to locate or record
                raise migration_failed(
                    self.name,
                    m,
                    _server_message(exc),
                    stage="was cancelled",
                    # which statement ran is unknown: the server was running the section as one query
                    where=f"one of its {len(script)} statement(s) (its section runs as one query)",
                    hint="nothing of it was applied",
                ) from exc
            sent_before = None if in_tail else len(head)
            raise self._failed_as_one(cur, m, script, exc, tail, sent_before, started, down) from exc

    def _failed_as_one(
        self,
        cur: Any,
        m: Migration,
        script: dialect.Script,
        exc: Exception,
        tail: bytes,
        head: int | None,
        started: float,
        down: bool,
    ) -> MigrationFailed:
        """The error for a section sent whole that failed (rolled back): which statement, from the
        server's error position, else found by running the section again, statement by statement in
        batches, in a transaction that is rolled back; recorded as a failed row for an up section.
        `head`: characters sent before the section in the failed query (None: it was the history write)."""
        message = _server_message(exc)
        position = getattr(getattr(exc, "diag", None), "statement_position", None)
        index: int | None = None
        if head is not None and position and position.isdigit():
            offset = int(position) - 1 - head
            if offset >= len(script.text) + len(_AFTER_SECTION):
                head = None  # past the section: the history write failed
            elif offset >= 0 and len(script):
                index = script.index_at(min(offset, len(script.text) - 1))
        if index is None and head is not None:
            found = self._locate(cur, script, tail)
            if found is not None:
                index, message = found
                head = None if index == len(script) else head
        if head is None:
            return _history_write_failed(m, message, down=down)
        if index is None:
            failure = migration_failed(
                self.name,
                m,
                f"{' '.join(message.split())} (no statement named: it did not fail again when the section was run "
                "once more, statement by statement)",
                hint=f"nothing of it was applied; fix the file and run `{'rollback' if down else 'migrate'} "
                "--db postgres` again",
            )
        else:
            failure = statement_failed(self.name, m, script, index, message, kept=False, down=down)
        if not down:
            failed = history_row(
                m, status="failed", started=started, statements_done=0, statements=script, error=failure.message
            )
            self.record(failed)
        return failure

    def _locate(self, cur: Any, script: dialect.Script, tail: bytes) -> tuple[int, str] | None:
        """(index, server message) of the first statement that fails when the section runs again in a
        transaction that is then rolled back: batches of statements as one query, each behind a savepoint,
        and the failing batch one statement at a time; index len(script) when only `tail` (the history
        write) fails. None when nothing fails this time, or Ctrl-C stops the search."""
        from dbtools import interrupt

        cur.execute("BEGIN")
        try:
            with interrupt.cancellable(cur.connection.cancel):
                found = _first_failure(cur, script, tail)
        except interrupt.Stopped:
            found = None
        finally:
            cur.execute("ROLLBACK")
        return None if interrupt.requested() else found

    def _apply_statement_by_statement(
        self, m: Migration, statements: Sequence[Statement], start_at: int
    ) -> AppliedMigration:
        """Autocommit, one statement at a time. Before each statement run outside a transaction,
        history says "statement k started" (a run killed inside it is interrupted there, never "nothing
        done"); progress counts a statement once committed (a file may manage its own BEGIN/COMMIT)."""
        import psycopg2
        from psycopg2.extensions import TRANSACTION_STATUS_IDLE

        from dbtools.backends.postgres import kinds

        started = time.monotonic()
        committed = start_at
        opened = 0  # the statement that opened the file's own transaction, if one is open
        shows = f"history has no new row of {m.label} from this run"
        index = start_at
        try:
            with self._conn.cursor() as cur:
                for index in range(start_at, len(statements)):
                    statement = statements[index]
                    was_idle = self._conn.get_transaction_status() == TRANSACTION_STATUS_IDLE
                    if was_idle:
                        self.record(step_started(m, started=started, index=index, statements=statements))
                        shows = f"history shows {m.label} interrupted in statement {index + 1} of {len(statements)}"
                    try:
                        _execute(cur, statement)
                    except psycopg2.Error as exc:
                        if self._conn.closed:
                            raise
                        # a statement that cannot run in a transaction (CREATE INDEX CONCURRENTLY, ...) may
                        # leave part of its work when it fails (an INVALID index); any other is rolled back
                        partial = was_idle and statement.kind == kinds.NO_TRANSACTION
                        raise self._stopped(
                            m, statements, index, _server_message(exc), committed, started, partial=partial
                        ) from exc
                    idle = self._conn.get_transaction_status() == TRANSACTION_STATUS_IDLE
                    if was_idle and not idle:
                        opened = index
                    if idle and not was_idle and statement.kind == kinds.ROLLBACK:
                        # the file rolled its own transaction back: what ran in it did not stay
                        word = statement.sql.split(None, 1)[0].rstrip(";").upper()
                        message = (
                            f"the file's own {word} (line {statement.line}) rolled back statements "
                            f"{opened + 1}-{index + 1}, so nothing of them stayed"
                        )
                        raise self._stopped(m, statements, index, message, committed, started)
                    if idle:
                        committed = index + 1
                if self._conn.get_transaction_status() != TRANSACTION_STATUS_IDLE:
                    message = "the file opens a transaction it never commits"
                    raise self._stopped(m, statements, len(statements) - 1, message, committed, started)
            row = history_row(m, status="applied", started=started, statements_done=committed, statements=statements)
            self.record(row)
            return row
        except psycopg2.Error as exc:
            if not self._conn.closed:
                raise
            where = f"statement {index + 1} of {len(statements)}" if statements else "recording it"
            raise self._connection_lost(m, where, exc, shows) from exc

    def _stopped(
        self,
        m: Migration,
        statements: Sequence[Statement],
        index: int,
        message: str,
        committed: int,
        started: float,
        *,
        partial: bool = False,
    ) -> MigrationFailed:
        """Roll back an open transaction, record the failure with what stayed committed; the error to raise."""
        from psycopg2.extensions import TRANSACTION_STATUS_IDLE

        if self._conn.get_transaction_status() != TRANSACTION_STATUS_IDLE:
            self._query("ROLLBACK")
        failure = statement_failed(
            self.name, m, statements, index, message, kept=True, applied=committed, partial=partial
        )
        in_step = index + 1 if partial else 0
        self.record(step_failed(m, failure, started=started, statements=statements, done=committed, in_step=in_step))
        return failure

    def revert(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> None:
        """In one transaction with the history row's DELETE (nothing to record: atomic); a down section that
        runs outside a transaction records "rollback, down statement k started" before each statement
        (while no transaction of the file's own is open) and the failure of one, as `apply` does."""
        import psycopg2
        from psycopg2.extensions import TRANSACTION_STATUS_IDLE

        from dbtools.backends.postgres import dialect

        delete = f"DELETE FROM {self._history} WHERE version = %s"
        in_tx = self.runs_in_transaction(migration, statements, self._conn.server_version, down=True)
        started = time.monotonic()
        with self._conn.cursor() as cur:
            if in_tx and isinstance(statements, dialect.Script) and statements.sendable(self._conn.server_version):
                tail = cur.mogrify(delete, (migration.version,))
                self._run_as_one(cur, migration, statements, tail, started, down=True)
                return
            index = -1
            recorded = False  # a "down statement k started" row is in history
            try:
                if in_tx:
                    cur.execute("BEGIN")
                for index in range(start_at, len(statements)):
                    if not in_tx and self._conn.get_transaction_status() == TRANSACTION_STATUS_IDLE:
                        row = step_started(migration, started=started, index=index, statements=statements, down=True)
                        self.record(row)
                        recorded = True
                    _execute(cur, statements[index])
                index = len(statements)
                cur.execute(delete + ("; COMMIT" if in_tx else ""), (migration.version,))
            except psycopg2.Error as exc:
                if self._conn.closed:
                    at_commit = in_tx and index == len(statements)
                    where = "at COMMIT" if at_commit else f"statement {index + 1} of {len(statements)}"
                    shows = (
                        self._commit_outcome(migration, down=True)
                        if at_commit
                        else "its down section did not finish; `status --db postgres` shows what history records"
                    )
                    raise self._connection_lost(migration, where, exc, shows, doing="rolling back") from exc
                if in_tx:
                    cur.execute("ROLLBACK")
                elif self._conn.get_transaction_status() != TRANSACTION_STATUS_IDLE:
                    cur.execute("ROLLBACK")  # the file's own transaction
                if not 0 <= index < len(statements):
                    raise _history_write_failed(migration, exc) from exc
                failure = statement_failed(
                    self.name,
                    migration,
                    statements,
                    index,
                    _server_message(exc),
                    kept=not in_tx,
                    down=True,
                    partial=recorded,
                    reverting=recorded,
                )
                if recorded:
                    row = step_failed(
                        migration,
                        failure,
                        started=started,
                        statements=statements,
                        done=index,
                        in_step=index + 1,
                        down=True,
                    )
                    self.record(row)
                raise failure from exc
