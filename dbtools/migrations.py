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
`-- dbtools:no-transaction` (`# dbtools:...` in scripts) in the section it governs.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, NoReturn

from dbtools.errors import MigrationFileError

SCRIPT_KINDS = ("py", "js")
INT64_MAX = 2**63 - 1  # the widest version every store's history column holds (bigint, Int64, int64)
KNOWN_DIRECTIVES = ("no-transaction", "transaction", "lint-ignore")

_NAME = re.compile(r"^(?P<version>\d+)_(?P<name>.+?)(?:\.(?P<direction>up|down))?\.(?P<ext>[A-Za-z0-9]+)$")
# Marker-like lines (`-- migrate:...`, `-- +goose ...`) are found by one search over the whole text, not
# line by line in Python: the pattern starts with the literal `--`, which the regex engine scans for at
# C speed however long the file; `_marker_lines` then checks that only whitespace precedes it on its
# line, and `_Markers` reads each one strictly. `[^\S\n]` is whitespace that does not end the line.
_MARKER_LIKE = re.compile(r"--[^\S\n]*(?:migrate:|\+goose)[^\n]*$", re.IGNORECASE | re.MULTILINE)
_DBMATE = re.compile(r"^--\s*migrate:(?P<word>\S*)(?P<options>.*)$", re.IGNORECASE)
_GOOSE_LINE = re.compile(r"^--\s*\+goose(?P<command>.*)$", re.IGNORECASE)
GOOSE_ANNOTATIONS = ("Up", "Down", "StatementBegin", "StatementEnd", "NO TRANSACTION", "ENVSUB ON", "ENVSUB OFF")
# A line with something other than whitespace or a `--` comment on it (a statement line).
_STATEMENT_LINE = re.compile(r"^[^\S\n]*(?:[^-\s]|-(?!-))", re.MULTILINE)
_DIRECTIVE = re.compile(r"^\s*(?:--|#|//)\s*dbtools:(?P<name>[a-z-]+)(?P<arg>.*)$", re.MULTILINE)
_SCRIPT_DOWN = {
    "py": re.compile(r"^(?:async\s+)?def\s+down\s*\(", re.MULTILINE),
    "js": re.compile(r"\bdown\s*(?::|\(|=)", re.MULTILINE),
}


