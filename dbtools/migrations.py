"""Migration files on disk: discovery, naming rules, up/down sections, directives and checksums.

Pure: reads files, talks to no store. Forms understood, so other tools' histories read as-is:

* `NNN_name.sql` - up only, or up and down in one file after `-- migrate:up` / `-- migrate:down`
  markers (dbmate, options `transaction:false|true` on either) or `-- +goose Up` / `-- +goose Down`
  annotations (goose, with `StatementBegin`/`StatementEnd`, `NO TRANSACTION`, `ENVSUB ON`/`OFF`);
* `NNN_name.up.sql` + `NNN_name.down.sql` (golang-migrate; an empty up file is allowed there);
* `NNN_name.py` / `NNN_name.js` scripts defining `up` and optionally `down` (MongoDB, Redis).

Markers are strict: a line that looks like one (`-- migrate:...`, `-- +goose ...`) but is not one
this reader knows is an error naming the file and line, never a comment - otherwise the statements
after a misspelt down marker would run as part of the up. Directives are comments:
`-- dbtools:no-transaction` (`# dbtools:...` in scripts) in the section it governs. Markers and
directives are read in `sections.py`; this module finds the files and builds `Migration`s.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from pathlib import Path

from dbtools.errors import MigrationFileError

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from dbtools.records import NamedTuple

SCRIPT_KINDS = ("py", "js")
INT64_MAX = 2**63 - 1  # the widest version every store's history column holds (bigint, Int64, int64)

# A line with something other than whitespace or a `--` comment on it (a statement line).
# compiled on first use (`re` keeps them), not at import: the commonest names and files are read without them
_STATEMENT_LINE_PATTERN = r"(?m)^[^\S\n]*(?:[^-\s]|-(?!-))"
_NAME_PATTERN = r"^(?P<version>\d+)_(?P<name>.+?)(?:\.(?P<direction>up|down))?\.(?P<ext>[A-Za-z0-9]+)$"
_SCRIPT_DOWN = {  # compiled on first use (by `re`): only scripts need them
    "py": r"(?m)^(?:(?:async\s+)?def\s+down\s*\(|down\s*=)",  # a function, or `down = [step, ...]`
    "js": r"(?m)\bdown\s*(?::|\(|=)",
}


class Migration(NamedTuple):
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
    down_transactional: bool | None = None  # the down section's own directive or marker option
    blocks: tuple[tuple[int, int], ...] = ()  # file lines (first, last) of goose StatementBegin/End bodies
    envsub: tuple[tuple[int, int], ...] = ()  # file lines (first, last) of goose ENVSUB ON regions
    empty_ok: bool = False  # golang-migrate's empty .up.sql: recorded as applied, nothing run

    @property
    def kind(self) -> str:
        """The file extension without the dot: sql, py, js."""
        return self.path.suffix[1:]

    @property
    def label(self) -> str:
        """`version_name` as used in messages."""
        return f"{self.version:03d}_{self.name}"

    def section(self, *, down: bool = False) -> tuple[str, int, Path]:
        """(text, first file line, file) of the up or down section."""
        if down:
            return self.down or "", 1 if self.down_path else self.down_line, self.down_path or self.path
        return self.up, self.up_line, self.path


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
        plain = {entry.name: entry.is_file(follow_symlinks=False) for entry in listing}
    names = sorted(name for name in plain if not name.startswith((".", "_")))  # strings sort fastest alone
    children = {path.name: path for path in folder.iterdir()}  # a third of the cost of `folder / name` each
    prefix = os.path.join(os.fspath(folder), "")  # what `DirEntry.path` puts before the name
    for name in names:
        parts: tuple[str, str, str | None] | None = _plain_name(name, extensions) if plain[name] else None
        if parts is None:  # anything else is read by the name pattern, with its errors
            match = _classify(folder, name, store, extensions, plain[name])
            if match is None:
                continue
            parts = match["version"], match["name"], match["direction"]
        digits, label, direction = parts
        version = int(digits)
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
        target[version] = _Entry(children.get(name) or folder / name, prefix + name, label)
    for version, found in downs.items():
        if version not in ups:
            name = found.path.name
            raise MigrationFileError(
                f"{store}: {name} is a down migration without an up file",
                hint=f"add {name.replace('.down.', '.up.')} or delete {name}",
            )
    return [_read(store, version, ups[version], downs.get(version)) for version in sorted(ups)]


def _plain_name(name: str, extensions: tuple[str, ...]) -> tuple[str, str, None] | None:
    """(version digits, name part, no direction) of a name `_NAME` reads that way with no doubt: ASCII digits,
    an underscore, a name part without a dot or a line break, one of `extensions`. None for any other name,
    which the pattern itself then reads (`.up.sql`, odd digits, ...): what both give is property-tested."""
    stem, _, ext = name.rpartition(".")
    digits, _, rest = stem.partition("_")
    if (
        ext in extensions
        and rest
        and digits.isdigit()
        and digits.isascii()
        and ext.isalnum()
        and ext.isascii()
        and "." not in rest
        and "\n" not in rest
    ):
        return digits, rest, None
    return None


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
    if plain_file:  # the common case, decided by the checks below in one step
        match = re.match(_NAME_PATTERN, name)
        if match is not None and match["ext"] in extensions:
            return match
    if name.startswith((".", "_")):
        return None
    kind = "file" if plain_file else _entry_kind(folder / name)
    stem, dot, suffix = name.rpartition(".")
    ext = suffix.lower() if dot and stem else ""
    match = re.match(_NAME_PATTERN, name)
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
        first = os.read(fd, _READ_SIZE)
        if len(first) < _READ_SIZE:  # a regular file reads short only at its end: one call for most files
            return first
        chunks = [first]
        while chunk := os.read(fd, _READ_SIZE):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


_READ_SIZE = 1 << 16


def _read_text(path: Path, fspath: str | None = None) -> str:
    try:
        text = _read_bytes(fspath or path).decode("utf-8")
        if "\r" in text or text.startswith("\ufeff"):
            text = normalise(text)
    except UnicodeDecodeError as exc:
        raise MigrationFileError(
            f"{path.name} is not UTF-8 (byte {exc.start})", hint="save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise MigrationFileError(
            f"{path.name} cannot be read: {exc.strerror}", hint="check the file's permissions"
        ) from None
    if "\0" in text:
        nul = text.find("\0")
        line = text.count("\n", 0, nul) + 1
        raise MigrationFileError(
            f"{path.name}:{line}: a NUL byte (\\0) in the text; no database accepts one in SQL or a script",
            hint="remove it (an editor or a bad copy put it there); write binary data as an escaped literal",
        )
    return text


def _read(store: str, version: int, found: _Entry, down_entry: _Entry | None) -> Migration:
    path, name = found.path, found.name
    text = _read_text(path, found.fspath)
    if down_entry is None and text.startswith(_UP_LINE):
        common = _read_common(store, version, found, text)
        if common is not None:
            return common
    from dbtools.sections import Parsed, Section, _directives, _sections  # not on the commonest file's path

    ext = found.fspath.rpartition(".")[2].lower()
    golang_up = found.fspath.endswith(f".up.{ext}") or found.fspath.endswith(f".UP.{ext}")
    if (not text or text.isspace()) and not golang_up:
        raise MigrationFileError(
            f"{store}: {path.name} is empty",
            hint="write the migration, or delete the file if it was created by mistake",
        )
    if ext in SCRIPT_KINDS:
        up = Section(text, 1, None)
        down = Section(text, 1, None) if re.search(_SCRIPT_DOWN[ext], text) else None
        parsed = Parsed(up, down)
    else:
        parsed = _sections(path, text)
        up, down = parsed.up, parsed.down
    down_path = down_entry.path if down_entry is not None else None
    if down_entry is not None:
        if down is not None:
            raise MigrationFileError(
                f"{store}: {path.name} has a down section and a separate {down_entry.path.name}",
                hint="keep one of the two",
            )
        down = Section(_read_text(down_entry.path, down_entry.fspath), 1, None)
    if ext not in SCRIPT_KINDS and not golang_up and not up.has_statement:
        marked = "only markers and comments" if up.line > 1 else "only comments"
        raise MigrationFileError(
            f"{store}: {path.name} has no statements in its up section ({marked})",
            hint="write the migration below the up marker, or delete the file if it was created by mistake",
        )
    directives = _directives(path, up.text, up.line)
    down_directives = _directives(down_path or path, down.text, down.line) if down and ext not in SCRIPT_KINDS else ()
    return Migration(
        store=store,
        version=version,
        name=name,
        path=path,
        up=up.text,
        down=down.text if down else None,
        checksum=hashlib.sha256(up.text.encode()).hexdigest(),
        transactional=_transactional(directives, up.transactional, parsed.no_transaction),
        up_line=up.line,
        down_path=down_path,
        down_line=down.line if down else 1,
        directives=directives,
        down_transactional=(
            _transactional(down_directives, down.transactional, parsed.no_transaction) if down else None
        ),
        blocks=parsed.blocks,
        envsub=parsed.envsub,
        empty_ok=golang_up,
    )


_UP_LINE = "-- migrate:up\n"
_DOWN_LINE = "\n-- migrate:down\n"


def _read_common(store: str, version: int, found: _Entry, text: str) -> Migration | None:
    """The commonest file, read in one straight pass (what `_read` makes of it, property-checked against
    it): `-- migrate:up` as its first line, one `-- migrate:down` line, no other marker-like text, no
    directive. None for anything else (the general reader takes it)."""
    low = text.lower()
    if low.count("migrate:") != 2 or "+goose" in low or "dbtools:" in low or not found.fspath.endswith(".sql"):
        return None
    down_at = text.find(_DOWN_LINE)  # the file's other `migrate:`, as a plain line (count above)
    if down_at < 0:
        return None
    up = text[len(_UP_LINE) : down_at]
    first = up[:1]  # a statement on the first line is found without the pattern
    if (not first or first == "-" or first.isspace()) and re.search(_STATEMENT_LINE_PATTERN, up) is None:
        return None  # refused by the general reader, with its message
    # positional: a NamedTuple built from keywords takes twice as long, and a long history builds one per file
    return Migration(
        store,
        version,
        found.name,
        found.path,
        up,
        text[down_at + len(_DOWN_LINE) :],
        hashlib.sha256(up.encode()).hexdigest(),
        None,
        2,
        None,
        text.count("\n", 0, down_at) + 3,
    )


def _transactional(directives: tuple[tuple[str, str], ...], marker: bool | None, no_tx: bool) -> bool | None:
    """A section's transaction mode: its directive, else its marker option or goose's NO TRANSACTION."""
    if not directives:
        return False if no_tx else marker
    names = {d for d, _ in directives}
    if "no-transaction" in names:
        return False
    if "transaction" in names:
        return True
    return False if no_tx else marker


def slug(description: str) -> str:
    """A file-name-safe form of a description: `Add users table` -> `add_users_table`."""
    return re.sub(r"[^a-z0-9]+", "_", description.lower()).strip("_") or "migration"


def new_file(folder: Path, store: str, description: str, ext: str, template: str) -> Path:
    """Create the next-numbered migration file in `folder` from `template`; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = [m for m in (re.match(_NAME_PATTERN, p.name) for p in folder.iterdir()) if m]
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


def __getattr__(name: str) -> object:
    """The marker reader's names, still importable from here (imported on first use, as `_read` does), and
    the compiled name and statement-line patterns."""
    if name == "_NAME":
        return re.compile(_NAME_PATTERN)
    if name == "_STATEMENT_LINE":
        return re.compile(_STATEMENT_LINE_PATTERN)
    if name in ("Section", "Parsed", "_Markers", "_sections", "_directives"):
        from dbtools import sections

        return getattr(sections, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
