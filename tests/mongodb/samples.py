"""MongoDB's samples for the conformance suite (tests/conformance/samples.py)."""

from __future__ import annotations

from typing import Any

from tests.conformance.samples import Samples, failing_script, script


def _objects(snapshot: dict[str, Any]) -> set[str]:
    return set(snapshot["collections"])


SAMPLES = Samples(
    ext="py",
    create=lambda i: script(f"c.create_collection('t{i}')", f"c.drop_collection('t{i}')"),
    failing=lambda i, fixed: failing_script(
        f"c.create_collection('part_{i}')", f"c.drop_collection('part_{i}')", fixed, "c.command('no_such_command')"
    ),
    slow=lambda seconds: script(f"time.sleep({seconds})", "pass"),
    objects=_objects,
)
