"""The verbs that run migrations and read the plan - migrate, rollback, status, validate - for any store.

Each verb: read the files, connect, take the lock (writers), read history, build the plan, act,
report events. Nothing here knows which store it talks to. baseline, repair, unlock, check and new
live in `upkeep.py` (still importable from here).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from dbtools.audit import Event
from dbtools.errors import (
    DbtoolsError,
    HistoryMismatch,
    Interrupted,
    MigrationFailed,
    MigrationFileError,
    UsageError,
    down_steps_ran,
)
from dbtools.migrations import Migration
from dbtools.plan import DOWN_MARK, AppliedMigration, Plan
from dbtools.session import DEFAULT_LOCK_TIMEOUT as DEFAULT_LOCK_TIMEOUT
from dbtools.session import Context as Context
from dbtools.session import configured_stores as configured_stores
from dbtools.session import migration_lock
from dbtools.session import migrations_root as migrations_root
from dbtools.session import open_store as open_store
from dbtools.session import settings_for as settings_for
from dbtools.settings import Settings

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any, Unpack

    from dbtools.session import StoreAt, StoreReported


@contextmanager
def _locked(ctx: Context, lock_timeout: float) -> Iterator[None]:
    """The migration lock, with the history table made sure of under it (what every writing verb needs)."""
    with migration_lock(ctx, lock_timeout):
        ctx.backend.ensure_history()
        yield


STEP_CHOICES = ("rerun", "skip")  # --rerun-step / --skip-step: what --resume does with a step that had started


def running_now(holder: str | None) -> bool:
    """True when the lock holder `holder` (as `lock_holder()` tells it) looks like a live run: the lock
    is held, not reported stale, and not left by a process of this host that no longer exists."""
    from dbtools.leases import holder_gone

    return holder is not None and "stale" not in holder and not holder_gone(holder)


def unfinished_state(row: AppliedMigration, holder: str | None) -> str:
    """`running` (its run holds the lock now), `interrupted` (its run died) or `failed`."""
    if row.status != "running":
        return row.status
    return "running" if running_now(holder) else "interrupted"


def _where_stopped(row: AppliedMigration, unit: str = "statement") -> str:
    """`in statement 2 of 3` / `after statement 2 of 3` (`in down step 2 of 3` for a rollback's row): where
    an unfinished migration stopped."""
    unit = "down step" if row.reverting else unit
    of = f" of {row.statements_total}" if row.statements_total else ""
    if row.stopped_in_step:
        return f"in {unit} {row.stopped_in_step}{of}"
    return f"after {unit} {row.statements_done}{of}"


def check(
    plan: Plan,
    *,
    allow_out_of_order: bool = False,
    resume: bool = False,
    step_choice: str | None = None,
    holder: str | None = None,
) -> None:
    """Raise HistoryMismatch when the plan must not be applied as it stands.

    `holder` is the lock holder when the caller does not hold the lock itself (validate): a `running`
    row whose run is alive is reported as running now, not as interrupted."""
    store = plan.store
    if plan.changed:
        raise HistoryMismatch(
            f"{store}: applied migration(s) {plan.labels(plan.changed)} changed on disk since they were applied",
            hint="restore the files as they were (write a new migration for new changes), "
            f"or accept the edits with `repair --db {store}`",
        )
    if plan.missing:
        raise HistoryMismatch(
            f"{store}: applied migration(s) {plan.labels(plan.missing)} are missing from the migrations folder",
            hint="restore the files (check the branch you are on), "
            f"or drop them from history with `repair --db {store}`",
        )
    stuck = [row for row in plan.failed if row.left_changes]
    for row in stuck[:1]:
        label = plan.label(row.version)
        state = unfinished_state(row, holder)
        if state == "running":
            doing = "rolled back" if row.reverting else "applied"
            raise HistoryMismatch(
                f"{store}: migration {label} is being {doing} now ({_where_stopped(row)}) by {holder}",
                hint=f"wait for that run to finish, then check again; `status --db {store}` shows its progress",
            )
        if resume and not row.reverting:
            break  # _resume_point checks the statements done, then wants a choice for one that had started
        raise _stopped_part_way(store, label, row, state)
    if plan.out_of_order and not allow_out_of_order:
        raise HistoryMismatch(
            f"{store}: pending migration(s) {plan.labels(plan.out_of_order)} are numbered below the "
            f"current version {plan.current}",
            hint="renumber them above the current version, or apply them anyway with --allow-out-of-order",
        )


def _stopped_part_way(store: str, label: str, row: AppliedMigration, state: str) -> HistoryMismatch:
    """The refusal for a migration whose run (or rollback: neither applied nor rolled back) stopped part-way."""
    from dbtools.errors import partial_step_hint

    what = "was interrupted" if state == "interrupted" else "failed"
    reason = row.error or "the run stopped (killed, or its connection or lease was lost)"
    if row.stopped_in_step:
        hint = partial_step_hint(store, row.stopped_in_step, row.statements_done, down=row.reverting)
    elif row.reverting:
        hint = (
            f"finish it with `rollback --steps 1 --resume --db {store}`, "
            f"or finish its down section by hand and run `repair --db {store}`"
        )
    else:
        hint = (
            f"fix the file and continue with `migrate --resume --db {store}`, "
            f"or undo its statements by hand and run `repair --db {store}`"
        )
    head = f"the rollback of {label}" if row.reverting else f"migration {label}"
    return HistoryMismatch(f"{store}: {head} {what} {_where_stopped(row)}: {reason}", hint=hint)


def migrate(
    store: str,
    *,
    target: int | None = None,
    dry_run: bool = False,
    allow_out_of_order: bool = False,
    resume: bool = False,
    step_choice: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    create_db: bool = False,
    before_apply: Callable[[Context, Plan], None] | None = None,
    **located: Unpack[StoreReported],
) -> list[AppliedMigration]:
    """Apply pending migrations (up to `target`) in order; return the rows written.

    `before_apply(ctx, plan)` runs under the lock once every pending file is read, before the first one
    applies (`migrate --backup` backs the store up there: nothing lands in between); if it raises,
    nothing is applied. `step_choice` ("rerun" or "skip", implying `resume`) says what `--resume` does
    with a statement that had started and not finished (it may have partly run)."""
    if step_choice is not None:
        if step_choice not in STEP_CHOICES:
            raise UsageError(f"step choice {step_choice!r} is not one of {STEP_CHOICES}", hint="rerun or skip")
        resume = True
    with open_store(store, create_db=create_db, **located) as ctx:
        if dry_run:
            plan = ctx.plan(target=target)
            check(plan, allow_out_of_order=allow_out_of_order, resume=resume, step_choice=step_choice)
            for m in plan.pending:
                statements = _statements(m, ctx.backend.split(m))
                ctx.report(
                    Event(store, "dry-run", "would-apply", m.version, m.name, detail=f"{len(statements)} statement(s)")
                )
            return []
        # nothing to do and nothing amiss: the read says so without taking the lock or running the history
        # DDL (two round trips fewer); anything else is planned again under the lock, from a fresh read. Only
        # while nobody holds the lock: a holder (a restore, a migration) may hold the history table itself,
        # and the read would then block without the one 'waiting' line the locked path prints
        read = ctx.plan(target=target) if ctx.backend.lock_holder() is None else None
        if read and read.applied and not (read.pending or read.failed or read.changed or read.missing):
            ctx.report(Event(store, "migrate", "up-to-date", detail=f"at version {read.current}"))
            return []
        with _locked(ctx, lock_timeout):
            plan = ctx.plan(target=target)
            check(plan, allow_out_of_order=allow_out_of_order, resume=resume, step_choice=step_choice)
            # every pending file is read and split before the first one runs: a file no server can
            # run (a psql meta-command, an unterminated string, ...) stops the run before it starts
            split = [(m, _statements(m, ctx.backend.split(m))) for m in plan.pending]
            if before_apply is not None:
                before_apply(ctx, plan)
            unfinished = {row.version: row for row in plan.failed}
            done: list[AppliedMigration] = []
            for m, statements in split:
                if _ctrl_c():
                    raise Interrupted(f"{store}: stopped before {m.label}; {_kept(plan, done)}")
                row_before = unfinished.get(m.version)
                start_at = _resume_point(store, m, statements, row_before, step_choice) if resume else 0
                started = time.monotonic()
                try:
                    row = ctx.backend.apply(m, statements, start_at=start_at)
                except MigrationFailed as exc:
                    if _ctrl_c():
                        raise _interrupted(ctx, "migrate", m, exc, started) from None
                    ctx.report(
                        Event(
                            store,
                            "migrate",
                            "failed",
                            m.version,
                            m.name,
                            duration_ms=int((time.monotonic() - started) * 1000),
                            error=exc.message,
                        )
                    )
                    raise
                ctx.report(
                    Event(
                        store,
                        "migrate",
                        "applied",
                        m.version,
                        m.name,
                        duration_ms=row.execution_ms,
                        detail=_applied_detail(m, statements, start_at, row_before if resume else None, step_choice),
                    )
                )
                done.append(row)
            if not plan.pending:
                ctx.report(Event(store, "migrate", "up-to-date", detail=f"at version {plan.current}"))
            return done


def _ctrl_c() -> bool:
    """Whether Ctrl-C stopped a statement (dbtools.interrupt is loaded only once one has run)."""
    interrupt = sys.modules.get("dbtools.interrupt")
    return interrupt is not None and interrupt.requested()


def _kept(plan: Plan, done: Sequence[AppliedMigration]) -> str:
    if not done:
        return "nothing of this run was applied"
    return f"{plan.labels([row.version for row in done])} applied before it"


def _interrupted(ctx: Context, action: str, m: Migration, exc: MigrationFailed, started: float) -> Interrupted:
    """The one line for a migration Ctrl-C stopped (history already says what stayed); audited, not printed."""
    done = exc.statements_done
    down = action == "rollback"
    if down and (step := exc.in_step):  # a down section run without a transaction: history says where it stopped
        kept = (
            f"{down_steps_ran(done)} and down step {step} may have partly run (no transaction); history shows the "
            f"rollback unfinished: `rollback --steps 1 --resume --rerun-step` or `--skip-step --db {ctx.store}` "
            "continues there"
        )
    elif down and exc.reverting:  # stopped between down steps (or before the first): none of the next one ran
        kept = (
            f"{down_steps_ran(done)}; history shows the rollback unfinished: "
            f"`rollback --steps 1 --resume --db {ctx.store}` continues at down step {done + 1}"
        )
    elif down:
        kept = "history still lists it as applied"
    elif step := exc.in_step:
        before = f"statements 1-{done} stayed applied and " if done else ""
        kept = (
            f"{before}statement {step} may have partly run (no transaction): `migrate --resume --rerun-step` "
            f"or `--skip-step --db {ctx.store}` continues there"
        )
    elif done:
        kept = f"statements 1-{done} stayed applied; `migrate --resume --db {ctx.store}` continues from there"
    else:
        kept = "nothing of it was applied"
    where = exc.where
    error = f"stopped at {where}; {kept}"
    ctx.report.persist(
        Event(
            ctx.store,
            action,
            "interrupted",
            m.version,
            m.name,
            duration_ms=int((time.monotonic() - started) * 1000),
            error=error,
        )
    )
    return Interrupted(f"{ctx.store}: {m.label} {error}")


def _applied_detail(
    m: Migration, statements: Sequence[Any], start_at: int, row: AppliedMigration | None, step_choice: str | None
) -> str:
    step = row.stopped_in_step if row is not None and row.left_changes else 0
    if step and step_choice == "skip":
        return f"statement {step} counted as done (--skip-step); resumed at statement {start_at + 1}"
    if step:
        return f"resumed at statement {start_at + 1}, run again from its start (--rerun-step)"
    if start_at:
        return f"resumed at statement {start_at + 1}"
    if not statements:
        return f"warning: {m.path.name} has no statements; recorded as applied, nothing ran"
    return ""


def _resumed_down(row: AppliedMigration, start_at: int, step_choice: str | None) -> str:
    """The detail of a reverted event: where a resumed rollback went on."""
    if not row.reverting:
        return ""
    if row.stopped_in_step and step_choice == "skip":
        return f"down step {row.stopped_in_step} counted as done (--skip-step); resumed at down step {start_at + 1}"
    return f"resumed at down step {start_at + 1}"


def _statements(m: Migration, statements: Sequence[Any], *, down: bool = False) -> Sequence[Any]:
    """A section's statements ready to run: ENVSUB regions filled from the environment (an unset
    variable refuses the run before it starts); an up section without statements is refused unless
    golang-migrate's form allows it (then it is recorded as applied with a warning)."""
    from dbtools import envsub

    if not statements and not down and m.kind == "sql" and not m.empty_ok:
        raise MigrationFileError(
            f"{m.store}: {m.path.name} has no statements in its up section",
            hint="write the migration, or delete the file if it was created by mistake",
        )
    return envsub.resolve(m, statements, os.environ, down=down)


