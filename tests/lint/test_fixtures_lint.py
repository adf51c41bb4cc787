"""lint over the fixture files (tests/fixtures): it reads every one, and reports as `unreadable` exactly
the files dbtools refuses on purpose, at the line migrate names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dbtools.lint import lint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REFUSED = json.loads((FIXTURES / "cases.json").read_text())["refused"]


def lay_out(tmp_path: Path, store: str, sources: list[Path]) -> dict[str, str]:
    """Link `sources` as NNN_<slug>.sql migrations; return {linked name: fixture path}."""
    folder = tmp_path / store
    folder.mkdir()
    names = {}
    for number, source in enumerate(sources, start=1):
        slug = re.sub(r"[^a-z0-9]+", "_", source.relative_to(FIXTURES).with_suffix("").as_posix().lower())
        name = f"{number:03d}_{slug}.sql"
        (folder / name).symlink_to(source)
        names[name] = source.relative_to(FIXTURES).as_posix()
    return names


@pytest.mark.parametrize(
    ("store", "patterns"),
    [
        ("postgres", ["own/postgres/*.sql", "dbmate/*.sql", "goose/*/test*/input.sql", "goose/valid-txn/*.sql",
                      "goose/invalid/up/*.sql", "libpg_query/postgres_regress/*.sql"]),
        ("clickhouse", ["own/clickhouse/*.sql"]),
    ],
)  # fmt: skip
def test_lint_reads_every_fixture_and_flags_only_the_refused_ones(
    tmp_path: Path, store: str, patterns: list[str]
) -> None:
    sources = sorted(p for pattern in patterns for p in FIXTURES.glob(pattern))
    names = lay_out(tmp_path, store, sources)
    found = lint(store, tmp_path)
    unreadable = {(names[Path(f.path).name], f.line) for f in found if f.rule == "unreadable"}
    expected = {(case, spec["line"]) for case, spec in REFUSED.items() if case in names.values()}
    assert unreadable == expected
    assert {f.rule for f in found} - {"unreadable"}  # the other rules ran over the same files
