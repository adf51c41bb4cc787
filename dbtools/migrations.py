"""Migration files on disk: discovery, naming rules, up/down sections, directives and checksums.

Pure: reads files, talks to no store. Forms understood, so other tools' histories read as-is:

* `NNN_name.sql` - up only, or up and down in one file after `-- migrate:up` / `-- migrate:down`
  markers (dbmate) or `-- +goose Up` / `-- +goose Down` markers (goose);
* `NNN_name.up.sql` + `NNN_name.down.sql` (golang-migrate);
* `NNN_name.py` / `NNN_name.js` scripts defining `up` and optionally `down` (MongoDB, Redis).

Directives are comments: `-- dbtools:no-transaction` (`# dbtools:...` in scripts), dbmate's
`transaction:false` on the up marker and goose's `-- +goose NO TRANSACTION` mean the same.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from dbtools.errors import MigrationFileError

SCRIPT_KINDS = ("py", "js")
INT64_MAX = 2**63 - 1  # the widest version every store's history column holds (bigint, Int64, int64)
KNOWN_DIRECTIVES = ("no-transaction", "transaction", "lint-ignore")

_NAME = re.compile(r"^(?P<version>\d+)_(?P<name>.+?)(?:\.(?P<direction>up|down))?\.(?P<ext>[A-Za-z0-9]+)$")
# Marker lines are found by one search over the whole text, not line by line in Python: the pattern
# starts with the literal `--`, which the regex engine scans for at C speed however long the file;
# `_markers` then checks that only whitespace precedes it on its line. `[^\S\n]` is whitespace that
# does not end the line.
_MARKER = re.compile(
    r"--[^\S\n]*(?:(?P<up>migrate:up|\+goose[^\S\n]+up)|migrate:down|\+goose[^\S\n]+down)\b(?P<opts>[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)
_DIRECTIVE = re.compile(r"^\s*(?:--|#|//)\s*dbtools:(?P<name>[a-z-]+)(?P<arg>.*)$", re.MULTILINE)
_GOOSE_NO_TX = re.compile(r"^--\s*\+goose\s+no\s+transaction\s*$", re.IGNORECASE | re.MULTILINE)
_GOOSE = re.compile(r"\+goose", re.IGNORECASE)  # cheap first look (a literal `+` to scan for) before _GOOSE_NO_TX
_SCRIPT_DOWN = {
    "py": re.compile(r"^(?:async\s+)?def\s+down\s*\(", re.MULTILINE),
    "js": re.compile(r"\bdown\s*(?::|\(|=)", re.MULTILINE),
}


@dataclass(frozen=True)
class Migration:
    """One migration as found on disk. `up`/`down` hold text; the store's backend splits it."""

    store: str
    version: int
    name: str
    path: Path
    up: str
    down: str | None
    checksum: str
    transactional: bool | None = None  # None: the backend decides from the statements
    up_line: int = 1  # line of the file where the up text starts
    down_path: Path | None = None
    down_line: int = 1
    directives: tuple[tuple[str, str], ...] = ()

    @property
    def kind(self) -> str:
        """The file extension without the dot: sql, py, js."""
        return self.path.suffix[1:]

    @property
    def label(self) -> str:
        """`version_name` as used in messages."""
        return f"{self.version:03d}_{self.name}"


def normalise(text: str) -> str:
    """Text as checksummed and run: byte-order mark dropped, line endings made LF."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def checksum(text: str) -> str:
    """SHA-256 (hex) of normalised text."""
    return hashlib.sha256(normalise(text).encode()).hexdigest()


def discover(folder: Path, store: str, extensions: tuple[str, ...], *, max_version: int = INT64_MAX) -> list[Migration]:
    """Every migration in `folder`, sorted by version; raises on any malformed or clashing file.

    `max_version` is the largest version the store's history can hold (its backend says)."""
    if not folder.is_dir():
        raise MigrationFileError(
            f"{store}: migrations folder {folder} does not exist",
            hint=f"create it with `python -m dbtools new --db {store} initial_schema`, or pass --migrations-dir",
        )
    ups: dict[int, _Entry] = {}
    downs: dict[int, _Entry] = {}
    with os.scandir(folder) as listing:  # DirEntry knows a plain file without a stat per entry
        entries = sorted((entry.name, entry) for entry in listing if not entry.name.startswith((".", "_")))
    children = {path.name: path for path in folder.iterdir()}  # a third of the cost of `folder / name` each
    for name, entry in entries:
        match = _classify(folder, name, store, extensions, entry.is_file(follow_symlinks=False))
        if match is None:
            continue
        version, direction = int(match["version"]), match["direction"]
        if version > max_version:
            raise MigrationFileError(
                f"{store}: {name}: version {version} is larger than {store}'s history can hold ({max_version})",
                hint="number it with fewer digits (e.g. a UTC timestamp YYYYMMDDHHMMSS fits)",
            )
        target = downs if direction == "down" else ups
        if version in target:
            raise MigrationFileError(
                f"{store}: {target[version].path.name} and {name} both have version {version}",
                hint="give each migration its own number (run `dbtools new` to get the next one)",
            )
        target[version] = _Entry(children.get(name) or folder / name, entry.path, match["name"])
    for version, found in downs.items():
        if version not in ups:
            name = found.path.name
            raise MigrationFileError(
                f"{store}: {name} is a down migration without an up file",
                hint=f"add {name.replace('.down.', '.up.')} or delete {name}",
            )
    return [_read(store, version, ups[version], downs.get(version)) for version in sorted(ups)]


