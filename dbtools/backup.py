"""Backups of a store (schema, data and migration history) with a checksummed manifest, and restore.

Store-agnostic: each backend offers the optional capabilities below (looked up by attribute, like
`check`), and this module does the folder, the manifest, the checks and the messages.

    backup_to(folder: Path) -> dict      write the store's files into `folder`; return
                                         {"files": {relative path or folder: purpose}, "tool": str,
                                          "method": str, "details": {...}, optionally "sha256":
                                          {relative path: digest computed while writing}} (no secrets)
    restore_from(folder: Path, manifest: dict, *, replace: bool) -> None
                                         load them into the connected database; with `replace`,
                                         everything the target held is replaced ALL OR NOTHING (one
                                         transaction, or a scratch namespace switched in at the end)
    is_empty() -> bool                   the target holds nothing a user could lose (the lock aside)
    contents() -> dict[str, int]         optional: what it holds, by kind, for the refusal message
    rehearsal_cost(), restore_provider(manifest)   optional, for `dbtools.rehearse`

A backup is `DIR/<store>-<UTC time>-v<version>/`, written as `DIR/.<name>.partial` and renamed
when complete, so a half-written folder never looks like a good backup.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from dbtools import __version__
from dbtools.audit import Event, Reporter
from dbtools.backends.base import Backend, Backupable, Inventoried, lacks
from dbtools.errors import BackupFailed, BackupInvalid, HistoryMismatch, UsageError
from dbtools.plan import Plan
from dbtools.session import Context, migration_lock, migrations_root, open_store
from dbtools.settings import Settings

MANIFEST = "manifest.json"
FORMAT = 1  # manifest layout version: a reader refuses a newer one


# -- taking a backup ------------------------------------------------------------------------------


def backup(
    store: str,
    to_dir: str | os.PathLike[str],
    *,
    settings: Settings | None = None,
    migrations_dir: str | os.PathLike[str] | None = None,
    lock_timeout: float | None = None,
    report: Reporter | None = None,
) -> Path:
    """Back `store` up into a new folder under `to_dir`; return the folder (complete, checksummed).

    Taken under the migration lock: no migration runs while the backup reads, so the version in the
    manifest is the history inside the backup, and no backup holds half a migration."""
    with open_store(store, migrations_dir=migrations_dir, settings=settings, report=report) as ctx:
        with migration_lock(ctx, lock_timeout):  # as `migrate` takes it, writing nothing else (no history table)
            folder = take(ctx.backend, store, to_dir, version=ctx.plan().current)
        ctx.report(Event(store, "backup", "saved", detail=str(folder)))
        return folder


def before_migrating(to_dir: str | os.PathLike[str]) -> Callable[[Context, Plan], None]:
    """The `runner.migrate(before_apply=...)` hook of `migrate --backup DIR`: back the store up into `to_dir`
    under the migration's own lock when anything is pending (a failed backup applies nothing)."""

    def back_up(ctx: Context, plan: Plan) -> None:
        if plan.pending:
            folder = take(ctx.backend, ctx.store, to_dir, version=plan.current)
            ctx.report(Event(ctx.store, "backup", "saved", detail=str(folder)))

    return back_up


def take(backend: Backend, store: str, to_dir: str | os.PathLike[str], *, version: int | None) -> Path:
    """Back up through a connected `backend` whose history is at `version` (used by `migrate --backup`)."""
    if not isinstance(backend, Backupable):
        raise lacks(store, "backup", Backupable, hint="back this store up with its own tools")
    root = _writable(Path(to_dir))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3] + "Z"  # milliseconds: several backups a second
    name = f"{store}-{stamp}-v{version or 0}"
    partial = root / f".{name}.partial"
    final = root / name
    started = time.monotonic()
    try:
        partial.mkdir()
        made = backend.backup_to(partial)
        files = _describe(partial, made["files"], made.get("sha256", {}))
        manifest = {
            "format": FORMAT,
            "store": store,
            "database": _database(backend.settings),
            "version": version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "dbtools_version": __version__,
            "tool": made["tool"],
            "method": made["method"],
            "details": made.get("details", {}),
            "seconds": round(time.monotonic() - started, 3),
            "files": files,
        }
        _write_synced(partial / MANIFEST, json.dumps(manifest, indent=2).encode())
        os.rename(partial, final)
        _fsync_dir(root)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise _os_failure(exc, root) from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def _database(settings: Settings) -> str:
    return settings.database or settings.path


