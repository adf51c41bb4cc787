"""What every adopter reads the same way: a migrations folder's files, and a history row's time."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dbtools.adopt.shared import as_utc


def candidates(source: Path) -> list[Path]:
    """The files of a migrations folder, in name order, hidden ones left out."""
    return [path for path in sorted(source.iterdir()) if path.is_file() and not path.name.startswith(".")]


def seconds(row: Mapping[str, object], column: str) -> float:
    """`row[column]` (a timestamp, see `as_utc`) as seconds since the epoch, 0 when it has none: for ordering."""
    value = as_utc(row.get(column))
    return value.timestamp() if value else 0.0
