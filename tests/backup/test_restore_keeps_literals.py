"""Restoring a ClickHouse DDL dump into a database of another name renames qualifiers, never literal text."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtools import backends, backup, runner
from tests.backup.conftest import ch_tables, write_migrations
from tests.conftest import Servers, fresh_settings


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "CREATE TABLE src.t (a String DEFAULT 'src.x') ENGINE = Log",
            "CREATE TABLE `dst`.t (a String DEFAULT 'src.x') ENGINE = Log",
        ),
        (
            "CREATE VIEW `src`.v AS SELECT 'it\\'s src.' FROM \"src\".t",
            "CREATE VIEW `dst`.v AS SELECT 'it\\'s src.' FROM `dst`.t",
        ),
        (
            "CREATE VIEW src.v AS SELECT t.src.c FROM src . t -- src.t",
            "CREATE VIEW `dst`.v AS SELECT t.src.c FROM `dst` . t -- src.t",
        ),
        (
            "CREATE VIEW src.v AS SELECT 1 /* src.t */ FROM srcx.t, xsrc.t",
            "CREATE VIEW `dst`.v AS SELECT 1 /* src.t */ FROM srcx.t, xsrc.t",
        ),
    ],
)
def test_retarget_renames_only_database_qualifiers(sql: str, expected: str) -> None:
    from dbtools.backends.clickhouse.sql import retarget

    assert retarget(sql, "src", "dst") == expected


def test_restore_into_another_database_keeps_string_literals(servers: Servers, tmp_path: Path) -> None:
    source = fresh_settings(servers, "clickhouse")
    if source.path:
        pytest.skip("the clickhouse-server binary (18.16) is not installed: chdb restores with RESTORE ... AS")
    db = source.database
    literal = f"{db}.orders is the source"  # a string that reads like a qualified name of the source
    migrations = write_migrations(
        tmp_path / "m",
        "clickhouse",
        {
            "001_notes.sql": f"""
                CREATE TABLE notes (id UInt64, note String DEFAULT '{literal}') ENGINE = MergeTree ORDER BY id;
                CREATE VIEW tagged AS SELECT id, concat(note, ' / {db}.') AS label FROM {db}.notes WHERE note != '{db}.'
            """
        },
    )
    runner.migrate("clickhouse", migrations_dir=migrations, settings=source, create_db=True)
    b = backends.load("clickhouse")(source)
    b.connect()
    b.query(f"INSERT INTO `{db}`.notes (id) VALUES (1), (2)")
    b.close()
    folder = backup.backup("clickhouse", tmp_path / "b", settings=source, migrations_dir=migrations)
    assert backup.read_manifest(folder)["method"] == "SHOW CREATE + SELECT * FORMAT Native"

    target = fresh_settings(servers, "clickhouse")
    backup.restore("clickhouse", folder, settings=target, migrations_dir=migrations)
    t = backends.load("clickhouse")(target)
    t.connect()
    try:
        create = t.query(f"SHOW CREATE TABLE `{target.database}`.notes")[0][0]
        view = t.query(f"SHOW CREATE TABLE `{target.database}`.tagged")[0][0]
        labels = t.query(f"SELECT label FROM `{target.database}`.tagged ORDER BY id")
    finally:
        t.close()
    assert f"'{literal}'" in create and target.database not in create.split("DEFAULT", 1)[1]
    assert f"' / {db}.'" in view and f"'{db}.'" in view and f"{db}.notes" not in view
    assert labels == [(f"{literal} / {db}.",)] * 2
    assert ch_tables(target)["notes"] == ch_tables(source)["notes"]
