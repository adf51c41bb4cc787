"""Migration tests for one store on a throwaway server: from scratch, on top of the previous release, round trip.

`python -m dbtools verify --db postgres [--previous REF]` (`nox -s migration_tests` runs its alias
`python -m dbtools.verify`):

1. from scratch, one migration at a time (`migrate --to N` for every N), each must apply cleanly;
2. the previous release's migrations (the latest `v*` git tag, or `--previous REF`), then the current
   ones on top: the schema must equal the from-scratch schema;
3. when every migration has a down section: roll back one at a time, each rollback must restore the
   schema that was there before that migration, then re-apply everything and compare again.

Schemas are compared with each backend's `snapshot()` (catalog queries, no noise). A failure names the
migration and shows a small diff. A library: it returns reports and outcomes; `dbtools.cli` prints them
and chooses the exit code.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbtools import backends, runner
from dbtools.audit import audit_suspended
from dbtools.backends.base import Isolating
from dbtools.errors import DbtoolsError, MissingDependency, UsageError
from dbtools.migrations import Migration, discover
from dbtools.settings import Settings

SKIPPED = None  # Check.ok for a check that could not run here
MAX_DIFF_LINES = 20


@dataclass
class Check:
    """One verdict: ok True/False, or None when the check was skipped (detail says why)."""

    name: str
    ok: bool | None
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    """Every check run for one store, printable for people."""

    store: str
    where: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def render(self) -> str:
        lines = [f"{self.store}: migration tests on {self.where}" if self.where else f"{self.store}: migration tests"]
        for c in self.checks:
            mark = {True: "ok  ", False: "FAIL", None: "skip"}[c.ok]
            took = f" ({c.seconds:.1f} s)" if c.seconds >= 0.05 else ""
            first, *rest = (c.detail or "").splitlines() or [""]
            lines.append(f"  {mark}  {c.name}{': ' + first if first else ''}{took}")
            lines += [f"          {line}" for line in rest]
        failed = sum(c.ok is False for c in self.checks)
        verdict = "passed" if not failed else f"FAILED ({failed} of {len(self.checks)} checks)"
        lines.append(f"{self.store}: {verdict}")
        return "\n".join(lines)


# -- schema snapshots and their differences -----------------------------------------------------


def snapshot(store: str, settings: Settings) -> Any:
    """The store's schema (backend.snapshot()) as plain JSON values, so tuples and lists compare equal."""
    backend = backends.load(store)(settings)
    backend.connect(create_database=True)
    try:
        return json.loads(json.dumps(backend.snapshot(), default=str, sort_keys=True))
    finally:
        backend.close()


def diff(expected: Any, actual: Any, *, labels: tuple[str, str] = ("expected", "actual"), path: str = "") -> list[str]:
    """Readable differences between two snapshots: one line per key or row present on one side only."""
    here = path or "schema"
    if isinstance(expected, dict) and isinstance(actual, dict):
        lines: list[str] = []
        for key in sorted(set(expected) | set(actual), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                lines.append(f"{sub}: only in {labels[0]}: {_short(expected[key])}")
            elif key not in expected:
                lines.append(f"{sub}: only in {labels[1]}: {_short(actual[key])}")
            else:
                lines += diff(expected[key], actual[key], labels=labels, path=sub)
        return lines
    if isinstance(expected, list) and isinstance(actual, list):
        if expected and len(expected) == len(actual) and all(isinstance(x, dict) for x in expected + actual):
            pairs = enumerate(zip(expected, actual, strict=True))
            return [line for i, (a, b) in pairs for line in diff(a, b, labels=labels, path=f"{here}[{i}]")]
        keyed_a = [json.dumps(x, sort_keys=True) for x in expected]
        keyed_b = [json.dumps(x, sort_keys=True) for x in actual]
        only_a = [x for x, k in zip(expected, keyed_a, strict=True) if k not in set(keyed_b)]
        only_b = [x for x, k in zip(actual, keyed_b, strict=True) if k not in set(keyed_a)]
        lines = [f"{here}: only in {labels[0]}: {_short(x)}" for x in only_a]
        lines += [f"{here}: only in {labels[1]}: {_short(x)}" for x in only_b]
        if not lines and keyed_a != keyed_b:
            lines.append(f"{here}: same entries in a different order")
        return lines
    if expected != actual:
        return [f"{here}: {labels[0]} {_short(expected)}, {labels[1]} {_short(actual)}"]
    return []


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _diff_text(expected: Any, actual: Any, labels: tuple[str, str]) -> str:
    lines = diff(expected, actual, labels=labels)
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... and {len(lines) - MAX_DIFF_LINES} more difference(s)"]
    return "\n".join(lines)


# -- the previous release -----------------------------------------------------------------------


def _git(repo: Path, *args: str, binary: bool = False) -> Any:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=not binary)
    if done.returncode:
        err = done.stderr if isinstance(done.stderr, str) else done.stderr.decode(errors="replace")
        raise UsageError(f"git {' '.join(args[:2])} failed: {err.strip()}", hint="check the ref and the repository")
    return done.stdout


