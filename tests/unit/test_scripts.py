"""Python migration scripts: steps found without running code, loading kept out of sys.modules, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dbtools import scripts
from dbtools.errors import MigrationFailed, MigrationFileError
from dbtools.migrations import Migration, discover


def script(tmp_path: Path, text: str, name: str = "001_x.py") -> Migration:
    folder = tmp_path / "redis"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    (migration,) = discover(folder, "redis", ("py",))
    return migration


def test_one_function_is_one_step_with_its_line(tmp_path: Path) -> None:
    m = script(tmp_path, '"""doc"""\n\n\ndef up(r):\n    r.set("a", 1)\n\n\ndef down(r):\n    r.delete("a")\n')
    (up,) = scripts.steps(m)
    assert (up.line, up.head) == (4, "up") and up.sql.startswith("def up(r):")
    (down,) = scripts.steps(m, down=True)
    assert (down.line, down.head) == (8, "down")


def test_listed_steps_run_in_order_from_a_module_outside_sys_modules(tmp_path: Path) -> None:
    m = script(tmp_path, "def a(log):\n    log.append('a')\n\n\ndef b(log):\n    log.append('b')\n\n\nup = [b, a]\n")
    statements = scripts.steps(m)
    assert [(s.head, s.line) for s in statements] == [("b", 5), ("a", 1)]
    before = set(sys.modules)
    module = scripts.load(m)
    log: list[str] = []
    for fn in scripts.callables(m, module, statements):
        fn(log)
    assert log == ["b", "a"] and set(sys.modules) == before


def test_a_down_may_list_steps_too(tmp_path: Path) -> None:
    m = script(tmp_path, "def up(r):\n    pass\n\n\ndef a(r):\n    pass\n\n\ndef b(r):\n    pass\n\n\ndown = [b, a]\n")
    assert m.down is not None
    assert [(s.head, s.line) for s in scripts.steps(m, down=True)] == [("b", 9), ("a", 5)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("def up(r:\n    pass\n", "001_x.py:1: Python syntax error"),
        ("def upgrade(r):\n    pass\n", "001_x.py defines no up(client) function"),
        ("async def up(r):\n    pass\n", "001_x.py:1: `up` is async"),
        ("up = []\n", "`up` must be a function or a non-empty list"),
        ("def a(r):\n    pass\n\n\nup = [a, print]\n", "001_x.py:5: every item of `up` must name a function"),
    ],
)
def test_malformed_scripts_are_refused_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(MigrationFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        scripts.steps(script(tmp_path, text))


def test_module_level_failure_is_reported_before_anything_runs(tmp_path: Path) -> None:
    m = script(tmp_path, "import no_such_module_here\n\n\ndef up(r):\n    pass\n")
    with pytest.raises(MigrationFailed, match="failed while loading: ModuleNotFoundError"):
        scripts.load(m)