def _resume_point(
    store: str, m: Migration, statements: Sequence[Any], row: AppliedMigration | None, step_choice: str | None = None
) -> int:
    """Where `--resume` continues: after the statements done, if they are unchanged; a statement that
    had started is run again (`rerun`) or counted as done (`skip`), as the user chose."""
    if row is None or not row.left_changes:
        return 0
    from dbtools.sqltext import progress_checksum  # only a resumed run checks what ran: not a no-op's path

    unit, verb = ("down step", "rollback --steps 1") if row.reverting else ("statement", "migrate")
    if row.statements_done > len(statements) or progress_checksum(
        statements, row.statements_done
    ) != row.progress_checksum.removeprefix(DOWN_MARK):
        raise HistoryMismatch(
            f"{store}: cannot resume {m.label}: {unit}s 1-{row.statements_done}, which already ran, were edited since",
            hint=f"edit only the {unit}s from the failed one on; or undo by hand and run `repair`",
        )
    if row.stopped_in_step and step_choice not in STEP_CHOICES:
        raise HistoryMismatch(
            f"{store}: migration {m.label} stopped inside {unit} {row.stopped_in_step}, which ran without "
            "a transaction and may have partly run; --resume must be told what to do with it",
            hint=f"check what it did, then `{verb} --resume --rerun-step --db {store}` runs it again from "
            f"its start, or `{verb} --resume --skip-step --db {store}` counts it as done; "
            f"or undo by hand and run `repair --db {store}`",
        )
    if row.stopped_in_step and step_choice == "skip":
        return min(row.statements_done + 1, len(statements))
    return row.statements_done


