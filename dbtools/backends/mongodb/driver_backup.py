"""MongoDB backup and restore through the driver: no mongodump needed, all or nothing on restore.

A backup folder holds `mongodb/catalog.json` (every collection and view in creation order, with its
`create` options - validator, validation level/action, capped size, collation, time series, view
pipeline - and its index specs, as canonical Extended JSON so every BSON type survives) and one
`mongodb/NNNN.bson` per collection: its documents as raw BSON, one after another, as the server sent
them (the layout mongodump uses for its .bson files). The migration lock collection is left out; the
history collection is a collection like the others.

Restore loads into scratch collections of the same database (`dbtools_restore.<token>.<name>`: no
privileges on another database needed, and a rename inside one database is a metadata change), then
switches: the target's own collections move aside (`dbtools_replaced.<token>.<name>`), the scratch ones
take their names, and only then is the old data dropped. A failure before or during the switch puts
every collection back where it was, so the target is either the backup or what it held before.

A server that loses collection options on `renameCollection` (SecantusDB drops the validator, the
capped size, every option) is found out by a probe rename before the switch, and there each move is a
copy instead: the collection created under its new name with its options and indexes, the documents
copied, the old one dropped. The switch checks what the server does rather than trusting it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from dbtools.errors import DbtoolsError, MissingDependency, RestoreFailed

CATALOG = "mongodb/catalog.json"
DRIVER_TOOL = "pymongo"
DUMP_TOOL = "mongodump"
SCRATCH = "dbtools_restore."  # prefixes of our own transient collections: never user data
ASIDE = "dbtools_replaced."
TRANSIENT = (SCRATCH, ASIDE)
BATCH_BYTES = 8 << 20  # documents per insert_many: well under the 48 MB message limit
BATCH_DOCS = 5000


def user_collections(db: Any, skip: Sequence[str]) -> list[dict[str, Any]]:
    """listCollections minus system collections, `skip` (the lock) and our own transient ones."""
    return [
        info
        for info in db.list_collections()
        if not info["name"].startswith(("system.", *TRANSIENT)) and info["name"] not in skip
    ]


# -- backup ------------------------------------------------------------------------------------------


def backup(db: Any, folder: Path, *, skip: Sequence[str]) -> dict[str, Any]:
    """Write the catalog and every collection's documents under `folder`; return backup_to's answer."""
    from bson import json_util
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument

    raw = CodecOptions(document_class=RawBSONDocument)
    (folder / "mongodb").mkdir()
    infos = user_collections(db, skip)
    collections = sorted((i for i in infos if i.get("type", "collection") != "view"), key=lambda i: i["name"])
    views = _view_order([i for i in infos if i.get("type") == "view"])
    catalog, digests, documents = [], {}, 0
    for n, info in enumerate(collections, start=1):
        relative = f"mongodb/{n:04d}.bson"
        specs = list(db[info["name"]].list_indexes())
        cursor = db.get_collection(info["name"], codec_options=raw).find(batch_size=1000)
        if any(spec["name"] == "_id_" for spec in specs):
            cursor = cursor.hint([("_id", 1)])  # an index walk sees a document once, even one moved mid-scan
        digest = hashlib.sha256()
        count = 0
        with open(folder / relative, "wb") as out:
            for doc in cursor:
                out.write(doc.raw)
                digest.update(doc.raw)
                count += 1
        digests[relative] = digest.hexdigest()
        documents += count
        indexes = [_index_spec(spec) for spec in specs if spec["name"] != "_id_"]
        catalog.append(
            {
                "name": info["name"],
                "type": info.get("type", "collection"),
                "options": dict(info.get("options", {})),
                "indexes": indexes,
                "file": relative,
                "documents": count,
            }
        )
    for info in views:
        catalog.append({"name": info["name"], "type": "view", "options": dict(info["options"]), "indexes": []})
    text = json_util.dumps({"collections": catalog}, json_options=json_util.CANONICAL_JSON_OPTIONS, indent=1)
    (folder / CATALOG).write_text(text + "\n")
    return {
        "files": {
            CATALOG: "collections and views: create options (validators, capped, collation), index specs",
            "mongodb/": "documents of one collection as raw BSON (the catalog names which)",
        },
        "sha256": digests,
        "tool": DRIVER_TOOL,
        "method": "driver: listCollections options and index specs as Extended JSON, documents as BSON",
        "details": {
            "database": db.name,
            "collections": len(collections),
            "views": len(views),
            "documents": documents,
        },
    }


def _index_spec(spec: Any) -> dict[str, Any]:
    """An index as createIndexes takes it: everything listIndexes says but the version and namespace."""
    return {k: v for k, v in dict(spec).items() if k not in ("v", "ns")}


def _view_order(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Views in an order that creates each after the view it reads from (views may stack)."""
    names = {v["name"] for v in views}
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []
    pending = sorted(views, key=lambda v: v["name"])
    while pending:
        ready = [v for v in pending if v["options"].get("viewOn") not in names - done]
        if not ready:  # a cycle cannot be created by a server; keep the rest as listed
            ready = pending
        for view in ready:
            ordered.append(view)
            done.add(view["name"])
        pending = [v for v in pending if v["name"] not in done]
    return ordered


