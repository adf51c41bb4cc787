"""The value seeding passes to a backend: a named target and its columns."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Column = Sequence[Any] | NDArray[Any]  # a numpy array or a list


@dataclass(frozen=True)
class Table:
    """Rows for one target (table, collection, key pattern), held column by column.

    Columns are equal-length sequences (numpy arrays or lists): ClickHouse inserts them as they are,
    PostgreSQL streams them through COPY, MongoDB and Redis read them back as rows."""

    target: str
    columns: Mapping[str, Column]

    def __post_init__(self) -> None:
        lengths = {len(values) for values in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"{self.target}: columns of different lengths {sorted(lengths)}")

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def rows(self) -> Iterator[dict[str, Any]]:
        """One dict per row, with numpy scalars turned into Python values."""
        names = list(self.columns)
        lists = [_as_list(self.columns[name]) for name in names]
        for values in zip(*lists, strict=True):
            yield dict(zip(names, values, strict=True))


def from_rows(target: str, fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A Table of `rows`, each holding its values in the order of `fields` (a row type of
    dbtools.seed.rows and its `_fields`): one list per column, named columns even when no row came."""
    columns: dict[str, list[Any]] = {name: [] for name in fields}
    lists = list(columns.values())
    for row in rows:
        for values, value in zip(lists, row, strict=True):
            values.append(value)
    return Table(target, columns)


def _as_list(values: Column) -> list[Any]:
    return values.tolist() if not isinstance(values, Sequence) else list(values)


def stable_uuid(text: str) -> str:
    """A deterministic UUID (version 4 layout) from text: the same seed gives the same row ids."""
    h = bytearray(hashlib.sha256(text.encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x40
    h[8] = (h[8] & 0x3F) | 0x80
    hexed = h.hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"
