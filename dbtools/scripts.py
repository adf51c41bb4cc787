"""Python migration scripts (`NNN_name.py`): their steps, loading them, and running them with progress.

A script defines `up(client)` and optionally `down(client)`; the client is what the store hands out
(a pymongo Database, a redis client). A script whose up work should resume where it stopped lists
its steps instead: `up = [create_index, backfill]`, each a module-level function taking the client.
Each step is one "statement" for history: progress is recorded after every step, so
`migrate --resume` continues at the first step not done. `down` may list steps the same way
(`down = [restore, drop_index]`): `rollback --resume` continues a rollback that stopped in one.

Files are parsed with `ast` to find the steps (no code runs for `validate` or `--dry-run`) and
executed from the text that was checksummed, as a module that never enters `sys.modules`.
"""

from __future__ import annotations

import ast
import itertools
import time
import types
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypedDict, TypeGuard, Unpack

from dbtools.backends.base import history_row, migration_failed, statement_failed, step_failed, step_started
from dbtools.errors import ConnectionFailed, DbtoolsError, LeaseLost, MigrationFailed, MigrationFileError
from dbtools.migrations import Migration
from dbtools.plan import AppliedMigration
from dbtools.sqltext import Statement

_serial = itertools.count(1)


class Recorder(Protocol):
    """The part of a backend the step runner needs."""

    @property
    def name(self) -> str: ...  # a backend's ClassVar name meets it

    def record(self, row: AppliedMigration) -> None: ...

    def forget(self, version: int) -> None: ...


def steps(migration: Migration, *, down: bool = False) -> list[Statement]:
    """The steps of the up (or down) function of a script, each with its source and line."""
    text = migration.down if down else migration.up
    if text is None:
        return []
    wanted = "down" if down else "up"
    tree = _parse(migration, text)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == wanted:
            return [_statement(text, node)]
        if isinstance(node, ast.AsyncFunctionDef) and node.name == wanted:
            raise MigrationFileError(
                f"{migration.path.name}:{node.lineno}: `{wanted}` is async; scripts run synchronously",
                hint=f"write `def {wanted}(client):`",
            )
        if _assigns(node, wanted):
            return [_listed_step(migration, text, functions, item, wanted) for item in _items(migration, node, wanted)]
    raise MigrationFileError(
        f"{migration.path.name} defines no {wanted}(client) function",
        hint=f"add `def {wanted}(client):` (or `up = [step1, step2]` listing step functions)",
    )


def _parse(migration: Migration, text: str) -> ast.Module:
    try:
        return ast.parse(text, filename=str(migration.path))
    except SyntaxError as exc:
        raise MigrationFileError(
            f"{migration.path.name}:{exc.lineno}: Python syntax error: {exc.msg}", hint="fix the script"
        ) from None


def _assigns(node: ast.stmt, name: str) -> TypeGuard[ast.Assign]:
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)


def _items(migration: Migration, node: ast.Assign, wanted: str) -> list[ast.expr]:
    if not isinstance(node.value, ast.List | ast.Tuple) or not node.value.elts:
        raise MigrationFileError(
            f"{migration.path.name}:{node.lineno}: `{wanted}` must be a function or a non-empty list of step functions",
            hint=f"write `{wanted} = [first_step, second_step]` with functions defined above it",
        )
    return list(node.value.elts)


def _listed_step(
    migration: Migration,
    text: str,
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
    item: ast.expr,
    wanted: str,
) -> Statement:
    if not isinstance(item, ast.Name) or not isinstance(functions.get(item.id), ast.FunctionDef):
        raise MigrationFileError(
            f"{migration.path.name}:{item.lineno}: every item of `{wanted}` must name a function defined in the file",
            hint="define each step with `def step(client):` at module level and list it by name",
        )
    return _statement(text, functions[item.id])  # type: ignore[arg-type]


def _statement(text: str, node: ast.FunctionDef) -> Statement:
    # The step's own source is what --resume compares: editing a step already done is refused.
    first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
    source = ast.get_source_segment(text, node) or node.name
    return Statement(source, first, node.name)


def load(migration: Migration, *, down: bool = False) -> types.ModuleType:
    """Execute the script's checksummed text as a fresh module (kept out of `sys.modules`)."""
    text = migration.down if down else migration.up
    module = types.ModuleType(f"dbtools_migration_{migration.version}_{next(_serial)}")
    module.__file__ = str(migration.path)
    code = compile(text or "", str(migration.path), "exec")
    try:
        exec(code, module.__dict__)
    except Exception as exc:
        raise migration_failed(
            migration.store,
            migration,
            describe(exc),
            stage=f"script {migration.path.name} failed while loading",
            hint="fix the module-level code of the script (nothing of it ran against the store)",
        ) from exc
    return module


def callables(
    migration: Migration, module: types.ModuleType, statements: Sequence[Statement]
) -> list[Callable[..., Any]]:
    """The functions behind `statements` (the names `steps` found), looked up in the loaded module."""
    found = []
    for statement in statements:
        fn = getattr(module, statement.head, None)
        if not callable(fn):
            raise MigrationFileError(
                f"{migration.path.name}: step {statement.head} is not a function once the script is loaded",
                hint="do not rebind step names at module level",
            )
        found.append(fn)
    return found


