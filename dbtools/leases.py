"""The migration lock's shared mechanics: waiting for it, and renewing a lease while a run holds it."""

from __future__ import annotations

import time
from collections.abc import Callable

from dbtools.errors import ConfigError, LockTimeout
from dbtools.settings import Settings

Waiting = Callable[[str], None]  # told once, when a run starts waiting: who holds the lock, how long we wait


def take_or_wait(
    store: str,
    where: str,
    attempt: Callable[[], bool],
    holder: Callable[[], str | None],
    timeout: float,
    *,
    on_wait: Waiting | None = None,
    breaking: str,
) -> None:
    """Call `attempt()` until it takes the lock, backing off from 20 ms to 0.5 s; LockTimeout after `timeout` s.

    Each attempt is one short command, so between attempts the waiter holds nothing on the server (a
    PostgreSQL waiter blocked inside a statement holds a snapshot that CREATE INDEX CONCURRENTLY in the
    holder waits for: a deadlock). The first time the lock is found taken, `on_wait` hears once who holds
    it and how long this run will wait. `breaking` says how to free a lock whose holder hangs or died."""
    started = time.monotonic()
    deadline = started + timeout
    pause = 0.02
    told = False
    while not attempt():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockTimeout(
                f"{store}: the migration lock on {where} is held by "
                f"{holder() or 'another run (it has gone since)'}; waited {time.monotonic() - started:.1f} s",
                hint=f"wait for that run to finish and retry (or raise --lock-timeout); {breaking}",
            )
        if not told and on_wait is not None:
            who = holder()
            if who is not None:  # None: freed in the meantime, the next attempt may take it
                on_wait(f"held by {who}; will wait up to {timeout:g} s (--lock-timeout)")
                told = True
        time.sleep(min(pause, max(remaining, 0)))
        pause = min(pause * 2, 0.5)


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
        import threading  # only runs that hold a lease pay for it

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
