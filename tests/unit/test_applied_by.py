"""Who ran a migration is looked up once per process, not once per history row."""

from __future__ import annotations

import getpass

import pytest

from dbtools.backends import base


def test_the_user_name_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = getpass.getuser
    monkeypatch.setattr(getpass, "getuser", lambda: calls.append(1) or real())
    base.applied_by.cache_clear()
    try:
        tags = {base.applied_by() for _ in range(500)} | {base.owner_tag().rsplit(" ", 1)[1] for _ in range(500)}
    finally:
        base.applied_by.cache_clear()
    assert len(tags) == 1 and len(calls) == 1
