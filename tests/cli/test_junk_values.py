"""Numbers that are not numbers: every typed setting every backend declares and every numeric option of
the command line, fed junk, is one `error:` line naming it and the fault, a `hint:` line, exit 2."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbtools import backends, cli, runner
from dbtools.errors import ConfigError
from dbtools.values import Number

JUNK = ["5 4", "²", "nan", "inf", "-inf", "-1", "1e308", "0x10", "1_000", "abc", "9" * 5000, "3\n4"]
UNSET = ["", "   ", "\t"]  # an empty variable counts as unset (docker env files write them)
FAR_AWAY = "127.0.0.2"  # loopback that nothing listens on: a value that slipped through fails fast, harmlessly


def typed_variables() -> Iterator[tuple[str, str, str, object]]:
    """(store, env variable, option name, kind) for every value a backend declares a kind for."""
    for store in sorted(backends.REGISTRY):
        defaults = backends.load(store).defaults
        yield store, defaults.port[0], "port", "port"
        if "database" in defaults.kinds:
            yield store, defaults.database[0], "database", defaults.kinds["database"]
        for name, variable in defaults.options.items():
            if name in defaults.kinds:
                yield store, variable, name, defaults.kinds[name]


def free_text_variables() -> Iterator[tuple[str, str]]:
    for store in sorted(backends.REGISTRY):
        defaults = backends.load(store).defaults
        typed = {defaults.port[0]} | {v for _, v, _, _ in typed_variables() if _ == store}
        names = [defaults.host[0], defaults.database[0], defaults.user[0], defaults.password[0]]
        for variable in [*names, *defaults.options.values()]:
            if variable not in typed:
                yield store, variable


TYPED = list(typed_variables())


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No store settings from the machine; every store's host unreachable; an empty migrations folder."""
    import os

    for name in list(os.environ):
        if name.startswith(("POSTGRES_", "CLICKHOUSE_", "REDIS_", "MONGO_")):
            monkeypatch.delenv(name)
    for store in backends.REGISTRY:
        monkeypatch.setenv(backends.load(store).defaults.host[0], FAR_AWAY)
        (tmp_path / store).mkdir()
    monkeypatch.setenv("DBTOOLS_MIGRATIONS_DIR", str(tmp_path))
    return monkeypatch


def one_error_line(capsys: pytest.CaptureFixture[str], code: int, *needles: str) -> None:
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), err
    assert len(lines[0]) < 300, "the junk was repeated in full"
    for needle in needles:
        assert needle in lines[0], (needle, err)


def test_every_backend_declares_its_typed_values() -> None:
    """The walk below covers what the backends declare; a store with no typed value would be skipped."""
    assert {store for store, *_ in TYPED} == set(backends.REGISTRY)
    assert len(TYPED) >= 2 * len(backends.REGISTRY)


@pytest.mark.parametrize(("store", "variable", "name", "kind"), TYPED, ids=[f"{s}-{v}" for s, v, _, _ in TYPED])
def test_junk_in_a_typed_variable_is_one_line(store, variable, name, kind, clean_env, capsys) -> None:
    for junk in JUNK:
        clean_env.setenv(variable, junk)
        code = cli.main(["status", "--db", store])
        one_error_line(capsys, code, variable)
    clean_env.delenv(variable)
    unset = runner.settings_for(store)
    for blank in UNSET:
        clean_env.setenv(variable, blank)
        assert runner.settings_for(store) == unset


@pytest.mark.parametrize(("store", "variable", "name", "kind"), TYPED, ids=[f"{s}-{v}" for s, v, _, _ in TYPED])
def test_junk_in_the_url_form_is_one_line(store, variable, name, kind, clean_env, capsys) -> None:
    defaults = backends.load(store).defaults
    scheme = defaults.schemes[0]
    for junk in JUNK:
        if name == "port":
            url = f"{scheme}://{FAR_AWAY}:{junk}/db"
        elif name == "database":
            url = f"{scheme}://{FAR_AWAY}:1/{junk}"
        else:
            url = f"{scheme}://{FAR_AWAY}:1/db?{name}={junk}"
        clean_env.setenv(defaults.url_env, url)
        code = cli.main(["status", "--db", store])
        one_error_line(capsys, code, defaults.url_env)


@pytest.mark.parametrize(("store", "variable"), list(free_text_variables()))
def test_free_text_variables_keep_junk_as_data(store: str, variable: str, clean_env) -> None:
    """Names, users, passwords: any text is a value, kept exactly (or refused as a ConfigError)."""
    for junk in [*JUNK, "x y", "Ünïcødé"]:
        clean_env.setenv(variable, junk)
        try:
            settings = runner.settings_for(store)
        except ConfigError:
            continue
        assert junk in (settings.host, settings.database, settings.user, settings.password, *settings.options.values())


def numeric_options() -> Iterator[tuple[str, str]]:
    """(command, option) for every option of the CLI that takes a number."""
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, sub in commands.choices.items():
        for action in sub._actions:
            numeric = action.type in (int, float) or isinstance(getattr(action.type, "kind", None), Number)
            if numeric:
                yield command, action.option_strings[-1]


OPTIONS = list(numeric_options())


def test_the_walk_finds_the_numeric_options() -> None:
    assert {("migrate", "--lock-timeout"), ("migrate", "--to"), ("rollback", "--steps"), ("seed", "--seed")} <= set(
        OPTIONS
    )


@pytest.mark.parametrize(("command", "option"), OPTIONS)
def test_junk_in_a_numeric_option_is_one_line(command: str, option: str, clean_env, capsys) -> None:
    for junk in [*JUNK, "", " "]:
        code = cli.main([command, "--db", "postgres", f"{option}={junk}"])
        one_error_line(capsys, code, option)
