"""What every adopter reads the same way: a migrations folder's files, a history row's time, a type name."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from dbtools.adopt.shared import Placements, as_utc

# Type names as the stores report them, for Layout patterns: PostgreSQL's information_schema writes
# `character varying(200)` and `timestamp without time zone`, ClickHouse `DateTime` or `DateTime('UTC')`.
PG_VARCHAR = r"character varying(\(\d+\))?"
PG_TIMESTAMP = r"timestamp( without time zone)?"
CH_DATETIME = r"DateTime(\(.*\))?"


def candidates(source: Path) -> list[Path]:
    """The files of a migrations folder, in name order, hidden ones left out."""
    return [path for path in sorted(source.iterdir()) if path.is_file() and not path.name.startswith(".")]


def matching(
    source: Path, pattern: re.Pattern[str], found: Placements, expected: str
) -> Iterator[tuple[Path, re.Match[str]]]:
    """The files of `source` (see `candidates`) whose name `pattern` matches, with the match; every other
    file goes to `found.skipped` as "not a <expected>"."""
    for path in candidates(source):
        match = pattern.match(path.name)
        if match:
            yield path, match
        else:
            found.skipped.append((path.name, f"not a {expected}"))


def seconds(row: Mapping[str, object], column: str) -> float:
    """`row[column]` (a timestamp, see `as_utc`) as seconds since the epoch, 0 when it has none: for ordering."""
    value = as_utc(row.get(column))
    return value.timestamp() if value else 0.0