def rollback(
    store: str,
    *,
    steps: int | None = None,
    to: int | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    dry_run: bool = False,
    resume: bool = False,
    step_choice: str | None = None,
    **located: Unpack[StoreReported],
) -> list[int]:
    """Revert the last `steps` applied migrations, or every one above version `to`; newest first.

    A rollback that stopped part-way in a down section run outside a transaction left its version's
    row unfinished (`AppliedMigration.reverting`); `resume` (with `step_choice` for a down step that
    had started) finishes that version first, counted as one of `steps`; without it, nothing runs."""
    if (steps is None) == (to is None):
        raise UsageError(
            "rollback needs exactly one of --steps N or --to VERSION", hint="e.g. `rollback --steps 1 --db postgres`"
        )
    if steps is not None and steps < 1:
        raise UsageError("--steps must be 1 or more", hint="e.g. `rollback --steps 1`")
    if step_choice is not None:
        resume = True
    with open_store(store, **located) as ctx:
        with _locked(ctx, lock_timeout):
            plan = ctx.plan()
            stuck = [row for row in plan.failed if row.left_changes]
            for row in stuck:
                if not row.reverting:
                    raise HistoryMismatch(
                        f"{store}: migration {plan.label(row.version)} stopped half-way; "
                        "roll back only from a clean state",
                        hint=f"finish it with `migrate --resume --db {store}` or clean it up and run "
                        f"`repair --db {store}`",
                    )
                if not resume:
                    raise _stopped_part_way(store, plan.label(row.version), row, unfinished_state(row, None))
            newest_first = [*stuck, *sorted(plan.applied, key=lambda r: r.version, reverse=True)]
            floor = -1 if to is None else to  # argparse asks for exactly one of --steps and --to
            chosen = newest_first[:steps] if steps is not None else [r for r in newest_first if r.version > floor]
            files = {m.version: m for m in plan.files}
            blocked = [r.version for r in chosen if r.version not in files or files[r.version].down is None]
            if blocked:
                raise HistoryMismatch(
                    f"{store}: migration(s) {plan.labels(blocked)} have no down section (or no file); "
                    "nothing was rolled back",
                    hint="add a `-- migrate:down` section (or a .down file) to each, then retry",
                )
            for row in chosen:
                m = files[row.version]
                statements = _statements(m, ctx.backend.split(m, down=True), down=True)
                if dry_run:
                    ctx.report(
                        Event(
                            store,
                            "dry-run",
                            "would-revert",
                            m.version,
                            m.name,
                            detail=f"{len(statements)} statement(s)",
                        )
                    )
                    continue
                if _ctrl_c():
                    raise Interrupted(f"{store}: stopped before rolling back {m.label}")
                start_at = _resume_point(store, m, statements, row, step_choice) if row.reverting else 0
                started = time.monotonic()
                try:
                    ctx.backend.revert(m, statements, start_at=start_at)
                except MigrationFailed as exc:
                    if _ctrl_c():
                        raise _interrupted(ctx, "rollback", m, exc, started) from None
                    ctx.report(Event(store, "rollback", "failed", m.version, m.name, error=exc.message))
                    raise
                ctx.report(
                    Event(
                        store,
                        "rollback",
                        "reverted",
                        m.version,
                        m.name,
                        duration_ms=int((time.monotonic() - started) * 1000),
                        detail=_resumed_down(row, start_at, step_choice),
                    )
                )
            if not chosen:
                ctx.report(Event(store, "rollback", "nothing", detail="no applied migration to roll back"))
            return [row.version for row in chosen]