# -- restore -----------------------------------------------------------------------------------------


def read_catalog(folder: Path) -> list[dict[str, Any]]:
    from bson import json_util

    try:
        collections: list[dict[str, Any]] = json_util.loads((folder / CATALOG).read_text())["collections"]
        return collections
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RestoreFailed(
            f"mongodb: {folder / CATALOG} is not a dbtools MongoDB catalog ({exc})",
            hint="nothing was restored; restore an intact backup or take a new one",
        ) from None


def restore(db: Any, folder: Path, *, replace: bool, skip: Sequence[str]) -> None:
    """Load the backup into scratch collections, then switch them in (see the module docstring)."""
    import pymongo.errors

    catalog = read_catalog(folder)
    token = uuid.uuid4().hex[:8]
    prefix = f"{SCRATCH}{token}."
    name = ""
    try:
        for entry in catalog:
            if entry["type"] != "view":
                name = entry["name"]
                _load_collection(db, folder, entry, prefix + name)
    except (pymongo.errors.PyMongoError, OSError, DbtoolsError) as exc:
        _drop_prefixed(db, prefix)
        raise _refused(exc, f"loading it into scratch collections ({name})") from exc
    switch(db, catalog, prefix, token, replace=replace, skip=skip)


def _load_collection(db: Any, folder: Path, entry: dict[str, Any], name: str) -> None:
    """Create `name` with the entry's options, insert its documents, then build its indexes."""
    db.command("create", name, **entry["options"])
    _insert(db[name], _documents(folder / entry["file"]))
    if entry["indexes"]:
        db.command("createIndexes", name, indexes=entry["indexes"])


def _documents(path: Path) -> Iterator[Any]:
    from bson import decode_file_iter
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument

    with open(path, "rb") as handle:
        yield from decode_file_iter(handle, CodecOptions(document_class=RawBSONDocument))


def switch(
    db: Any, catalog: list[dict[str, Any]], prefix: str, token: str, *, replace: bool, skip: Sequence[str]
) -> None:
    """Move the target's collections aside, the scratch ones in, create the views; undo all on failure.

    Whatever the target holds is replaced: with `replace` the caller agreed to that; without it the
    target holds nothing to lose (at most the empty history `--create-db` made)."""
    import pymongo.errors

    aside = f"{ASIDE}{token}."
    try:
        move = _rename if rename_keeps_options(db, prefix) else _copy
        current = user_collections(db, skip)
    except pymongo.errors.PyMongoError as exc:
        _drop_prefixed(db, prefix)
        raise _refused(exc, "switching the restored collections in") from exc
    old_views = [i for i in current if i.get("type") == "view"]
    old_collections = [i for i in current if i.get("type", "collection") != "view"]
    moved_aside: list[dict[str, Any]] = []
    moved_in: list[str] = []
    created_views: list[str] = []
    try:
        for view in old_views:
            db.drop_collection(view["name"])
        for info in old_collections:
            move(db, info["name"], aside + info["name"], info.get("options", {}))
            moved_aside.append(info)
        for entry in catalog:
            if entry["type"] != "view":
                moved_in.append(entry["name"])  # before the move: a half-done copy is dropped on undo
                move(db, prefix + entry["name"], entry["name"], entry["options"])
        for entry in catalog:
            if entry["type"] == "view":
                db.command("create", entry["name"], **entry["options"])
                created_views.append(entry["name"])
    except (pymongo.errors.PyMongoError, DbtoolsError) as exc:
        stuck = _undo(db, move, aside, moved_aside, old_views, created_views + moved_in)
        _drop_prefixed(db, prefix)
        if stuck:
            where = ", ".join(f"{aside}{name}" for name in stuck)
            raise RestoreFailed(
                f"mongodb: restore failed while switching the restored collections in ({_short(exc)}), and putting "
                f"the old collections back failed too: they are kept, untouched, as {where}",
                hint=f"rename each back once the server works again (db.getCollection('{aside}NAME')"
                ".renameCollection('NAME')), or restore this backup again",
            ) from exc
        raise _refused(exc, "switching the restored collections in") from exc
    _drop_prefixed(db, aside)


def _undo(
    db: Any, move: Any, aside: str, moved_aside: list[dict[str, Any]], old_views: list[dict[str, Any]], new: list[str]
) -> list[str]:
    """Put the target back as it was after a failed switch; return the names still set aside."""
    import pymongo.errors

    for name in new:
        with suppress(pymongo.errors.PyMongoError):
            db.drop_collection(name)
    stuck = []
    for info in moved_aside:
        try:
            move(db, aside + info["name"], info["name"], info.get("options", {}))
        except (pymongo.errors.PyMongoError, DbtoolsError):
            with suppress(pymongo.errors.PyMongoError):
                db.drop_collection(info["name"])  # a half-done copy back; the set-aside one stays whole
            stuck.append(info["name"])
    for view in old_views:
        with suppress(pymongo.errors.PyMongoError):
            db.command("create", view["name"], **view["options"])
    return stuck


