"""Backup and restore: mongodump/mongorestore when installed, else the driver format of driver_backup.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbtools.backends.mongodb.client import MongoClient, _mapped
from dbtools.backends.mongodb.history import HISTORY
from dbtools.backends.mongodb.lock import LOCKS
from dbtools.settings import mask


class MongoBackup(MongoClient):
    """backup_to, restore_from, is_empty, contents."""

    def backup_to(self, folder: Path) -> dict[str, Any]:
        """mongodump (`--archive --gzip`) when it is installed, else dbtools' own driver format; the lock
        collection left out either way. The manifest's `tool` says which."""
        from dbtools.backends.mongodb import driver_backup as mb

        tool = mb.dump_tool("mongodump")
        if tool is None:
            return mb.backup(self._db, folder, skip=(LOCKS,))
        archive = "--archive=" + str(folder / "mongodb.archive.gz")
        excluded = [f"--excludeCollection={LOCKS}"]
        excluded += [f"--excludeCollectionsWithPrefix={prefix}" for prefix in mb.TRANSIENT]
        mb.run_tool([tool, archive, "--gzip", *excluded], *self._tool_access())
        return {
            "files": {"mongodb.archive.gz": "mongodump archive (gzip): collections, indexes, migrations history"},
            "tool": mb.DUMP_TOOL,
            "method": "mongodump --archive --gzip",
            "details": {"database": self.settings.database},
        }

    def restore_from(self, folder: Path, manifest: dict[str, Any], *, replace: bool = False) -> None:
        """Load a backup all or nothing: into scratch collections first, then switched in (replacing what
        the target held when `replace`). A mongodump backup goes through mongorestore, renamed into the
        scratch collections; dbtools' own format through the driver."""
        from dbtools.backends.mongodb import driver_backup as mb

        if manifest.get("tool") != mb.DUMP_TOOL:
            mb.restore(self._db, folder, replace=replace, skip=(LOCKS,))
            return
        tool = mb.need_tool("mongorestore")
        token = uuid.uuid4().hex[:8]
        prefix = f"{mb.SCRATCH}{token}."
        source = manifest.get("details", {}).get("database") or self.settings.database
        argv = [tool, "--archive=" + str(folder / "mongodb.archive.gz"), "--gzip", "--bypassDocumentValidation"]
        argv += [f"--nsFrom={source}.*", f"--nsTo={self.settings.database}.{prefix}*"]
        try:
            mb.run_tool(argv, *self._tool_access())
        except BaseException:
            mb._drop_prefixed(self._db, prefix)
            raise
        loaded = [
            {"name": info["name"][len(prefix) :], "type": info.get("type", "collection"), "options": info["options"]}
            for info in self._db.list_collections(filter={"name": {"$regex": f"^{prefix}"}})
        ]
        mb.switch(self._db, loaded, prefix, token, replace=replace, skip=(LOCKS,))

    def _tool_access(self) -> tuple[str, Callable[[str], str]]:
        return self.uri(credentials=True), lambda text: mask(text, self.settings)

    @_mapped
    def is_empty(self) -> bool:
        """Nothing a user could lose: no collection but the lock and an empty history."""
        return not self.contents()

    @_mapped
    def contents(self) -> dict[str, int]:
        """What the database holds, for restore's refusal: collections, views and documents."""
        from dbtools.backends.mongodb import driver_backup as mb

        infos = mb.user_collections(self._db, (LOCKS,))
        views = sum(1 for i in infos if i.get("type") == "view")
        tables = [i["name"] for i in infos if i.get("type", "collection") != "view"]
        documents = sum(self._db[name].estimated_document_count() for name in tables)
        if tables == [HISTORY] and not documents and not views:
            return {}  # what `--create-db` makes: an empty history
        held = {"collections": len(tables), "views": views, "documents": documents}
        return {kind: n for kind, n in held.items() if n}
