"""The migration lock's shared mechanics: waiting for it, and the one lease engine.

Stores without a server-side session lock (Redis, MongoDB, ClickHouse) hold a *lease*: a lock record
carrying a random token. `Lease` is the engine they share: take it (`take_or_wait`), renew it by a
heartbeat while the run holds it, check it before each step, make every history write conditional
on it (`Lease.write`: the store writes the row only if the record still holds our token, in one
atomic command where it can), and release it only with our token. A store brings four primitives
(`LeaseStore`) and one guarded write; the engine owns the rest, so "the lease was lost" means, and
says, the same on every store. PostgreSQL needs none of it: its advisory lock lives and dies with
the session that runs the migration.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Protocol

from dbtools.errors import ConfigError, LeaseLost, LockTimeout
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
            raise LockTimeout(store, holder(), time.monotonic() - started, where=where, breaking=breaking)
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


class LeaseStore(Protocol):
    """A store's primitives on its lock record; each one command the store runs atomically."""

    def take(self, token: str, ttl: float) -> bool:
        """Create the record with `token` if there is none (or it expired); True when taken."""

    def renew(self, token: str, ttl: float) -> bool:
        """Push the expiry `ttl` s ahead if the record still holds `token`; False when it does not."""

    def release(self, token: str) -> None:
        """Delete the record if it still holds `token` (never someone else's)."""

    def holder(self) -> str | None:
        """Who holds the lock now, for messages and `status`; None when it is free."""


class Lease:
    """One run's hold on a store's lease lock (see the module docstring).

    `heartbeat=False` for a store whose client cannot be shared with a thread (ClickHouse renews
    inline, between statements, and its lock never expires by itself)."""

    def __init__(
        self,
        store: str,
        where: str,
        primitives: LeaseStore,
        ttl: float,
        *,
        heartbeat: bool = True,
        lost_because: str = "",
    ) -> None:
        import uuid  # with platform, a few ms of import for a run that takes no lease

        self.store = store
        self.where = where
        self.primitives = primitives
        self.ttl = ttl
        self.token = uuid.uuid4().hex
        self._heartbeat = heartbeat
        self._beat: Heartbeat | None = None
        self._lost = False
        self._lost_because = lost_because or (
            f"its lease ({ttl:g} s) ran out while the run was paused or cut off, or `unlock --force` broke it"
        )

    @contextmanager
    def held(self, timeout: float, on_wait: Waiting | None, *, breaking: str) -> Iterator[Lease]:
        """Take the lock (waiting up to `timeout` s), renew it while the block runs, release it after."""
        take_or_wait(
            self.store,
            self.where,
            lambda: self.primitives.take(self.token, self.ttl),
            self.primitives.holder,
            timeout,
            on_wait=on_wait,
            breaking=breaking,
        )
        try:
            if self._heartbeat:
                self._beat = Heartbeat(lambda: self.primitives.renew(self.token, self.ttl), self.ttl / 3)
                with self._beat:
                    yield self
            else:
                yield self
        finally:
            with suppress(Exception):  # an unreachable server: the lease expires (or is broken) without us
                self.primitives.release(self.token)

    @property
    def lost(self) -> bool:
        """True once the heartbeat or a guarded write found the lock no longer ours."""
        return self.lost_reason() is not None

    def lost_reason(self) -> str | None:
        """Why the lock is no longer ours, None while it is."""
        if self._beat is not None and self._beat.lost is not None:
            return self._beat.lost
        return f"the migration lock was lost ({self._lost_because})" if self._lost else None

    def error(self) -> LeaseLost:
        """The one line a run that lost its lease stops with."""
        return LeaseLost(
            f"{self.store}: this run lost the migration lock on {self.where} ({self._lost_because}) "
            "and stopped without writing more history",
            hint=f"another run may hold the lock now: see `status --db {self.store}`; raise the lease "
            "(the store's *_LOCK_TTL / *_LOCK_LEASE setting) if runs are paused longer than it",
        )

    def check(self) -> None:
        """Raise LeaseLost if the lock is no longer ours (before each step of a migration)."""
        if self.lost:
            raise self.error()

    def write(self, guarded: Callable[[str], bool]) -> None:
        """Run a history write that the store makes conditional on our token (`guarded(token)` returns
        False when the record no longer holds it, having written nothing); raise LeaseLost then."""
        self.check()
        if not guarded(self.token):
            self._lost = True
            raise self.error()


class LeaseHolder:
    """What every lease-locked backend shares around its `Lease`: hold it for a block (`_holding`),
    check it before each step (`_check_lease`) and say why it was lost (`lock_lost`)."""

    _lease: Lease | None

    @contextmanager
    def _holding(self, lease: Lease, timeout: float, on_wait: Waiting | None, *, breaking: str) -> Iterator[None]:
        """Take `lease` (see `Lease.held`) and keep it as this backend's lease while the block runs."""
        with lease.held(timeout, on_wait, breaking=breaking):
            self._lease = lease
            try:
                yield
            finally:
                self._lease = None

    def _check_lease(self) -> None:
        """Before each step: stop if the lock is no longer ours."""
        if self._lease is not None:
            self._lease.check()

    def lock_lost(self) -> str | None:
        """Why the lock this run holds is no longer ours, None while it is (or when none is held)."""
        return self._lease.lost_reason() if self._lease is not None else None


_OWNER = re.compile(r"dbtools \S+ pid (\d+) [^@\s]*@([^\s,;)]+)")


def holder_gone(holder: str | None) -> bool:
    """True when `holder` (a lock holder as `lock_holder()` tells it) names a dbtools run on this host
    whose process no longer exists: its lock is left over from a run that died, not a run in progress.
    False when it is alive, on another host, or cannot be told."""
    import os

    found = _OWNER.search(holder or "")
    if found is None or found[2] != os.uname().nodename:
        return False
    try:
        os.kill(int(found[1]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return False
