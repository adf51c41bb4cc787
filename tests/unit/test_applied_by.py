"""Who ran a migration is looked up once per process, not once per history row, and named as getpass names it."""

from __future__ import annotations

import getpass

import pytest

from dbtools.backends import base


def test_the_user_name_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = base._user_name
    monkeypatch.setattr(base, "_user_name", lambda: calls.append(1) or real())
    base.applied_by.cache_clear()
    try:
        tags = {base.applied_by() for _ in range(500)} | {base.owner_tag().rsplit(" ", 1)[1] for _ in range(500)}
    finally:
        base.applied_by.cache_clear()
    assert len(tags) == 1 and len(calls) == 1


@pytest.mark.parametrize(
    "environment",
    [{}, {"LOGNAME": "ann"}, {"USER": "bob"}, {"LNAME": "cy"}, {"USERNAME": "di"}, {"USER": "bob", "LOGNAME": "ann"},
     {"LOGNAME": "", "USER": "bob"}],
)  # fmt: skip
def test_the_user_is_who_getpass_says(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> None:
    """getpass is not imported on a run's path (it brings termios); the name is the one getpass.getuser gives."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert base._user_name() == getpass.getuser()
