"""SQL migration files read at their markers and directives (dbmate's `-- migrate:`, goose's `-- +goose`).

Pure text work for `migrations.py`, which imports this module only for a file its one-pass reader of
the commonest form does not take: one search finds the marker-like lines, `_Markers` reads each one
strictly (a line that looks like a marker but is not one is an error naming the file and line), and
`_directives` reads the `dbtools:` comments of a section.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple, NoReturn

from dbtools.errors import MigrationFileError
from dbtools.migrations import _STATEMENT_LINE_PATTERN

_STATEMENT_LINE = re.compile(_STATEMENT_LINE_PATTERN)  # a line with something other than a `--` comment

KNOWN_DIRECTIVES = ("no-transaction", "transaction", "lint-ignore")

# Marker-like lines (`-- migrate:...`, `-- +goose ...`) are found by one search over the whole text, not
# line by line in Python: the pattern starts with the literal `--`, which the regex engine scans for at
# C speed however long the file; `_marker_lines` then checks that only whitespace precedes it on its
# line, and `_Markers` reads each one strictly. `[^\S\n]` is whitespace that does not end the line.
_MARKER_LIKE = re.compile(r"--[^\S\n]*(?:migrate:|\+goose)[^\n]*$", re.IGNORECASE | re.MULTILINE)
_DBMATE = re.compile(r"^--\s*migrate:(?P<word>\S*)(?P<options>.*)$", re.IGNORECASE)
_GOOSE_LINE = re.compile(r"^--\s*\+goose(?P<command>.*)$", re.IGNORECASE)
GOOSE_ANNOTATIONS = ("Up", "Down", "StatementBegin", "StatementEnd", "NO TRANSACTION", "ENVSUB ON", "ENVSUB OFF")
_DIRECTIVE = re.compile(r"^\s*(?:--|#|//)\s*dbtools:(?P<name>[a-z-]+)(?P<arg>.*)$", re.MULTILINE)


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
            self._first(index, direction, self.up_at)
            self.up_at, self.up_tx = index, transactional
            return
        if self.up_at is None:
            self.fail(
                index,
                f"a down marker without an up marker above it ({marker})",
                "put the up section first, then the down marker",
            )
        self._first(index, direction, self.down_at)
        self.down_at, self.down_tx = index, transactional

    def _first(self, index: int, direction: str, earlier: int | None) -> None:
        """Fail when a `direction` marker already stood on 0-based line `earlier`: one section of each per file."""
        if earlier is not None:
            self.fail(
                index,
                f"a second {direction} marker (the first is on line {earlier + 1})",
                "dbtools reads one up and one down section per file: split it into one migration per section",
            )

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
