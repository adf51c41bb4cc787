"""The fronts work as documented: `--help` describes everything, invoke tasks take typed options and print
errors as the command does, migrations/migrate.py passes flags through, `new` writes safe, lint-clean files."""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dbtools.cli import build_parser
from dbtools.migrations import discover
from dbtools.settings import Settings
from tests.cli.test_cli import ROOT, assert_one_clear_error, run, url_env

# -- --help -----------------------------------------------------------------------------------------


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _option_entries(help_text: str) -> dict[str, str]:
    """Each option's rendered help, keyed by its first option string (entries span indented lines)."""
    entries: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        found = re.match(r"^  (-{1,2}[\w-]+)", line)
        if found:
            current = found.group(1)
            entries[current] = line
        elif current and line.startswith("    "):
            entries[current] += " " + line.strip()
        else:
            current = None
    return {k: " ".join(v.split()) for k, v in entries.items()}


def test_every_command_and_option_in_help_has_a_description_and_its_default() -> None:
    listing = build_parser().format_help()
    for name, command in _commands().items():
        assert re.search(rf"^    {re.escape(name)}\s+\S", listing, re.MULTILINE), f"{name} has no help line"
        assert command.description, f"`{name} --help` has no description"
        entries = _option_entries(command.format_help())
        for action in command._actions:
            if not action.option_strings or action.option_strings[0] in ("-h", "--help"):
                continue
            entry = entries[action.option_strings[0]]
            assert action.help and len(entry.split()) > 2, f"{name} {action.option_strings[0]}: no description"
            if action.nargs != 0:  # takes a value: say what happens without it
                assert "default" in entry or "required" in entry, f"{name}: {entry}"


def test_required_options_show_as_required_and_check_says_what_it_is_for() -> None:
    commands = _commands()
    assert "(required)" in _option_entries(commands["new"].format_help())["--db"]
    assert "declared key layout" in " ".join(commands["check"].format_help().split())
    assert "declared key layout" in " ".join(build_parser().format_help().split())


# -- invoke -------------------------------------------------------------------------------------------


def invoke(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "DBTOOLS_AUDIT": "off"}
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], env=full, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_invoke_numeric_options_are_typed(pg: Settings, mdir: Path) -> None:
    env = {**url_env(pg), "DBTOOLS_MIGRATIONS_DIR": str(mdir)}
    done = invoke("migrate", "--db", "postgres", "--to", "1", env=env)
    assert done.returncode == 0 and "001_users" in done.stdout and "002_orders" not in done.stdout, done.stderr
    done = invoke("migrate", "--db", "postgres", "--lock-timeout", "5", env=env)
    assert done.returncode == 0 and "002_orders" in done.stdout, done.stderr
    done = invoke("rollback", "--db", "postgres", "--steps", "1", env=env)
    assert done.returncode == 0 and "reverted    002_orders" in done.stdout, done.stderr
    done = invoke("rollback", "--db", "postgres", "--to", "0", env=env)
    assert done.returncode == 0 and "reverted    001_users" in done.stdout, done.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["seed", "--scale", "bogus"], "invalid choice: 'bogus'"),
        (["seed", "--seed", "abc"], "--seed: 'abc' is not a whole number"),
        (["migrate", "--to", "two"], "--to: 'two' is not a whole number"),
        (["rollback", "--steps", "0"], "--steps: '0' is out of range: use a whole number from 1"),
        (["new", "--db", "postgres"], "the following arguments are required: description"),
    ],
)
def test_invoke_bad_options_are_one_error_line(mdir: Path, args: list[str], needle: str) -> None:
    done = invoke(*args, env={"DBTOOLS_MIGRATIONS_DIR": str(mdir), "POSTGRES_URL": "postgres://u@127.0.0.1:1/x"})
    assert_one_clear_error(done, 2, needle)


def test_invoke_errors_print_as_the_command_prints_them(mdir: Path) -> None:
    env = {"DBTOOLS_MIGRATIONS_DIR": str(mdir), "POSTGRES_URL": "postgres://u@127.0.0.1:1/x"}
    by_invoke = invoke("migrate", "--db", "postgres", env=env)
    by_cli = run("migrate", "--db", "postgres", env=env)
    assert (by_invoke.returncode, by_invoke.stderr) == (by_cli.returncode, by_cli.stderr) == (1, by_cli.stderr)


# -- migrations/migrate.py ------------------------------------------------------------------------------