def _writable(root: Path) -> Path:
    """`root`, created if missing; a BackupFailed naming the cause when we cannot write there."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_failure(exc, root) from exc
    if not root.is_dir():
        raise BackupFailed(f"backup folder {root} is not a directory", hint="pass --to a directory")
    return root  # creating the partial folder in it is the write test (EACCES/EROFS map to "not writable")


def _os_failure(exc: OSError, root: Path) -> BackupFailed:
    if exc.errno == errno.ENOSPC:
        return BackupFailed(
            f"backup to {root} failed: no space left on the device; the partial backup was removed",
            hint="free space there or pass --to a folder on a bigger disk",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return BackupFailed(
            f"backup folder {root} is not writable ({exc.strerror})",
            hint="pass --to a folder you can write to, or fix its permissions",
        )
    return BackupFailed(f"backup to {root} failed: {exc.strerror or exc}", hint="see the message; nothing was kept")


def _describe(folder: Path, purposes: dict[str, str], known: dict[str, str]) -> list[dict[str, Any]]:
    """Every file under `folder` with its purpose (the longest matching entry), size and SHA-256.

    `known` holds digests a backend computed while the bytes streamed past it (no second read)."""
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    relatives = [p.relative_to(folder).as_posix() for p in paths]
    digests = _sha256_all([p for p, r in zip(paths, relatives, strict=True) if r not in known])
    described = []
    for path, relative in zip(paths, relatives, strict=True):
        matches = [k for k in purposes if relative == k or relative.startswith(k.rstrip("/") + "/")]
        purpose = purposes[max(matches, key=len)] if matches else "part of the backup"
        digest = known.get(relative) or digests[path]
        described.append({"path": relative, "purpose": purpose, "size": path.stat().st_size, "sha256": digest})
    return described


def _sha256_all(paths: list[Path]) -> dict[Path, str]:
    """SHA-256 of many files on every core (hashlib releases the GIL while it hashes)."""
    if len(paths) < 2:
        return {p: sha256(p) for p in paths}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 2)) as pool:
        return dict(zip(paths, pool.map(sha256, paths), strict=True))


def sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- reading and checking a backup ----------------------------------------------------------------


def read_manifest(folder: str | os.PathLike[str], store: str | None = None) -> dict[str, Any]:
    """The manifest of a complete backup after checking every file's size and SHA-256."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BackupInvalid(f"backup folder {folder} does not exist", hint="pass --from the folder `backup` printed")
    path = folder / MANIFEST
    if not path.is_file():
        incomplete = folder.name.endswith(".partial")
        raise BackupInvalid(
            f"{folder} has no {MANIFEST}: "
            + ("it is a backup that never completed" if incomplete else "it is not a complete dbtools backup"),
            hint="pass --from the folder `backup` printed on its last line",
        )
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupInvalid(f"{path} is not a valid manifest (not JSON: {exc})", hint=_TAKE_NEW) from None
    _check_fields(manifest, path)
    files = manifest["files"]
    if manifest.get("format", 0) > FORMAT:
        raise BackupInvalid(
            f"{path} was written by a newer dbtools ({manifest.get('dbtools_version')})",
            hint="restore it with that dbtools version or newer",
        )
    if store is not None and manifest["store"] != store:
        raise UsageError(
            f"{folder} is a backup of {manifest['store']}, not of {store}",
            hint=f"use --db {manifest['store']}, or pick a {store} backup",
        )
    for entry in files:  # sizes first: a truncated file is named without reading anything
        file = folder / entry["path"]
        if not file.is_file():
            raise BackupInvalid(f"backup {folder} is damaged: {entry['path']} is missing", hint=_TAKE_NEW)
        size = file.stat().st_size
        if size != entry["size"]:
            raise BackupInvalid(
                f"backup {folder} is damaged: {entry['path']} has {size} bytes, the manifest says {entry['size']}",
                hint=_TAKE_NEW,
            )
    digests = _sha256_all([folder / entry["path"] for entry in files])
    for entry in files:
        if digests[folder / entry["path"]] != entry["sha256"]:
            raise BackupInvalid(
                f"backup {folder} is damaged: {entry['path']} does not match its SHA-256 in the manifest",
                hint=_TAKE_NEW,
            )
    return manifest