def describe(exc: BaseException) -> str:
    """An exception as one line: `ResponseError: unknown command 'NOPE'`."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class StepOptions(TypedDict, total=False):
    """How `run_steps` / `revert_steps` run a store's steps, beside the step itself: `start_at` (the first
    step to run), `guard` (raises before each step when the run must stop), `message` (an exception as
    the error's words), `cancel` (what Ctrl-C calls to stop the step in flight; None: it runs to its end)."""

    start_at: int
    guard: Callable[[], None]
    message: Callable[[Exception], str]
    cancel: Callable[[], None] | None


def run_steps(
    backend: Recorder,
    migration: Migration,
    statements: Sequence[Statement],
    call: Callable[[int], None],
    **options: Unpack[StepOptions],
) -> AppliedMigration:
    """Run `call(i)` for steps start_at.. of a store without transactions, with history saying where it is.

    Before step k runs, a `running` row says "step k started" (`base.step_started`): a run killed inside
    it is read as interrupted in step k, never as "nothing done". A step that raises is recorded as
    failed in step k (it may have left part of its work). `guard()` raises before each step when the
    run must stop (the migration lock's lease was lost); the backend's `record` refuses a write whose
    lease is no longer ours. A fault outside dbtools (connection lost, history not writable) becomes
    one error naming the step and what history shows. Ctrl-C (dbtools.interrupt) calls `cancel` to
    stop the step in flight (None: the step runs to its end); a step not yet begun is not run. Ctrl-C
    anywhere else in the loop (a history write, between steps) waits until that row is whole, so history
    never reads "step k started" for a step that never began."""
    row = _steps(backend, migration, statements, call, down=False, **options)
    assert row is not None  # an up run ends with its applied row
    return row


def revert_steps(
    backend: Recorder,
    migration: Migration,
    statements: Sequence[Statement],
    call: Callable[[int], None],
    **options: Unpack[StepOptions],
) -> None:
    """Run down steps start_at.. as `run_steps` runs up steps, then remove the history row: before each,
    the version's row says "rollback, down step k started" (`step_started(down=True)`), so a rollback
    killed or failing part-way is never read as "still applied" (`rollback --resume` continues it)."""
    _steps(backend, migration, statements, call, down=True, **options)


def _steps(
    backend: Recorder,
    migration: Migration,
    statements: Sequence[Statement],
    call: Callable[[int], None],
    *,
    down: bool,
    start_at: int = 0,
    guard: Callable[[], None] = lambda: None,
    message: Callable[[Exception], str] = describe,
    cancel: Callable[[], None] | None = None,
) -> AppliedMigration | None:
    """The step loop of `run_steps` (up: ends writing the applied row) and `revert_steps` (down: ends
    forgetting the version)."""
    from dbtools import interrupt

    started = time.monotonic()
    verb, unit = ("rollback", "down step") if down else ("migrate", "step")
    shows = f"history has no new row of {migration.label} from this run"  # what history says, for errors

    def write(row: AppliedMigration | None, state: str) -> AppliedMigration | None:
        nonlocal shows
        try:
            if row is None:
                backend.forget(migration.version)
            else:
                backend.record(row)
        except DbtoolsError:
            raise
        except Exception as exc:
            raise migration_failed(
                backend.name,
                migration,
                message(exc),
                stage="stopped: could not write the history row",
                hint=f"{shows}; once the server takes writes again, `status --db {backend.name}` shows it "
                f"(then `{verb} --resume` or `repair`)",
            ) from exc
        shows = f"history shows {migration.label} {state}"
        return row

    def write_failed(failure: MigrationFailed, index: int, state: str, *, in_step: int = 0) -> None:
        """Record the `failed` row of a step that stopped after `index` steps were done."""
        row = step_failed(
            migration, failure, started=started, statements=statements, done=index, in_step=in_step, down=down
        )
        write(row, state)

    step = ""
    # Ctrl-C between steps or during a history write waits until the row is whole (interrupt.held)
    with interrupt.held():
        try:
            for index in range(start_at, len(statements)):
                step = f"{index + 1} of {len(statements)}"
                guard()
                started_row = step_started(migration, started=started, index=index, statements=statements, down=down)
                write(started_row, f"{'rollback ' if down else ''}interrupted in {unit} {step}")
                try:
                    with interrupt.cancellable(cancel):
                        call(index)
                except interrupt.Stopped as exc:  # Ctrl-C came before the step began: nothing of it ran
                    failure = statement_failed(
                        backend.name, migration, statements, index, str(exc), kept=True, down=down, reverting=down
                    )
                    write_failed(failure, index, f"stopped before {unit} {step}")
                    raise failure from None
                except (ConnectionFailed, LeaseLost):
                    raise
                except Exception as exc:
                    failure = statement_failed(
                        backend.name,
                        migration,
                        statements,
                        index,
                        message(exc),
                        kept=True,
                        down=down,
                        partial=True,
                        reverting=down,
                    )
                    write_failed(failure, index, f"failed in {unit} {step}", in_step=index + 1)
                    raise failure from exc
            if down:
                return write(None, "rolled back")
            row = history_row(
                migration, status="applied", started=started, statements_done=len(statements), statements=statements
            )
            return write(row, "applied")
        except LeaseLost as exc:
            raise exc.during(migration.label, shows) from None
        except ConnectionFailed as exc:
            inside = f"; the run stopped in {migration.label}, {unit} {step}" if step else ""
            raise ConnectionFailed(
                f"{exc.message}{inside}",
                hint=f"{shows}; when the server is back, `status --db {backend.name}` shows it, "
                f"then `{verb} --resume` (it asks whether to run a step that had started again) or `repair`",
            ) from None
