"""Renewing a lease-style lock (a key or document with an expiry) while a long run holds it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from dbtools.errors import ConfigError
from dbtools.settings import Settings


def lease_seconds(settings: Settings, default: float, variable: str) -> float:
    """The lock lease from the `lock_ttl` option (env `variable` or URL query), else `default`."""
    raw = settings.options.get("lock_ttl") or settings.query.get("lock_ttl") or default
    try:
        ttl = float(raw)
    except ValueError:
        raise ConfigError(
            f"{settings.store}: lock TTL {raw!r} is not a number", hint=f"set {variable} in seconds"
        ) from None
    if ttl < 0.3:
        raise ConfigError(f"{settings.store}: lock TTL {ttl} s is too short", hint=f"use {variable} of 1 s or more")
    return ttl


class Heartbeat:
    """Call `renew()` every `interval` s in a daemon thread until stopped.

    `renew()` returns False when the lease is no longer ours (it expired and someone took it, or
    `unlock --force` broke it): the beat stops and `lost` says so, for the run to stop before its
    next step. An exception from `renew()` is a blip: the next beat retries, and a TTL of three
    intervals leaves two more chances before the lease can lapse."""

    def __init__(self, renew: Callable[[], bool], interval: float, *, what: str = "the migration lock") -> None:
        self._renew = renew
        self._interval = interval
        self._what = what
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dbtools-lease", daemon=True)
        self.lost: str | None = None

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                held = self._renew()
            except Exception:  # a blip (see the class docstring): retried on the next beat
                continue
            if not held:
                self.lost = f"{self._what} was lost (it expired or was broken with `unlock --force`)"
                return