_TAKE_NEW = "nothing was restored; restore an intact copy of the backup, or take a new one"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_fields(manifest: Any, path: Path) -> None:
    """Refuse a manifest whose fields have the wrong types (edited, or not written by dbtools):
    one BackupInvalid naming the field, instead of a TypeError somewhere in the restore."""

    def refuse(field: str, wanted: str) -> NoReturn:
        raise BackupInvalid(f"{path} is not a valid manifest: {field} must be {wanted}", hint=_TAKE_NEW)

    if not isinstance(manifest, dict):
        refuse("the document", "a JSON object")
    for key in ("store", "method"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            refuse(f"'{key}'", "a non-empty string")
    for key in ("tool", "database", "dbtools_version", "created_at"):
        if manifest.get(key) is not None and not isinstance(manifest[key], str):
            refuse(f"'{key}'", "a string")
    for key in ("format", "version"):
        value = manifest.get(key)
        if value is not None and (type(value) is not int or value < 0):
            refuse(f"'{key}'", "a whole number from 0")
    details = manifest.get("details", {})
    if not isinstance(details, dict) or not all(
        isinstance(v, str | int | float | bool) or v is None for v in details.values()
    ):
        refuse("'details'", "an object of plain values")
    files = manifest.get("files")
    if not isinstance(files, list):
        refuse("'files'", "a list")
    for n, entry in enumerate(files):
        where = f"files[{n}]"
        if not isinstance(entry, dict):
            refuse(where, "an object")
        relative = entry.get("path")
        if (
            not isinstance(relative, str)
            or not relative
            or Path(relative).is_absolute()
            or ".." in Path(relative).parts
        ):
            refuse(f"{where}.path", "a relative path inside the backup folder")
        if type(entry.get("size")) is not int or entry["size"] < 0:
            refuse(f"{where}.size", "a whole number of bytes")
        if not isinstance(entry.get("sha256"), str) or not _SHA256.fullmatch(entry["sha256"]):
            refuse(f"{where}.sha256", "64 hexadecimal digits")


def check_version(manifest: dict[str, Any], store: str, migrations_dir: str | os.PathLike[str] | None) -> None:
    """Refuse a backup taken at a migration version the migrations folder does not have."""
    from dbtools import backends
    from dbtools.migrations import discover

    version = manifest.get("version") or 0
    folder = migrations_root(migrations_dir) / store
    files = discover(folder, store, backends.load(store).extensions)
    known = max((m.version for m in files), default=0)
    if version > known:
        raise HistoryMismatch(
            f"{store}: the backup is at migration version {version}, but {folder} only goes up to {known}",
            hint="check out the release that has that migration (or point --migrations-dir at it); "
            "nothing was restored",
        )


# -- restore --------------------------------------------------------------------------------------


def restore(
    store: str,
    from_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    settings: Settings | None = None,
    migrations_dir: str | os.PathLike[str] | None = None,
    lock_timeout: float | None = None,
    report: Reporter | None = None,
) -> dict[str, Any]:
    """Restore a backup into the database `settings` point at (created if missing); return the manifest.

    Checks first (checksums, version, empty target), so a refused restore leaves the target untouched;
    holds the migration lock throughout, so a concurrent `migrate` waits for it instead of running on
    a database being replaced."""
    manifest = read_manifest(from_dir, store)
    check_version(manifest, store, migrations_dir)
    with open_store(store, migrations_dir=migrations_dir, settings=settings, create_db=True, report=report) as ctx:
        with migration_lock(ctx, lock_timeout):
            restore_into(ctx.backend, store, Path(from_dir), manifest, force=force)
    return manifest


def restore_into(backend: Backend, store: str, folder: Path, manifest: dict[str, Any], *, force: bool) -> None:
    """Load a checked backup through a connected `backend`, refusing a non-empty target unless `force`.

    With `force` the backend replaces what the target holds all or nothing (`restore_from(...,
    replace=True)`): a restore that fails leaves the target as it was."""
    if not isinstance(backend, Backupable):
        raise lacks(store, "restore", Backupable, hint="restore this store with its own tools")
    replace = not backend.is_empty()
    if replace and not force:
        where = backend.settings.display_url
        held = backend.contents() if isinstance(backend, Inventoried) else {}
        what = ", ".join(f"{n} {kind}" for kind, n in held.items())
        raise UsageError(
            f"{store}: the target {where} is not empty{f' ({what})' if what else ''}; "
            "restore refuses to mix a backup into existing data",
            hint="restore into an empty database (set the URL to a new one), or add --force to replace "
            "everything in it",
        )
    backend.restore_from(folder, manifest, replace=replace)
