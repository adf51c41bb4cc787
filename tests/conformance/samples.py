"""Per-store sample migrations for the conformance suite; each store's own are in tests/<store>/samples.py.

A store's `SAMPLES` says how to write a migration that creates object `t{i}`, one whose second statement
fails (after a first that creates `part_{i}`), one that is slow, and how to list objects in a snapshot.
A store registered (dbtools.backends.registry) with a tests/<store>/samples.py runs the suite.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbtools import backends


@dataclass(frozen=True)
class Samples:
    ext: str
    create: Callable[[int], str]  # migration creating object t{i}, with a down section
    failing: Callable[[int, bool], str]  # statement 1 creates part_{i}; statement 2 fails unless fixed
    slow: Callable[[float], str]  # a migration that runs for about `seconds`
    objects: Callable[[dict[str, Any]], set[str]]  # object names in a snapshot
    multiprocess: bool = True  # several processes may open the store at once


def script(up: str, down: str) -> str:
    """A Python migration (MongoDB, Redis): `up` and `down` bodies, one statement per line."""
    return f"import time\n\n\ndef up(c):\n    {up}\n\n\ndef down(c):\n    {down}\n"


def failing_script(create: str, drop: str, fixed: bool, fail: str) -> str:
    """Two steps: the first creates, the second fails unless fixed (see dbtools.scripts on steps)."""
    second = "pass" if fixed else fail
    return (
        f"def create(c):\n    {create}\n\n\ndef second(c):\n    {second}\n\n\n"
        f"up = [create, second]\n\n\ndef down(c):\n    {drop}\n"
    )


def samples_of(store: str) -> Samples | None:
    """tests/<store>/samples.py's SAMPLES; None when the store has none (it is left out of the suite)."""
    try:
        module = importlib.import_module(f"tests.{store}.samples")
    except ModuleNotFoundError as exc:
        if exc.name in (f"tests.{store}", f"tests.{store}.samples"):
            return None
        raise
    return module.SAMPLES


SAMPLES: dict[str, Samples] = {store: found for store in backends.registry() if (found := samples_of(store))}
