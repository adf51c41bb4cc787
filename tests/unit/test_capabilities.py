"""Each store's backend meets the declared contract; optional capabilities are asked with isinstance, and a
store without one is refused in one `error:`/`hint:` pair naming the capability."""

from __future__ import annotations

import pytest

from dbtools import backends, cli
from dbtools.backends.base import (
    Adoptable,
    AuditSink,
    Backend,
    Backupable,
    Describable,
    Isolating,
    LayoutChecked,
    Seedable,
)
from dbtools.runner import settings_for

# what each store offers beyond migrating (a capability added or dropped shows up here)
OFFERS = {
    "postgres": {Seedable, Backupable, Describable, AuditSink, Adoptable},
    "clickhouse": {Seedable, Backupable, Describable, Adoptable},
    "mongodb": {Seedable, Backupable, Describable, AuditSink, Adoptable},
    "redis": {Seedable, Backupable, Describable, LayoutChecked, Isolating},
}
CAPABILITIES = {Seedable, Backupable, Describable, AuditSink, Adoptable, LayoutChecked, Isolating}


@pytest.mark.parametrize("store", sorted(backends.REGISTRY))
def test_every_backend_meets_the_contract_and_declares_what_it_offers(store: str) -> None:
    cls = backends.load(store)
    backend = cls(settings_for(store, {}))  # connects nothing
    assert isinstance(backend, Backend)
    offered = {capability for capability in CAPABILITIES if isinstance(backend, capability)}
    assert offered == OFFERS[store]


def test_a_store_without_a_capability_is_one_error_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["check", "--db", "postgres"], default_env_file="/nonexistent")
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 2, lines
    assert lines[0] == "error: check is not available for postgres: its backend is not LayoutChecked"
    assert lines[1].startswith("hint: stores with a declared layout")