def test_migrate_py_passes_flags_and_their_values_through(pg: Settings, tmp_path: Path) -> None:
    front = tmp_path / "migrations"
    (front / "postgres").mkdir(parents=True)
    (front / "migrate.py").write_bytes((ROOT / "migrations" / "migrate.py").read_bytes())
    for version in (1, 2, 3):
        (front / "postgres" / f"00{version}_t{version}.sql").write_text(f"CREATE TABLE t{version} (id int);\n")
    env = {**os.environ, **url_env(pg), "PYTHONPATH": str(ROOT), "DBTOOLS_AUDIT": "off"}

    def migrate_py(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(front / "migrate.py"), *args], env=env, capture_output=True, text=True
        )

    done = migrate_py("postgres", "--to", "1", "--lock-timeout", "5")
    assert done.returncode == 0 and "001_t1" in done.stdout and "002_t2" not in done.stdout, done.stderr
    done = migrate_py("--to", "2", "postgres")
    assert done.returncode == 0 and "002_t2" in done.stdout and "003_t3" not in done.stdout, done.stderr
    done = migrate_py("--dry-run", "postgres")
    assert done.returncode == 0 and "would-apply 003_t3" in done.stdout, done.stderr
    assert_one_clear_error(migrate_py("postgres", "--to"), 2, "--to: expected one argument")


# -- new ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["postgres", "clickhouse", "mongodb", "redis"])
def test_new_writes_a_template_whose_example_passes_lint(tmp_path: Path, store: str) -> None:
    done = run("--migrations-dir", str(tmp_path), "new", "--db", store, "add fee")
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    lint = run("--migrations-dir", str(tmp_path), "lint", "--db", store)
    if path.suffix == ".sql":  # an SQL template left as `new` wrote it has no statements: refused (issue 14.8)
        assert lint.returncode == 1 and "has no statements in its up section" in lint.stderr, lint.stderr
    else:
        assert lint.returncode == 0 and "0 error(s), 0 warning(s)" in lint.stdout, lint.stdout + lint.stderr
    # the commented example, written out, is lint-clean (ClickHouse: re-runnable DDL)
    if path.suffix == ".sql":
        text = path.read_text()
        example = re.sub(r"^--   ", "", text, flags=re.MULTILINE)
        assert example != text
        path.write_text(example)
        lint = run("--migrations-dir", str(tmp_path), "lint", "--db", store)
        assert lint.returncode == 0 and "0 error(s), 0 warning(s)" in lint.stdout, lint.stdout
        if store == "clickhouse":
            assert "ADD COLUMN IF NOT EXISTS" in example
    else:
        assert "scan_iter" in path.read_text() or store != "redis"


def test_new_description_cannot_add_sql_that_runs(pg: Settings, tmp_path: Path) -> None:
    hostile = "add orders\n-- migrate:up\nCREATE TABLE injected (id int);\n-- dbtools:no-transaction\r\u2028--"
    done = run("--migrations-dir", str(tmp_path), "new", "--db", "postgres", hostile)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert re.fullmatch(r"001_[a-z0-9_]+\.sql", path.name)
    text = path.read_text()
    path.write_text(text.replace("-- migrate:up\n", "-- migrate:up\nCREATE TABLE wanted (id int);\n", 1))
    migration = discover(tmp_path / "postgres", "postgres", ("sql",))[0]
    assert migration.directives == ()
    done = run("--migrations-dir", str(tmp_path), "migrate", "--db", "postgres", env=url_env(pg))
    assert done.returncode == 0, done.stderr
    import psycopg2

    with psycopg2.connect(pg.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('injected') IS NULL, to_regclass('wanted') IS NOT NULL")
        assert cur.fetchone() == (True, True)


@pytest.mark.parametrize("store", ["mongodb", "redis"])
def test_new_description_cannot_add_python_that_runs(tmp_path: Path, store: str) -> None:
    hostile = 'x"""\nimport os; os.system("touch pwned")\n"""\r# \u2028'
    done = run("--migrations-dir", str(tmp_path), "new", "--db", store, hostile)
    assert done.returncode == 0, done.stderr
    module = ast.parse(Path(done.stdout.strip()).read_text())
    kinds = [type(node).__name__ for node in module.body]
    assert kinds == ["Expr", "FunctionDef", "FunctionDef"], kinds  # the docstring, up and down: nothing else
    assert "os.system" not in ast.get_docstring(module)
