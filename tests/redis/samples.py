"""Redis's samples for the conformance suite (tests/conformance/samples.py)."""

from __future__ import annotations

from typing import Any

from tests.conformance.samples import Samples, failing_script, script


def _objects(snapshot: dict[str, Any]) -> set[str]:
    return set(snapshot["keys"])


SAMPLES = Samples(
    ext="py",
    create=lambda i: script(f"c.hset('t{i}', 'v', '1')", f"c.delete('t{i}')"),
    failing=lambda i, fixed: failing_script(
        f"c.hset('part_{i}', 'v', '1')", f"c.delete('part_{i}')", fixed, "c.execute_command('NO_SUCH_COMMAND')"
    ),
    slow=lambda seconds: script(f"time.sleep({seconds})", "pass"),
    objects=_objects,
)
