"""Switch to dbtools from another tool: lay its files into migrations/<store>/ and record its history in
ours, without running a migration and without touching the other tool's table (so a team can go back).

`files()` maps the tool's files to dbtools names (bytes unchanged) and writes ADOPTED.md beside them;
`history()` reads the tool's history through the store's backend (`read_table`), checks it against the
files and dbtools' own history, and records the same state in one write under dbtools' migration lock.
Both refuse, naming every problem, rather than guess.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Unpack

from dbtools import __version__, backends
from dbtools.adopt.shared import (
    MAPPING_FILE,
    Options,
    Placement,
    Tool,
    check_layout,
    mapping_text,
    plan,
    problem,
    read_mapping,
)
from dbtools.audit import Event, Reporter, discard
from dbtools.errors import HistoryMismatch, Refusals, UsageError
from dbtools.migrations import discover
from dbtools.plan import AppliedMigration

TYPE_CHECKING = False  # typing's own constant (see dbtools.records)
if TYPE_CHECKING:
    from dbtools.session import StoreReported

# tool name -> module holding TOOL; one module per tool, imported only when asked for
TOOLS: dict[str, str] = {
    "dbmate": "dbtools.adopt.dbmate",
    "flyway": "dbtools.adopt.flyway",
    "golang-migrate": "dbtools.adopt.golang_migrate",
    "goose": "dbtools.adopt.goose",
    "migrate-mongo": "dbtools.adopt.migrate_mongo",
}


def load(tool: str, store: str) -> Tool:
    """The source tool, checked to keep a history in `store`."""
    if tool not in TOOLS:
        raise UsageError(f"unknown tool {tool!r}", hint=f"adopt reads: {', '.join(TOOLS)}")
    source: Tool = importlib.import_module(TOOLS[tool]).TOOL
    if store not in source.layouts:
        serving = [t for t in TOOLS if store in importlib.import_module(TOOLS[t]).TOOL.layouts]
        raise UsageError(
            f"{tool} keeps no history in {store}; it serves {', '.join(source.layouts)}",
            hint=f"for {store}, adopt reads: {', '.join(serving) or 'no tool'}",
        )
    return source


def history(
    store: str,
    tool: str,
    *,
    table: str | None = None,
    dry_run: bool = False,
    skip_repeatable: bool = False,
    lock_timeout: float | None = None,
    **located: Unpack[StoreReported],
) -> list[AppliedMigration]:
    """Record in dbtools' history what `tool` recorded as applied; return the rows written (or, with
    `dry_run`, that would be). Runs no migration and never writes to the other tool's table."""
    from dbtools import runner
    from dbtools.backends.base import Adoptable, applied_by, lacks

    source = load(tool, store)
    name = table or source.layouts[store].table
    options = Options(skip_repeatable=skip_repeatable)
    timeout = runner.DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    with runner.open_store(store, **located) as ctx:
        if not isinstance(ctx.backend, Adoptable):
            raise lacks(store, "adopt", Adoptable, hint=f"record {tool}'s history with `baseline --db {store}`")
        with nullcontext() if dry_run else ctx.backend.lock(timeout):
            foreign = ctx.backend.read_table(name)
            if foreign is None:
                raise HistoryMismatch(
                    f"{store}: no {tool} history in database {ctx.backend.settings.database!r}: {name} does not exist",
                    hint=f"check the database (--db {store} and its URL) and --from; pass --table NAME if {tool} "
                    "keeps its history under another name",
                )
            refused = check_layout(tool, store, source.layouts[store], foreign)
            if refused:
                raise Refusals(refused)
            mapping = read_mapping(runner.migrations_root(located.get("migrations_dir")) / store)
            old = source.read(store, foreign, ctx.files, mapping, options)
            rows = plan(
                store,
                tool,
                ctx.files,
                old,
                ctx.backend.history(),
                applied_by=applied_by(),
                tool_version=__version__,
                now=datetime.now(UTC),
            )
            labels = {version: entry.label for version, entry in old.applied.items()}
            if dry_run:
                for row in rows:
                    when = f"{row.applied_at:%Y-%m-%d %H:%M:%S} UTC" if row.applied_at else "now"
                    ctx.report(
                        Event(
                            store,
                            "dry-run",
                            "would-adopt",
                            row.version,
                            row.name,
                            detail=f"adopted from {tool} ({labels.get(row.version, 'up to its current version')}); "
                            f"applied_at {when}; checksum {row.checksum}",
                        )
                    )
            elif rows:
                ctx.backend.ensure_history()
                ctx.backend.record_many(rows)
                for row in rows:
                    ctx.report(Event(store, "adopt", "recorded", row.version, row.name, detail=f"adopted from {tool}"))
            if not rows:
                ctx.report(Event(store, "adopt", "nothing", detail=f"dbtools history already agrees with {tool}'s"))
            return rows