class _Entry(NamedTuple):
    """A migration file found by `discover`: its path, the same as a string, the name part of its file name."""

    path: Path
    fspath: str
    name: str


def _classify(
    folder: Path, name: str, store: str, extensions: tuple[str, ...], plain_file: bool = False
) -> re.Match[str] | None:
    """The `_NAME` match (version, name, direction, ext) of the entry `name` of `folder`; None for entries
    that are plainly not a migration.

    An entry named like a migration that is not a regular file (a dangling symlink, a directory,
    a FIFO, ...) is an error: skipping it would make `validate` pass over a migration that never runs.
    `plain_file`: the caller already knows the entry is a regular file (not a link), so no stat is needed."""
    if name.startswith((".", "_")):
        return None
    kind = "file" if plain_file else _entry_kind(folder / name)
    stem, dot, suffix = name.rpartition(".")
    ext = suffix.lower() if dot and stem else ""
    match = _NAME.match(name)
    if kind == "a directory" and not (match and match["ext"].lower() in extensions):
        return None  # a folder of notes, fixtures, another tool's layout
    if not name[0].isdigit():
        if ext in extensions and not name.lower().startswith("readme"):
            raise MigrationFileError(
                f"{store}: {name} has no version number",
                hint=f"rename it NNN_description.{ext} (e.g. 001_{stem}.{ext})",
            )
        return None
    if not match:
        raise MigrationFileError(
            f"{store}: {name} is not a valid migration name",
            hint="name it NNN_description.ext: digits, an underscore, a description (e.g. 001_create_users.sql)",
        )
    if match["ext"].lower() not in extensions:
        raise MigrationFileError(
            f"{store}: {name} has extension .{match['ext']}, which {store} does not run",
            hint=f"{store} runs {', '.join('.' + e for e in extensions)} files; rename or move it",
        )
    if kind != "file":
        raise MigrationFileError(
            f"{store}: {name} is {kind}, not a migration file",
            hint=f"replace it with the migration file itself, or move it out of the {store} folder",
        )
    return match