def repository(root: Path) -> Path:
    """The top folder of the git work tree holding the migrations folder `root`."""
    return Path(_git(root if root.is_dir() else Path.cwd(), "rev-parse", "--show-toplevel").strip())


def check_ref(repo: Path, ref: str) -> None:
    """Raise a one-line UsageError unless `ref` names a commit in `repo`."""
    try:
        _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except UsageError:
        raise UsageError(
            f"--previous {ref}: no such tag, branch or commit in {repo}", hint="see `git tag --list 'v*'`"
        ) from None


def latest_release(repo: Path) -> str | None:
    """The newest `v*` tag (by version order), None when there is none."""
    tags = _git(repo, "tag", "--list", "v*", "--sort=-v:refname").split()
    return tags[0] if tags else None


def export_migrations(repo: Path, ref: str, folder: Path, into: Path) -> bool:
    """Write `folder` (a path inside `repo`) as it was at `ref` under `into`; False if it did not exist then."""
    relative = folder.resolve().relative_to(repo.resolve()).as_posix()
    listed = _git(repo, "ls-tree", "-d", "--name-only", ref, "--", relative)
    if not listed.strip():
        return False
    archive = _git(repo, "archive", "--format=tar", ref, "--", relative, binary=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return True


# -- the checks ---------------------------------------------------------------------------------


def _fresh(store: str, base: Settings, label: str) -> Settings:
    """A database on the sandbox server nobody else uses (a backend may define `isolated`)."""
    token = f"verify_{label}_{uuid.uuid4().hex[:8]}"
    cls = backends.load(store)
    return cls.isolated(base, token) if isinstance(cls, Isolating) else base.with_database(token)


def migration_tests(
    store: str,
    settings: Settings,
    *,
    migrations_dir: str | Path | None = None,
    previous: str | None = None,
) -> Report:
    """Run the three migration checks for `store` against the server `settings` points at."""
    with audit_suspended():
        return _migration_tests(store, settings, runner.migrations_root(migrations_dir), previous)


def _migration_tests(store: str, settings: Settings, root: Path, previous: str | None) -> Report:
    report = Report(store, settings.display_url)
    files = discover(root / store, store, backends.load(store).extensions)
    if not files:
        report.checks.append(Check("from scratch", SKIPPED, f"no migrations in {root / store}"))
        return report
    scratch = _fresh(store, settings, "scratch")
    # one connection, one lock and the files read once for the whole walk: each step applies or rolls back
    # one migration on the state the step before left, then takes one snapshot
    backend = backends.load(store)(scratch)
    backend.connect(create_database=True)
    try:
        with backend.lock(runner.DEFAULT_LOCK_TIMEOUT):
            backend.ensure_history()
            snaps = _from_scratch(backend, files, report)
            if snaps is None:
                for name in ("previous release + current", "rollback and re-apply"):
                    report.checks.append(Check(name, SKIPPED, "the from-scratch run failed"))
                return report
            expected = json.loads(snaps[files[-1].version])
            report.checks.append(_on_previous_release(store, root, settings, files, expected, previous))
            report.checks += _round_trip(backend, files, snaps)
    finally:
        backend.close()
    return report


def _snapshot(backend: Any) -> str:
    """The schema as canonical JSON text: two schemas are equal when their texts are, and a text per step
    is what the walk keeps (parsed again only to show a difference)."""
    return json.dumps(backend.snapshot(), default=str, sort_keys=True)


def _apply(backend: Any, m: Migration) -> None:
    backend.apply(m, backend.split(m))


def _from_scratch(backend: Any, files: list[Migration], report: Report) -> dict[int, str] | None:
    """Apply one migration at a time; return the snapshot after each version (0: empty), None on failure.

    The snapshots between are only the states the rollback check compares with: when a migration has no
    down section there is no rollback check, and only the last one is taken."""
    started = time.monotonic()
    round_trip = all(m.down is not None for m in files)
    snaps = {0: _snapshot(backend)} if round_trip else {}
    for m in files:
        try:
            _apply(backend, m)
        except DbtoolsError as exc:
            report.checks.append(Check("from scratch", False, f"{m.label} failed: {exc.message}", _since(started)))
            return None
        if round_trip or m is files[-1]:
            snaps[m.version] = _snapshot(backend)
    detail = f"{len(files)} migration(s) applied one at a time ({files[0].label} .. {files[-1].label})"
    report.checks.append(Check("from scratch", True, detail, _since(started)))
    return snaps


def _hint_on_release(store: str, root: Path, db: Settings, ref: str) -> str:
    """What to do when the current migrations do not apply on top of release `ref` (on database `db`),
    said for the files: every database built from that release would meet the same. (The runner's own
    hints speak of repairing one database, which is not what a failed check asks for.)"""
    try:
        with runner.open_store(store, migrations_dir=root, settings=db) as ctx:
            plan = ctx.plan()
    except DbtoolsError:
        plan = None
    if plan is not None and plan.changed:
        return (
            f"{plan.labels(plan.changed)}, released in {ref}, was edited since, and every database built from "
            f"{ref} would refuse it: restore the file as released and put the change in a new migration"
        )
    if plan is not None and plan.missing:
        return f"{plan.labels(plan.missing)}, released in {ref}, was deleted or renamed since: restore it as released"
    if plan is not None and plan.out_of_order:
        return (
            f"{plan.labels(plan.out_of_order)} is numbered below a migration released in {ref}: "
            "renumber it above the release's newest"
        )
    return "fix the migration named above, then run the migration tests again"


def _on_previous_release(
    store: str, root: Path, server: Settings, files: list[Migration], expected: Any, previous: str | None
) -> Check:
    """The previous release's files first, then the current ones: same schema as from scratch."""
    name = "previous release + current"
    started = time.monotonic()
    try:
        repo = repository(root)
        ref = previous or latest_release(repo)
    except UsageError as exc:
        return Check(name, SKIPPED, f"not in a git repository ({exc.message})")
    if ref is None:
        return Check(name, SKIPPED, "no v* git tag yet; tag a release or pass --previous REF")
    name = f"previous release {ref} + current"
    with tempfile.TemporaryDirectory(prefix="dbtools-verify-") as tmp:
        try:
            found = export_migrations(repo, ref, root / store, Path(tmp))
        except UsageError as exc:
            if previous:
                return Check(name, False, exc.message)
            return Check(name, SKIPPED, exc.message)
        if not found:
            return Check(name, SKIPPED, f"{ref} has no {store} migrations: nothing to layer on")
        old_root = Path(tmp) / root.resolve().relative_to(repo.resolve())
        old = discover(old_root / store, store, backends.load(store).extensions)
        db = _fresh(store, server, "previous")
        try:
            runner.migrate(store, migrations_dir=old_root, settings=db, create_db=True)
        except DbtoolsError as exc:
            return Check(name, False, f"the {ref} migrations themselves fail: {exc.message}", _since(started))
        released = {m.version for m in old}
        newer = [m.label for m in files if m.version not in released]
        try:
            runner.migrate(store, migrations_dir=root, settings=db)
        except DbtoolsError as exc:
            detail = f"applying the current migrations on top of {ref} failed: {exc.message}"
            hint = _hint_on_release(store, root, db, ref)
            return Check(name, False, f"{detail}\nhint: {hint}", _since(started))
        got = snapshot(store, db)
    on_top = ", ".join(newer) or "none"
    if got != expected:
        detail = f"schema differs from the from-scratch one (applied on top: {on_top})\n" + _diff_text(
            expected, got, ("from scratch", f"{ref} + current")
        )
        return Check(name, False, detail, _since(started))
    return Check(name, True, f"{len(old)} released + {len(newer)} new ({on_top}): same schema", _since(started))


def _round_trip(backend: Any, files: list[Migration], snaps: dict[int, str]) -> list[Check]:
    """Roll back one at a time (each must restore the schema before it), then re-apply everything."""
    no_down = [m.label for m in files if m.down is None]
    if no_down:
        return [Check("rollback and re-apply", SKIPPED, f"no down section in {', '.join(no_down)}")]
    started = time.monotonic()
    not_reapplied = Check("re-apply after rollback", SKIPPED, "the rollback failed")
    before = [0] + [m.version for m in files[:-1]]
    for m, version_before in reversed(list(zip(files, before, strict=True))):
        try:
            backend.revert(m, backend.split(m, down=True))
        except DbtoolsError as exc:
            return [Check("rollback", False, f"{m.label}: {exc.message}", _since(started)), not_reapplied]
        got = _snapshot(backend)
        if got != snaps[version_before]:
            detail = f"the down section of {m.label} does not restore the schema before it\n" + _diff_text(
                json.loads(snaps[version_before]), json.loads(got), ("before " + m.label, "after its rollback")
            )
            return [Check("rollback", False, detail, _since(started)), not_reapplied]
    checks = [Check("rollback", True, f"{len(files)} migration(s) rolled back one at a time", _since(started))]
    started = time.monotonic()
    try:
        for m in files:
            _apply(backend, m)
    except DbtoolsError as exc:
        checks.append(Check("re-apply after rollback", False, exc.message, _since(started)))
        return checks
    got = _snapshot(backend)
    if got != snaps[files[-1].version]:
        detail = "schema differs from the first from-scratch run\n" + _diff_text(
            json.loads(snaps[files[-1].version]), json.loads(got), ("first run", "after rollback + re-apply")
        )
        checks.append(Check("re-apply after rollback", False, detail, _since(started)))
    else:
        checks.append(Check("re-apply after rollback", True, "same schema as the first run", _since(started)))
    return checks


def _since(started: float) -> float:
    return time.monotonic() - started


# -- sandboxes and the command line -------------------------------------------------------------


@contextmanager
def sandbox_for(store: str, provider: str | None = None) -> Iterator[tuple[Settings, str]]:
    """A started sandbox for `store` and the provider that started it (with what server it is, when its
    name alone would mislead: `secantusdb (SecantusDB 0.7.0b3, a MongoDB-compatible ..., not mongod)`)."""
    from dbtools import sandbox

    box = sandbox.start(store, provider)
    with box as settings:
        yield settings, box.describe()


@dataclass
class Outcome:
    """How verifying one store ended: `kind` ok / failed / skipped and why; the report when checks ran,
    the error when a DbtoolsError stopped them."""

    store: str
    kind: str
    why: str
    report: Report | None = None
    error: DbtoolsError | None = None


def verify_store(
    store: str,
    *,
    migrations_dir: str | Path | None = None,
    previous: str | None = None,
    provider: str | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> Outcome:
    """Start a sandbox for `store` and run its migration tests there. `on_ready` hears, once the sandbox
    answers, which one it is and how long it took to start."""
    try:
        backends.load(store)
    except UsageError as exc:  # registered, not written yet
        return Outcome(store, "skipped", exc.message)
    folder = runner.migrations_root(migrations_dir) / store
    if not folder.is_dir():
        return Outcome(store, "skipped", f"no {folder} folder, nothing to verify")
    started = time.monotonic()
    try:
        with sandbox_for(store, provider) as (settings, kind):
            if on_ready is not None:
                on_ready(f"{store}: {kind} sandbox ready in {time.monotonic() - started:.1f} s")
            report = migration_tests(store, settings, migrations_dir=migrations_dir, previous=previous)
            report.where = f"{kind} sandbox {settings.display_url}"
    except MissingDependency as exc:
        return Outcome(store, "skipped", f"{exc.message}" + (f" (hint: {exc.hint})" if exc.hint else ""))
    except DbtoolsError as exc:
        return Outcome(store, "failed", exc.message, error=exc)
    except Exception as exc:  # a backend bug (say, a snapshot query the server refuses): report, don't crash
        first = (str(exc).strip().splitlines() or [""])[0]
        why = f"{type(exc).__name__}: {first}"
        return Outcome(store, "failed", why, error=DbtoolsError(f"{store}: the migration tests stopped on {why}"))
    return Outcome(store, "ok", "passed", report) if report.ok else Outcome(store, "failed", "see the report", report)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m dbtools.verify ARGS`: the same as `python -m dbtools verify ARGS` (what nox runs)."""
    from dbtools import cli

    return cli.main(["verify", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