def files(
    store: str,
    tool: str,
    source_dir: str | os.PathLike[str],
    *,
    migrations_dir: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    skip_repeatable: bool = False,
    report: Reporter | None = None,
) -> list[Placement]:
    """Copy `tool`'s migration files from `source_dir` into migrations/<store>/ under dbtools names, and
    write ADOPTED.md (the mapping). Nothing is written unless every file is accepted and dbtools reads
    the resulting folder; files already there with the same bytes are left as they are."""
    from dbtools import runner

    say = report or discard
    source = load(tool, store)
    src = Path(source_dir)
    if not src.is_dir():
        raise UsageError(f"--files {src}: no such folder", hint=f"point --files at the folder holding {tool}'s files")
    extensions = backends.load(store).extensions
    found = source.place(src, store, extensions, Options(skip_repeatable=skip_repeatable))
    folder = runner.migrations_root(migrations_dir) / store
    problems = list(found.problems)
    for p in found.files:
        target = folder / p.target
        if target.exists() and target.read_bytes() != p.source.read_bytes():
            problems.append(
                problem(
                    f"{store}: {target} already exists with other content than {p.source.name}",
                    hint="move the existing file aside (or adopt into an empty migrations folder), then adopt again",
                )
            )
    mapping = mapping_text(tool, src, found.files, found.skipped)
    existing_mapping = folder / MAPPING_FILE
    if existing_mapping.exists() and existing_mapping.read_text(encoding="utf-8") != mapping:
        problems.append(
            problem(
                f"{store}: {existing_mapping} already exists and records another adoption",
                hint="move it aside (keep it while databases still need that adoption), then adopt again",
            )
        )
    if problems:
        raise Refusals(problems)
    if not found.files:
        raise UsageError(f"no {tool} migrations in {src}", hint=f"point --files at the folder holding {tool}'s files")
    _check_readable(store, extensions, folder, found.files)
    status = "would-lay" if dry_run else "laid"
    for p in found.files:
        say(Event(store, "adopt", status, name=f"{p.source.name} -> {p.target}", detail=p.note or "unchanged"))
    for name, reason in found.skipped:
        say(Event(store, "adopt", "left-out", name=name, detail=reason))
    if dry_run:
        return found.files
    folder.mkdir(parents=True, exist_ok=True)
    for p in found.files:
        partial = folder / f".{p.target}.partial"
        shutil.copyfile(p.source, partial)
        os.replace(partial, folder / p.target)
    existing_mapping.write_text(mapping, encoding="utf-8")
    say(Event(store, "adopt", "laid", name=MAPPING_FILE, detail=f"the mapping; next: adopt --from {tool} --db {store}"))
    return found.files


def _check_readable(store: str, extensions: tuple[str, ...], folder: Path, placed: list[Placement]) -> None:
    """Refuse unless dbtools reads the folder as it will be (existing files plus the new ones)."""
    with tempfile.TemporaryDirectory(prefix="dbtools-adopt-") as tmp:
        stage = Path(tmp) / store
        stage.mkdir()
        if folder.is_dir():
            for path in folder.iterdir():
                if path.is_file():
                    shutil.copyfile(path, stage / path.name)
        for p in placed:
            shutil.copyfile(p.source, stage / p.target)
        discover(stage, store, extensions)


__all__ = ["TOOLS", "files", "history", "load"]
