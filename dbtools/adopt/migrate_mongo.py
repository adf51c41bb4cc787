"""migrate-mongo (MongoDB): the `changelog` collection, one document `{fileName, appliedAt}` (plus
`migrationBlock`, and `fileHash` with useFileHash) per applied file; a rollback deletes it. Files
`<YYYYMMDDHHMMSS>-<description>.js`, renamed `<YYYYMMDDHHMMSS>_<description>.js` (dbtools' form).

Facts from migrate-mongo's source (github.com/seppevs/migrate-mongo, commit
1f5e5f953491042ea1c9d607ba71a4b264e0b611): lib/actions/up.js (the document inserted), lib/actions/down.js
(deleted on rollback), lib/env/migrationsDir.js (files by extension, `sample-migration.js` ignored,
fileHash = SHA-256 hex of the file's bytes), lib/actions/create.js (the `<date>-<description>` name).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dbtools.adopt.scan import candidates
from dbtools.adopt.shared import Layout, OldHistory, OldMigration, Options, Placement, Placements, as_utc, problem
from dbtools.migrations import Migration

if TYPE_CHECKING:
    from dbtools.backends.base import ForeignTable

FILE = re.compile(r"^(?P<version>\d+)[-_](?P<description>.+)\.(?P<ext>js|cjs|mjs|ts)$")


class MigrateMongo:
    name = "migrate-mongo"
    layouts: Mapping[str, Layout] = {
        "mongodb": Layout("changelog", {"fileName": "str", "appliedAt": "datetime"}),
    }

    def place(self, source: Path, store: str, extensions: tuple[str, ...], options: Options) -> Placements:
        found = Placements()
        for path in candidates(source):
            if path.name.startswith("sample-migration."):
                continue
            match = FILE.match(path.name)
            if not match:
                found.skipped.append((path.name, "not a migrate-mongo migration (<date>-<description>.js)"))
                continue
            if match["ext"] != "js":
                found.problems.append(
                    problem(
                        f"{store}: {path.name} is a .{match['ext']} migration; dbtools runs .js and .py files",
                        hint=f"convert it to {path.stem}.js (CommonJS, module.exports = {{ up, down }}), then adopt "
                        "again",
                    )
                )
                continue
            target = f"{match['version']}_{match['description']}.js"
            note = "" if target == path.name else "renamed: dbtools wants `_` between the version and the description"
            found.files.append(Placement(path, target, path.name, int(match["version"]), note))
        return found

    def read(
        self, store: str, table: ForeignTable, files: Sequence[Migration], mapping: Mapping[str, int], options: Options
    ) -> OldHistory:
        on_disk = {m.version: m for m in files}
        old = OldHistory()
        for doc in table.rows:
            name = str(doc["fileName"])
            number = mapping.get(name)
            if number is None:
                match = FILE.match(name)
                number = int(match["version"]) if match else None
            if number is None:
                old.problems.append(
                    problem(
                        f"{store}: changelog lists {name!r}, which is not a migrate-mongo file name",
                        hint="remove that document from the changelog if no such migration exists, then adopt again",
                    )
                )
                continue
            old.applied[number] = OldMigration(number, name, applied_at=as_utc(doc.get("appliedAt")))
            m = on_disk.get(number)
            stored = doc.get("fileHash")
            if m is not None and stored and hashlib.sha256(m.path.read_bytes()).hexdigest() != stored:
                old.problems.append(
                    problem(
                        f"{store}: {m.path.name} does not match the fileHash migrate-mongo stored for {name} "
                        "(edited since it ran?)",
                        hint="restore the file as migrate-mongo applied it (see its git history), then adopt again",
                    )
                )
        return old


TOOL = MigrateMongo()