def _entry_kind(path: Path) -> str:
    """ "file", "a directory", or what else the entry is, in words (symlinks followed)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops back on itself"
        return f"unreadable ({exc.strerror})"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _read_bytes(path: str | Path) -> bytes:
    """The whole file, through the os calls (a third of the CPU of `open().read()` for a small file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_text(path: Path, fspath: str | None = None) -> str:
    try:
        text = normalise(_read_bytes(fspath or path).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MigrationFileError(
            f"{path.name} is not UTF-8 (byte {exc.start})", hint="save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise MigrationFileError(
            f"{path.name} cannot be read: {exc.strerror}", hint="check the file's permissions"
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise MigrationFileError(
            f"{path.name}:{line}: a NUL byte (\\0) in the text; no database accepts one in SQL or a script",
            hint="remove it (an editor or a bad copy put it there); write binary data as an escaped literal",
        )
    return text


def _read(store: str, version: int, found: _Entry, down: _Entry | None) -> Migration:
    path, name = found.path, found.name
    text = _read_text(path, found.fspath)
    if not text or text.isspace():
        raise MigrationFileError(
            f"{store}: {path.name} is empty",
            hint="write the migration, or delete the file if it was created by mistake",
        )
    ext = found.fspath.rpartition(".")[2].lower()
    if ext in SCRIPT_KINDS:
        up, down_text, up_line, down_line, marker_tx = text, None, 1, 1, None
        if _SCRIPT_DOWN[ext].search(text):
            down_text = text
    else:
        up, down_text, up_line, down_line, marker_tx = _sections(path, text)
    down_path = down.path if down is not None else None
    if down is not None:
        if down_text is not None:
            raise MigrationFileError(
                f"{store}: {path.name} has a down section and a separate {down.path.name}",
                hint="keep one of the two",
            )
        down_text, down_line = _read_text(down.path, down.fspath), 1
    directives = _directives(path, up)
    transactional = marker_tx
    names = {d for d, _ in directives}
    if "no-transaction" in names or (_GOOSE.search(text) and _GOOSE_NO_TX.search(text)):
        transactional = False
    elif "transaction" in names:
        transactional = True
    return Migration(
        store=store,
        version=version,
        name=name,
        path=path,
        up=up,
        down=down_text,
        checksum=hashlib.sha256(up.encode()).hexdigest(),
        transactional=transactional,
        up_line=up_line,
        down_path=down_path,
        down_line=down_line,
        directives=directives,
    )


def _sections(path: Path, text: str) -> tuple[str, str | None, int, int, bool | None]:
    """Split a SQL file at its markers: (up, down, up_line, down_line, transactional).

    The first up marker line and the first down marker line count; the up section is the text between
    them (without the marker lines), the down section what follows the down marker."""
    up_marker, down_marker = _markers(text)
    down_at = text.count("\n", 0, down_marker.start()) if down_marker else None
    if up_marker is None:
        if down_at is not None:
            raise MigrationFileError(
                f"{path.name}:{down_at + 1}: a down marker without an up marker",
                hint="put `-- migrate:up` before the up statements",
            )
        return text, None, 1, 1, None
    up_at = text.count("\n", 0, up_marker.start())
    marker_tx = None
    dbmate_options = up_marker["opts"] if up_marker["up"][0] in "mM" else ""  # goose's marker takes none
    if dbmate_options and "transaction:false" in dbmate_options.replace(" ", "").lower():
        marker_tx = False
    if down_at is not None and down_at < up_at:
        raise MigrationFileError(
            f"{path.name}:{down_at + 1}: the down marker comes before the up marker",
            hint="put the up section first, then `-- migrate:down`",
        )
    if up_at:
        for i, line in enumerate(text[: up_marker.start()].split("\n")[:up_at]):
            if line.strip() and not line.strip().startswith("--"):
                raise MigrationFileError(
                    f"{path.name}:{i + 1}: statements before the up marker",
                    hint="move them below `-- migrate:up`",
                )
    if down_marker is None:
        return text[up_marker.end() + 1 :], None, up_at + 2, 1, marker_tx
    down_line_start = text.rfind("\n", 0, down_marker.start()) + 1
    up = text[up_marker.end() + 1 : max(down_line_start - 1, up_marker.end() + 1)]
    down = text[down_marker.end() + 1 :]
    return up, down, up_at + 2, down_at + 2, marker_tx  # type: ignore[operator]


def _markers(text: str) -> tuple[re.Match[str] | None, re.Match[str] | None]:
    """The first up marker and the first down marker: matches of `_MARKER` with nothing but whitespace
    before them on their line."""
    up = down = None
    for match in _MARKER.finditer(text):
        start = match.start()
        if start and text[start - 1] != "\n":
            before = text[text.rfind("\n", 0, start) + 1 : start]
            if not before.isspace():
                continue
        if match["up"] is not None:
            up = up or match
        else:
            down = down or match
        if up and down:
            break
    return up, down


def _directives(path: Path, text: str) -> tuple[tuple[str, str], ...]:
    if "dbtools:" not in text:  # a substring test is far cheaper than the line-anchored pattern
        return ()
    found = []
    for match in _DIRECTIVE.finditer(text):
        if match["name"] not in KNOWN_DIRECTIVES:
            line = text.count("\n", 0, match.start()) + 1
            raise MigrationFileError(
                f"{path.name}: unknown directive dbtools:{match['name']} (line {line} of the up section)",
                hint=f"known directives: {', '.join(KNOWN_DIRECTIVES)}",
            )
        found.append((match["name"], match["arg"].strip()))
    return tuple(found)


def slug(description: str) -> str:
    """A file-name-safe form of a description: `Add users table` -> `add_users_table`."""
    return re.sub(r"[^a-z0-9]+", "_", description.lower()).strip("_") or "migration"


def new_file(folder: Path, store: str, description: str, ext: str, template: str) -> Path:
    """Create the next-numbered migration file in `folder` from `template`; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = [m for m in (_NAME.match(p.name) for p in folder.iterdir()) if m]
    version = max((int(m["version"]) for m in existing), default=0) + 1
    width = max((len(m["version"]) for m in existing), default=3)
    path = folder / f"{version:0{width}d}_{slug(description)}.{ext}"
    path.write_text(template.format(description=comment_text(description)))
    return path


def comment_text(description: str) -> str:
    """`description` as text that stays inside a one-line comment: every line break (including the ones
    only some languages honour: \\r, \\v, \\f, U+2028, ...) and control character becomes a space, so a
    description can never add a statement, a marker or a directive to the file `new` writes."""
    return " ".join("".join(c if c.isprintable() else " " for c in description).split())