def status(store: str, *, listing: bool = True, **located: Unpack[StoreAt]) -> dict[str, Any]:
    """The plan as a dict (`status --json` form) plus where it was read, every migration's name and
    state, the unfinished rows and the lock holder. Without `listing`, "migrations" (a row per
    version) is left out and "labels" names only the versions a person's summary mentions."""
    settings = located.get("settings") or settings_for(store)
    with open_store(store, migrations_dir=located.get("migrations_dir"), settings=settings) as ctx:
        plan = ctx.plan()
        result: dict[str, Any] = {"where": where(settings), **plan.as_dict()}
        holder = ctx.backend.lock_holder()
        result["unfinished"] = [
            {
                "version": r.version,
                "name": r.name,
                "label": plan.label(r.version),
                "status": r.status,
                "state": unfinished_state(r, holder),  # running (now) | interrupted | failed
                "statements_done": r.statements_done,
                "statements_total": r.statements_total,
                "in_step": r.stopped_in_step,  # the statement it stopped inside (may have partly run); 0: none
                "error": r.error,
                "direction": "down" if r.reverting else "up",  # down: a rollback stopped in its down section
            }
            for r in plan.failed
        ]
        result["lock"] = holder
        result["adopted"] = {str(row.version): row.adopted_from for row in plan.applied if row.adopted_from}
        if listing:
            result["migrations"] = plan.migrations()
        else:
            mentioned = {plan.current, *result["pending"], *result["changed"], *result["missing"], *result["failed"]}
            mentioned |= {int(v) for v in result["adopted"]}
            result["labels"] = {v: plan.label(v) for v in mentioned if v is not None}
        return result


