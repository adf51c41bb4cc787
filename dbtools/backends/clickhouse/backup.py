"""Backup and restore: BACKUP/RESTORE on new servers, per-table Native dumps through clickhouse-client otherwise."""

from __future__ import annotations

import json
import shutil
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dbtools.backends.clickhouse.client import ClickHouseConnection
from dbtools.backends.clickhouse.lock import LOCK_NAME
from dbtools.backends.clickhouse.sandbox import _xml_escape
from dbtools.backends.clickhouse.sql import ServerError, identifier, quote, retarget, server_message
from dbtools.errors import DbtoolsError, MissingDependency
from dbtools.settings import mask

if TYPE_CHECKING:
    from dbtools.backends.clickhouse import ClickHouseBackend


def _stream(source: Any, path: Path) -> str:
    """Copy a pipe to a file, returning the SHA-256 of what passed.

    The pipe is grown to 1 MiB (Linux) and read in 256 KiB chunks, so the producer keeps writing
    while this process hashes: hashing overlaps the dump instead of following it."""
    import fcntl
    import hashlib

    with suppress(OSError):
        fcntl.fcntl(source.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        while chunk := source.read1(1 << 18):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _raise_if_disk_full(exc: ServerError) -> None:
    """A server error that is really a full disk becomes ENOSPC, which dbtools.backup reports as such."""
    import errno

    if "No space left" in exc.message or "errno: 28" in exc.message:
        raise OSError(errno.ENOSPC, "No space left on device") from None


class ClickHouseBackup(ClickHouseConnection):
    """backup_to, restore_from, is_empty."""

    def _user_tables(self) -> list[tuple[str, str]]:
        """(name, engine) of this database's tables (history included, lock and inner tables not)."""
        return [
            (name, engine)
            for name, engine in self._query(
                f"SELECT name, engine FROM system.tables WHERE database = {quote(self.database)} ORDER BY name"
            )
            if name != LOCK_NAME and not name.startswith(".inner")
        ]

    @property
    def _server_version(self) -> str:
        assert self._client is not None, "connect() first"
        return self._client.version

    def backup_to(self, folder: Path) -> dict[str, Any]:
        """The server's BACKUP DATABASE where it can write to `folder` (chdb, a local current server),
        else SHOW CREATE DDL plus each table's data in Native format; the manifest says which."""
        details: dict[str, Any] = {"database": self.database, "server_version": self._server_version}
        details["engine"] = "chdb" if self.embedded else "server"
        reason = "the server has no BACKUP statement (before 22.x)"
        if self._major >= 23 and (self.embedded or self.settings.host in ("127.0.0.1", "localhost", "::1")):
            try:
                db = identifier(self.database)  # the lock this backup holds is not part of it
                self._backup_statement(f"BACKUP DATABASE {db} EXCEPT TABLES {db}.{LOCK_NAME}", "TO", folder)
                return {
                    "files": {"clickhouse": "ClickHouse BACKUP of the database (schema, data, migration_history)"},
                    "tool": f"ClickHouse {self._server_version} BACKUP",
                    "method": "BACKUP DATABASE",
                    "details": details,
                }
            except ServerError as exc:
                shutil.rmtree(folder / "clickhouse", ignore_errors=True)
                _raise_if_disk_full(exc)
                reason = f"BACKUP refused: {exc.message[:200]}"
        details["why_not_backup"] = reason
        return {**self._dump_native(folder), "details": details}

    @property
    def _major(self) -> int:
        assert self._client is not None
        return int(self._server_version.split(".")[0])

    def _backup_statement(self, head: str, direction: str, folder: Path, tail: str = "") -> None:
        """BACKUP/RESTORE to File(folder/clickhouse) (chdb sessions start with backups.allowed_path set;
        a server needs it in its config, else this fails and the caller falls back)."""
        path = quote(str(folder / "clickhouse"))
        self._ddl(f"{head} {direction} File({path}) {tail}".rstrip())

    def _dump_native(self, folder: Path) -> dict[str, Any]:
        """schema.json (SHOW CREATE per table, tables before views) + data/NNN.native per table."""
        (folder / "data").mkdir()
        tables = []
        digests: dict[str, str] = {}
        db = identifier(self.database)
        for index, (name, engine) in enumerate(self._user_tables()):
            create = self._query(f"SHOW CREATE TABLE {db}.{identifier(name)}")[0][0]
            entry = {"name": name, "engine": engine, "create": create, "data": None}
            if engine not in ("View", "MaterializedView", "Dictionary"):
                entry["data"] = f"data/{index:04d}.native"
                digest = self._export(name, folder / entry["data"])
                if digest:
                    digests[entry["data"]] = digest
            tables.append(entry)
        schema = {"database": self.database, "tables": tables}
        (folder / "schema.json").write_text(json.dumps(schema, indent=1))
        tool = "chdb" if self.embedded else "clickhouse-client"
        return {
            "files": {
                "schema.json": "SHOW CREATE of every table and view, in restore order",
                "data": "table rows, Native format",
            },
            "tool": f"{tool} {self._server_version}",
            "method": "SHOW CREATE + SELECT * FORMAT Native",
            "sha256": digests,
        }

    def _export(self, table: str, path: Path) -> str | None:
        """Write the table's rows to `path` in Native format; the SHA-256 when it was computed on the way."""
        source = f"{identifier(self.database)}.{identifier(table)}"
        if self.embedded:
            try:
                self._ddl(f"INSERT INTO FUNCTION file({quote(str(path))}, 'Native') SELECT * FROM {source}")
            except ServerError as exc:
                _raise_if_disk_full(exc)
                raise DbtoolsError(f"{self._where}: exporting {table} failed: {exc.message[:300]}") from exc
            if not path.exists():  # an empty table writes no file
                path.write_bytes(b"")
            return None
        return self._client_tool(f"SELECT * FROM {source} FORMAT Native", into=path)

    def _client_tool(self, query: str, *, into: Path | None = None, stdin: Any = None) -> str | None:
        """clickhouse-client with the password in a private config file (never on the command line).

        With `into`, its output streams through here to that file and is hashed on the way (the
        SHA-256 is returned), so hashing overlaps the client's work instead of re-reading the file."""
        import errno
        import subprocess
        import tempfile

        binary = shutil.which("clickhouse-client")
        if binary is None:
            raise MissingDependency(
                "clickhouse: backup and restore of this server need clickhouse-client",
                hint="apt-get install clickhouse-client (the same release as the server)",
            )
        s = self.settings
        with tempfile.TemporaryDirectory(prefix="dbtools-ch-") as private:
            config = Path(private) / "client.xml"
            config.write_text(
                f"<config><host>{_xml_escape(s.host)}</host><port>{s.port}</port><user>{_xml_escape(s.user)}</user>"
                f"<password>{_xml_escape(s.password)}</password></config>"
            )
            argv = [binary, f"--config-file={config}", "--query", query]
            with subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=stdin, stderr=subprocess.PIPE) as client:
                digest = _stream(client.stdout, into) if into is not None else None
                _, errors = client.communicate()
        if client.returncode:
            text = mask(errors.decode(errors="replace"), s).strip() or f"exit code {client.returncode}"
            if "No space left" in text:
                raise OSError(errno.ENOSPC, "No space left on device")
            raise DbtoolsError(f"{self._where}: clickhouse-client failed: {server_message(text)[:300]}")
        return digest

    def restore_from(self, folder: Path, manifest: dict[str, Any], *, replace: bool = False) -> None:
        """Restore into a scratch database, then switch it in: all or nothing (restore.py)."""
        from dbtools.backends.clickhouse import restore as clickhouse_restore

        clickhouse_restore.restore(cast("ClickHouseBackend", self), folder, manifest, replace=replace)

    def _retarget(self, create: str, source: str) -> str:
        """A SHOW CREATE statement of database `source` rewritten for this database."""
        return retarget(create, source, self.database)

    def _import(self, table: str, path: Path, *, database: str | None = None) -> None:
        """Load a Native-format file into `table` of `database` (this one by default)."""
        if path.stat().st_size == 0:
            return
        target = f"{identifier(database or self.database)}.{identifier(table)}"
        if self.embedded:
            self._ddl(f"INSERT INTO {target} FROM INFILE {quote(str(path))} FORMAT Native")
        else:
            with open(path, "rb") as rows:
                self._client_tool(f"INSERT INTO {target} FORMAT Native", stdin=rows)

    @staticmethod
    def restore_provider(manifest: dict[str, Any]) -> str | None:
        """The sandbox that can restore this backup: chdb for a BACKUP or a current server's DDL,
        the local server binary for an old server's DDL (it may not run on a current engine's)."""
        details = manifest.get("details", {})
        if manifest["method"] == "BACKUP DATABASE" or details.get("engine") == "chdb":
            return "embedded"
        head = str(details.get("server_version", "0")).split(".")[0]
        major = int(head) if head.isascii() and head.isdigit() else 0
        return "local" if major < 23 else None

    def is_empty(self) -> bool:
        """No table or view in the database."""
        return not self._user_tables()
