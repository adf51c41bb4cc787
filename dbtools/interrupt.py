"""Ctrl-C that stops the work now: the statement in flight is cancelled on its server.

While a statement runs, the main thread waits inside the driver (libpq waits in C and retries
after a signal), so Python's KeyboardInterrupt would arrive only when the statement ends. A
backend runs each statement inside `cancellable(cancel)`: the first SIGINT then wakes a helper
thread (through the signal wakeup fd, written by the C-level handler at once), which calls
`cancel` - PostgreSQL's cancel request, ClickHouse's KILL QUERY. The driver returns the server's
"cancelled" error, the backend records in history what stayed, and the runner stops with
`Interrupted` (one line, exit 130). A store that cannot cancel (chdb's in-process engine, a
Python step of a Redis or MongoDB script) passes `cancel=None`: the step runs to its end and the
run stops before the next one. A region entered after Ctrl-C raises `Stopped` at once, before its
statement starts. Outside a region SIGINT raises KeyboardInterrupt as Python always does. A
second Ctrl-C quits at once (exit 130), as a kill would: history then shows the migration as
interrupted.

Installed lazily, by the first region entered in the main thread (the no-op path never pays for
it), and removed by `restore()`, which the CLI calls when it is done.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

_lock = threading.Lock()
_cancel: Callable[[], None] | None = None  # how to stop the statement in flight
_inside = 0  # regions the main thread is in
_presses = 0  # SIGINTs the helper thread saw since install
_signalled = False  # the main thread's handler ran (it may run before the helper thread wakes)
_pipe: tuple[int, int] | None = None  # the wakeup fd's (read, write) ends while installed


class Stopped(Exception):
    """A region entered after Ctrl-C: its statement was not started."""

    def __init__(self) -> None:
        super().__init__("interrupted (Ctrl-C) before it started")


def requested() -> bool:
    """Whether Ctrl-C was pressed since the handler was installed."""
    return _presses > 0 or _signalled


@contextmanager
def cancellable(cancel: Callable[[], None] | None) -> Iterator[None]:
    """Run one statement (or step) so that Ctrl-C cancels it with `cancel` (None: let it finish).

    Raises Stopped, without running the body, when Ctrl-C came before it. `cancel` is called from
    another thread while the body runs, so it must be thread-safe (psycopg2's `connection.cancel`
    is; a second connection's KILL QUERY is)."""
    if requested():
        raise Stopped
    with _region(cancel):
        yield


@contextmanager
def held() -> Iterator[None]:
    """Run a history write so that Ctrl-C waits for it: the row is written whole, and the next
    `cancellable` region raises Stopped (a step that began only after it, so nothing of it ran).
    A second Ctrl-C still quits at once."""
    with _region(None):
        yield


@contextmanager
def _region(cancel: Callable[[], None] | None) -> Iterator[None]:
    """While the body runs, SIGINT is noted (and `cancel` called from the helper thread), not raised."""
    global _cancel, _inside
    if threading.current_thread() is threading.main_thread():
        _install()
    with _lock:
        _cancel, _inside = cancel, _inside + 1
    try:
        yield
    finally:
        with _lock:
            _cancel, _inside = None, _inside - 1


def _install() -> None:
    """SIGINT -> `_on_sigint` in the main thread and a byte on a pipe the helper thread reads."""
    global _pipe
    if _pipe is not None or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return  # installed already, or someone else handles Ctrl-C in this process
    read, write = os.pipe()
    os.set_blocking(write, False)
    if signal.set_wakeup_fd(write, warn_on_full_buffer=False) != -1:  # pragma: no cover - an event loop has it
        signal.set_wakeup_fd(-1)
        os.close(read)
        os.close(write)
        return
    _pipe = (read, write)
    signal.signal(signal.SIGINT, _on_sigint)
    threading.Thread(target=_watch, args=(read,), name="dbtools-ctrl-c", daemon=True).start()


def restore() -> None:
    """Put Python's own SIGINT handling back and stop the helper thread (the CLI calls this at exit)."""
    global _pipe, _presses, _signalled
    if _pipe is None:
        return
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.close(_pipe[1])  # the helper reads end-of-file and returns; it closes the read end
    _pipe, _presses, _signalled = None, 0, False


def _on_sigint(signum: int, frame: object) -> None:
    """In the main thread: inside a region the helper thread does the work; elsewhere, as usual."""
    global _signalled
    if not _inside:
        raise KeyboardInterrupt
    _signalled = True


def _watch(read: int) -> None:
    try:
        while data := os.read(read, 64):
            for _ in range(data.count(signal.SIGINT)):
                _pressed()
    finally:
        os.close(read)


def _pressed() -> None:
    global _presses
    with _lock:
        _presses += 1
        first, cancel = _presses == 1, _cancel
    if not first:
        print("interrupted again: quitting now (history shows the migration as interrupted)", file=sys.stderr)
        os._exit(130)
    if cancel is not None:
        with suppress(Exception):  # cancel failed: the statement runs to its end, the run stops after it
            cancel()