def rename_keeps_options(db: Any, prefix: str) -> bool:
    """Whether this server's renameCollection keeps a collection's options (mongod does; SecantusDB
    0.7 drops them): one probe rename among our scratch collections."""
    probe, renamed = f"{prefix}probe", f"{prefix}probe.renamed"
    options = {"capped": True, "size": 4096, "validator": {"probe": {"$exists": True}}}
    db.command("create", probe, **options)
    try:
        _rename(db, probe, renamed, options)
        found: dict[str, Any] = next(iter(db.list_collections(filter={"name": renamed})), {})
        kept: dict[str, Any] = found.get("options", {})
        return all(kept.get(k) == v for k, v in options.items())
    finally:
        db.drop_collection(probe)
        db.drop_collection(renamed)


def _rename(db: Any, source: str, target: str, options: dict[str, Any]) -> None:
    """Rename inside the database (a metadata change on mongod)."""
    db.client.admin.command("renameCollection", f"{db.name}.{source}", to=f"{db.name}.{target}")


def _copy(db: Any, source: str, target: str, options: dict[str, Any]) -> None:
    """Where a rename would lose options: create `target` with them, copy the documents in their
    natural order (a capped collection keeps its order), build the indexes, drop `source`."""
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument

    indexes = [_index_spec(spec) for spec in db[source].list_indexes() if spec["name"] != "_id_"]
    db.command("create", target, **options)
    raw = db.get_collection(source, codec_options=CodecOptions(document_class=RawBSONDocument))
    _insert(db[target], raw.find(batch_size=1000))
    if indexes:
        db.command("createIndexes", target, indexes=indexes)
    db.drop_collection(source)


def _insert(collection: Any, docs: Any) -> None:
    """insert_many in batches of at most BATCH_DOCS documents / BATCH_BYTES, validators bypassed (a
    restore brings back what was there, also documents older than their collection's validator)."""
    batch: list[Any] = []
    size = 0
    for doc in docs:
        batch.append(doc)
        size += len(doc.raw)
        if size >= BATCH_BYTES or len(batch) >= BATCH_DOCS:
            collection.insert_many(batch, ordered=True, bypass_document_validation=True)
            batch, size = [], 0
    if batch:
        collection.insert_many(batch, ordered=True, bypass_document_validation=True)


def _drop_prefixed(db: Any, prefix: str) -> None:
    import pymongo.errors

    for name in db.list_collection_names():
        if name.startswith(prefix):
            with suppress(pymongo.errors.PyMongoError):
                db.drop_collection(name)


def _short(exc: Exception) -> str:
    """The server's own words: a bulk insert's first write error, else the message without pymongo's dump."""
    errors = (getattr(exc, "details", None) or {}).get("writeErrors") if hasattr(exc, "details") else None
    text = errors[0].get("errmsg", str(exc)) if errors else str(exc)
    return " ".join(text.split(", full error:")[0].split())[:300]


def _refused(exc: Exception, during: str) -> RestoreFailed:
    return RestoreFailed(
        f"mongodb: restore failed while {during}: {_short(exc)}",
        hint="the target was left as it was; see the message (a server refusing a collection option or "
        "index of the backup needs a server at least as new as the source)",
    )


# -- mongodump / mongorestore, when installed -----------------------------------------------------------


def dump_tool(name: str) -> str | None:
    return shutil.which(name)


def run_tool(argv: list[str], uri: str, mask: Any) -> None:
    """Run mongodump / mongorestore; the URI with the password goes in a private --config file."""
    import errno
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dbtools-mongo-") as private:
        config = Path(private) / "config.yaml"
        config.write_text(f"uri: {json.dumps(uri)}\n")
        done = subprocess.run([*argv, f"--config={config}"], capture_output=True, text=True)
    if done.returncode:
        text = mask(done.stderr).strip() or f"exit code {done.returncode}"
        if "no space left" in text.lower():
            raise OSError(errno.ENOSPC, "No space left on device")
        last = [ln for ln in text.splitlines() if ln.strip()][-1]
        raise DbtoolsError(f"mongodb: {Path(argv[0]).name} failed: {last[:300]}")


def need_tool(name: str) -> str:
    path = dump_tool(name)
    if path is None:
        raise MissingDependency(
            f"mongodb: this backup was taken with mongodump and restoring it needs {name}, which is not installed",
            hint="install MongoDB Database Tools (package mongodb-database-tools), or restore a backup taken "
            "where mongodump was absent (dbtools' own format)",
        )
    return path