@dataclass(frozen=True, slots=True)
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
    if plain_file:  # the common case, decided by the checks below in one step
        match = _NAME.match(name)
        if match is not None and match["ext"] in extensions:
            return match
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
    ext = found.fspath.rpartition(".")[2].lower()
    golang_up = found.fspath.endswith(f".up.{ext}") or found.fspath.endswith(f".UP.{ext}")
    if (not text or text.isspace()) and not golang_up:
        raise MigrationFileError(
            f"{store}: {path.name} is empty",
            hint="write the migration, or delete the file if it was created by mistake",
        )
    if ext in SCRIPT_KINDS:
        up = Section(text, 1, None)
        down = Section(text, 1, None) if _SCRIPT_DOWN[ext].search(text) else None
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
    if _STATEMENT_LINE.search(up) is None:
        return None  # refused by the general reader, with its message
    return Migration(
        store=store,
        version=version,
        name=found.name,
        path=found.path,
        up=up,
        down=text[down_at + len(_DOWN_LINE) :],
        checksum=hashlib.sha256(up.encode()).hexdigest(),
        up_line=2,
        down_line=text.count("\n", 0, down_at) + 3,
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


class Section(NamedTuple):
    """One section of a file: its text, the file line it starts on, its marker's transaction option."""

    text: str
    line: int
    transactional: bool | None
    has_statement: bool = True  # some line is neither blank nor a `--` comment (a /* */-only one passes)


class Parsed(NamedTuple):
    """A SQL file read at its markers."""

    up: Section
    down: Section | None = None
    no_transaction: bool = False  # goose's NO TRANSACTION: both directions
    blocks: tuple[tuple[int, int], ...] = ()
    envsub: tuple[tuple[int, int], ...] = ()


class _Markers:
    """The marker lines of one SQL file, read in one pass (dbmate's or goose's, never both)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.style: str | None = None
        self.up_at: int | None = None
        self.down_at: int | None = None
        self.up_tx: bool | None = None
        self.down_tx: bool | None = None
        self.no_transaction = False
        self.blocks: list[tuple[int, int]] = []
        self.block_at: int | None = None
        self.envsub: list[tuple[int, int]] = []
        self.envsub_at: int | None = None

    def fail(self, index: int, message: str, hint: str) -> NoReturn:
        raise MigrationFileError(f"{self.path.name}:{index + 1}: {message}", hint=hint)

    def read(self, index: int, line: str) -> bool:
        """Take one marker-like line (0-based `index`); True when it was a marker."""
        stripped = line.strip()
        dbmate, goose = _DBMATE.match(stripped), _GOOSE_LINE.match(stripped)
        if dbmate is None and goose is None:
            return False
        style = "dbmate" if dbmate else "goose"
        if self.style not in (None, style):
            self.fail(index, f"a {style} marker in a file that uses {self.style} markers", "use one tool's markers")
        self.style = style
        if dbmate:
            self._dbmate(index, dbmate["word"].lower(), dbmate["options"])
        else:
            self._goose(index, " ".join(goose["command"].split()))  # type: ignore[index]
        return True

    def _dbmate(self, index: int, word: str, options: str) -> None:
        if word not in ("up", "down"):
            self.fail(
                index,
                f"unknown marker `-- migrate:{word}`",
                "the markers are `-- migrate:up` and `-- migrate:down` (a misspelt one would make the down "
                "statements part of the up)",
            )
        transactional = None
        for option in options.split():
            key, _, value = option.partition(":")
            if key.lower() != "transaction" or value.lower() not in ("true", "false"):
                self.fail(
                    index,
                    f"unknown option {option!r} on `-- migrate:{word}`",
                    f"the one option is transaction:false (or transaction:true): `-- migrate:{word} transaction:false`",
                )
            transactional = value.lower() == "true"
        self._direction(index, word, transactional, f"-- migrate:{word}")

    def _goose(self, index: int, command: str) -> None:
        known = {a.lower(): a for a in GOOSE_ANNOTATIONS}
        annotation = known.get(command.lower())
        if annotation is None:
            self.fail(
                index,
                f"unknown goose annotation `-- +goose {command}`",
                f"goose's annotations: {', '.join(GOOSE_ANNOTATIONS)}",
            )
        if annotation in ("Up", "Down"):
            self._direction(index, annotation.lower(), None, f"-- +goose {annotation}")
        elif annotation == "NO TRANSACTION":
            self.no_transaction = True
        elif annotation == "StatementBegin":
            if self.up_at is None:
                self.fail(index, "StatementBegin before `-- +goose Up`", "put it inside the Up or Down section")
            if self.block_at is not None:
                self.fail(index, "StatementBegin inside another StatementBegin", "close the first with StatementEnd")
            self.block_at = index
        elif annotation == "StatementEnd":
            if self.block_at is None:
                self.fail(index, "StatementEnd without a StatementBegin", "add `-- +goose StatementBegin` before it")
            self.blocks.append((self.block_at + 2, index))  # file lines of the body
            self.block_at = None
        elif annotation == "ENVSUB ON":
            if self.envsub_at is None:
                self.envsub_at = index
        elif self.envsub_at is not None:  # ENVSUB OFF
            self.envsub.append((self.envsub_at + 2, index))
            self.envsub_at = None

    def _direction(self, index: int, direction: str, transactional: bool | None, marker: str) -> None:
        if self.block_at is not None:
            self.fail(index, f"{marker} inside a StatementBegin block", "close the block with StatementEnd first")
        if direction == "up":
            if self.up_at is not None:
                self.fail(
                    index,
                    f"a second up marker (the first is on line {self.up_at + 1})",
                    "dbtools reads one up and one down section per file: split it into one migration per section",
                )
            self.up_at, self.up_tx = index, transactional
            return
        if self.up_at is None:
            self.fail(
                index,
                f"a down marker without an up marker above it ({marker})",
                "put the up section first, then the down marker",
            )
        if self.down_at is not None:
            self.fail(
                index,
                f"a second down marker (the first is on line {self.down_at + 1})",
                "dbtools reads one up and one down section per file: split it into one migration per section",
            )
        self.down_at, self.down_tx = index, transactional

    def finish(self, lines: int) -> None:
        if self.block_at is not None:
            self.fail(self.block_at, "StatementBegin without its StatementEnd", "add `-- +goose StatementEnd`")
        if self.envsub_at is not None:
            self.envsub.append((self.envsub_at + 2, lines))


def _sections(path: Path, text: str) -> Parsed:
    """Read a SQL file at its markers: one search finds the marker-like lines, each is read strictly."""
    marker_lines = _marker_lines(text)
    if len(marker_lines) == 2 and marker_lines[0] == (0, "-- migrate:up") and marker_lines[1][1] == "-- migrate:down":
        return _plain_dbmate(text, marker_lines[1][0])
    markers = _Markers(path)
    lines_before, counted = 0, 0
    for start, line in marker_lines:
        lines_before += text.count("\n", counted, start)
        counted = start
        markers.read(lines_before, line)
    line_count = text.count("\n") + 1
    markers.finish(line_count)
    if markers.up_at is None:
        up = Section(text, 1, None, _STATEMENT_LINE.search(text) is not None)
        return Parsed(up, no_transaction=markers.no_transaction, envsub=tuple(markers.envsub))
    up_at, down_at = markers.up_at, markers.down_at
    up_start = _line_start(text, up_at)
    if up_at:
        statement = _STATEMENT_LINE.search(text, 0, up_start)
        if statement is not None:
            raise MigrationFileError(
                f"{path.name}:{text.count(chr(10), 0, statement.start()) + 1}: statements before the up marker",
                hint="move them below the up marker",
            )
    up_begin = _line_start(text, up_at + 1, up_start)
    if down_at is None:
        up_text, down = text[up_begin:] if up_begin <= len(text) else "", None
    else:
        down_start = _line_start(text, down_at, up_begin)
        up_text = text[up_begin : max(down_start - 1, up_begin)]
        down_begin = _line_start(text, down_at + 1, down_start)
        down = Section(text[down_begin:] if down_begin <= len(text) else "", down_at + 2, markers.down_tx)
    up = Section(up_text, up_at + 2, markers.up_tx, _STATEMENT_LINE.search(up_text) is not None)
    return Parsed(up, down, markers.no_transaction, tuple(markers.blocks), tuple(markers.envsub))


def _plain_dbmate(text: str, down_start: int) -> Parsed:
    """The sections of the commonest file (what `_sections` reads from it, without the general reader):
    `-- migrate:up` as its first line and one plain `-- migrate:down` line starting at `down_start`."""
    up_begin = text.find("\n") + 1
    up_text = text[up_begin : max(down_start - 1, up_begin)]
    down_end = text.find("\n", down_start)
    down_text = text[down_end + 1 :] if down_end >= 0 else ""
    down_line = text.count("\n", 0, down_start) + 2
    up = Section(up_text, 2, None, _STATEMENT_LINE.search(up_text) is not None)
    return Parsed(up, Section(down_text, down_line, None))


def _line_start(text: str, index: int, hint: int = 0) -> int:
    """The offset where 0-based line `index` starts (len(text) + 1 past the last line); `hint` is the
    start of an earlier line, to count from."""
    line = text.count("\n", 0, hint)
    at = hint
    while line < index:
        newline = text.find("\n", at)
        if newline < 0:
            return len(text) + 1
        at, line = newline + 1, line + 1
    return at


def _marker_lines(text: str) -> list[tuple[int, str]]:
    """(offset, text) of every line that looks like a marker: `--` then `migrate:` or `+goose`, with only
    whitespace before the `--` on its line."""
    found = []
    for match in _MARKER_LIKE.finditer(text):
        start = match.start()
        line_start = text.rfind("\n", 0, start) + 1
        if line_start < start and not text[line_start:start].isspace():
            continue
        found.append((line_start, text[line_start : match.end()]))
    return found


def _directives(path: Path, text: str, first_line: int = 1) -> tuple[tuple[str, str], ...]:
    if "dbtools:" not in text:  # a substring test is far cheaper than the line-anchored pattern
        return ()
    found = []
    for match in _DIRECTIVE.finditer(text):
        if match["name"] not in KNOWN_DIRECTIVES:
            line = first_line + text.count("\n", 0, match.start())
            raise MigrationFileError(
                f"{path.name}:{line}: unknown directive dbtools:{match['name']}",
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