def where(settings: Settings) -> str:
    """The server and database a store's settings point at, password never shown: `127.0.0.1:5432/trading`."""
    if settings.path:
        return settings.display_url
    return f"{settings.address}/{settings.database}"


def validate(store: str, *, allow_out_of_order: bool = False, **located: Unpack[StoreAt]) -> Plan:
    """Check files and history agree; raise HistoryMismatch (or a file error) when they do not."""
    with open_store(store, **located) as ctx:
        plan = ctx.plan()
        holder = ctx.backend.lock_holder() if any(r.status == "running" for r in plan.failed) else None
        check(plan, allow_out_of_order=allow_out_of_order, holder=holder)
        failed = [row for row in plan.failed if not row.left_changes]
        if failed:
            row = failed[0]
            raise HistoryMismatch(
                f"{store}: migration {row.version:03d}_{row.name} failed: {row.error}",
                hint=f"fix the file and run `migrate --db {store}`",
            )
        for m in plan.files:  # every file must split into statements (parse rules)
            statements = ctx.backend.split(m)
            if not statements and m.kind == "sql" and not m.empty_ok:
                _statements(m, statements)  # refuses
        return plan


__all__ = [
    "DbtoolsError",
    "check",
    "configured_stores",
    "migrate",
    "open_store",
    "rollback",
    "settings_for",
    "status",
    "validate",
]


_UPKEEP = ("baseline", "repair", "unlock", "check_layout", "new")


def __getattr__(name: str) -> Any:
    """The upkeep verbs (`upkeep.py`), still importable from here; loaded on first use, off migrate's path."""
    if name in _UPKEEP:
        from dbtools import upkeep

        return getattr(upkeep, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
