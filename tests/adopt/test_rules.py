"""The pure rules of adoption: Flyway's checksum and version order, names, ADOPTED.md, the plan's refusals."""

from __future__ import annotations

import shutil
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dbtools.adopt import flyway
from dbtools.adopt.shared import OldHistory, OldMigration, Options, mapping_text, plan, read_mapping
from dbtools.errors import Refusals
from dbtools.migrations import discover
from dbtools.plan import AppliedMigration
from tests.adopt.conftest import write


def signed(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def test_flyway_checksum_is_crc32_over_lines_without_terminators_or_bom() -> None:
    expected = signed(zlib.crc32(b"CREATE TABLE a (x int);" + b"-- two"))
    assert flyway.checksum(b"CREATE TABLE a (x int);\n-- two\n") == expected
    assert flyway.checksum(b"CREATE TABLE a (x int);\r\n-- two") == expected  # CRLF, no final newline
    assert flyway.checksum(b"CREATE TABLE a (x int);\r-- two\r") == expected  # a lone CR ends a line too
    assert flyway.checksum("\ufeffCREATE TABLE a (x int);\n-- two\n".encode()) == expected  # BOM dropped
    assert flyway.checksum(b"CREATE TABLE a (x int);\n-- two \n") != expected  # any other byte counts
    assert flyway.checksum(b"") == 0 and flyway.checksum(b"\n") == 0


JAVA = """
import java.io.*; import java.nio.charset.StandardCharsets; import java.nio.file.*; import java.util.zip.CRC32;
public class Sum { public static void main(String[] a) throws Exception {
  for (String f : a) { BufferedReader r = Files.newBufferedReader(Paths.get(f), StandardCharsets.UTF_8);
    CRC32 crc = new CRC32(); String line = r.readLine();
    if (line != null) { if (!line.isEmpty() && line.charAt(0) == '\\ufeff') line = line.substring(1);
      do { crc.update(line.getBytes(StandardCharsets.UTF_8)); } while ((line = r.readLine()) != null); }
    System.out.println((int) crc.getValue()); } } }
"""


def test_flyway_checksum_matches_javas_readline_and_crc32(tmp_path: Path) -> None:
    """Java's own BufferedReader.readLine and java.util.zip.CRC32, used the way Flyway's ChecksumCalculator
    uses them, give the same numbers for awkward files (mixed line ends, BOM, blank lines, non-ASCII)."""
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK here (javac, java)")
    samples = [
        b"CREATE TABLE a (x int);\n",
        b"\xef\xbb\xbfSELECT 1;\r\n\r\nSELECT 2;\rSELECT 3;",
        "INSERT INTO t VALUES ('caf\u00e9', '\u65e5\u672c');\n\n\n".encode(),
        b"",
        b"\n\n",
    ]
    paths = []
    for i, data in enumerate(samples):
        path = tmp_path / f"s{i}.sql"
        path.write_bytes(data)
        paths.append(str(path))
    (tmp_path / "Sum.java").write_text(JAVA)
    subprocess.run(["javac", "Sum.java"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    done = subprocess.run(["java", "-cp", str(tmp_path), "Sum", *paths], check=True, capture_output=True, text=True)
    assert [int(v) for v in done.stdout.split()] == [flyway.checksum(data) for data in samples]


def test_flyway_versions_order_as_numbers_and_map_to_one_sequence(tmp_path: Path) -> None:
    assert flyway.version_key("1.10") > flyway.version_key("1.9") and flyway.version_key("1.0") == (1,)
    assert flyway.version_key("2_1") == flyway.version_key("2.1")
    src = write(
        tmp_path / "sql",
        {"V1__a.sql": "x", "V1.9__b.sql": "x", "V1.10__c.sql": "x", "V2_1__d.sql": "x", "beforeMigrate.sql": "x"},
    )
    found = flyway.TOOL.place(src, "postgres", ("sql",), Options())
    assert [(p.source.name, p.target) for p in found.files] == [
        ("V1__a.sql", "001_a.sql"),
        ("V1.9__b.sql", "002_b.sql"),
        ("V1.10__c.sql", "003_c.sql"),
        ("V2_1__d.sql", "004_d.sql"),
    ]
    assert found.skipped[0][0] == "beforeMigrate.sql"


def test_adopted_md_round_trips_the_mapping(tmp_path: Path) -> None:
    src = write(tmp_path / "sql", {"V1__a.sql": "x", "V1.1__b.sql": "y"})
    found = flyway.TOOL.place(src, "postgres", ("sql",), Options())
    (tmp_path / "ADOPTED.md").write_text(mapping_text("flyway", src, found.files, found.skipped))
    assert read_mapping(tmp_path) == {"1": 1, "V1__a.sql": 1, "1.1": 2, "V1.1__b.sql": 2}


def row(version: int, checksum: str, status: str = "applied") -> AppliedMigration:
    return AppliedMigration(version, f"m{version}", checksum, status)


def test_plan_names_every_problem_at_once(tmp_path: Path) -> None:
    files = discover(
        write(tmp_path / "p", {f"00{v}_m{v}.sql": f"SELECT {v};" for v in (1, 2, 3)}), "postgres", ("sql",)
    )
    old = OldHistory(applied={1: OldMigration(1, "v1"), 3: OldMigration(3, "v3"), 9: OldMigration(9, "v9")})
    with pytest.raises(Refusals) as caught:
        plan(
            "postgres",
            "dbmate",
            files,
            old,
            [row(1, "other")],
            applied_by="me",
            tool_version="0",
            now=datetime.now(UTC),
        )
    messages = [p.message for p in caught.value.problems]
    assert len(messages) == 3 and len(caught.value.lines()) == 6
    assert "v9 as applied" in messages[0] and "002_m2.sql" in messages[1] and "another checksum" in messages[2]


def test_plan_records_only_what_dbtools_lacks_and_golang_migrate_means_up_to(tmp_path: Path) -> None:
    files = discover(
        write(tmp_path / "p", {f"00{v}_m{v}.sql": f"SELECT {v};" for v in (1, 2, 3)}), "postgres", ("sql",)
    )
    now = datetime(2024, 1, 1, tzinfo=UTC)
    old = OldHistory(applied={2: OldMigration(2, "2")}, through=2)
    rows = plan(
        "postgres",
        "golang-migrate",
        files,
        old,
        [row(1, files[0].checksum)],
        applied_by="me",
        tool_version="0",
        now=now,
    )
    assert [(r.version, r.status, r.adopted_from, r.applied_at) for r in rows] == [
        (2, "applied", "golang-migrate", now)
    ]
