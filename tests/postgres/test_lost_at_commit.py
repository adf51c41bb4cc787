"""A connection lost once a migration's COMMIT was sent may have lost only the server's answer: the
transaction can have committed. dbtools then reads history again on a new session (the history row
commits with the migration) and says which it was, instead of claiming "nothing was kept".

The network cut is made by a small TCP relay between dbtools and a real PostgreSQL server: it passes
everything through until it sees a marked query, lets the server run it to the end, and then closes
the client's side without passing the answer on. That is what a dropped link or a killed proxy does
to a session; the server is real, only the wire is cut."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbtools.settings import Settings
from tests.postgres.conftest import query
from tests.postgres.test_connection_lost import cli, env_for, the_error

MARK = b"cut-the-wire-here"
READY_FOR_QUERY = b"Z\x00\x00\x00\x05"  # ReadyForQuery and its length; one status byte follows


class WireCutter:
    """A TCP relay to `port` that cuts the first session sending MARK once the server has answered it."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            marked = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, marked), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, marked), daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket, marked: threading.Event) -> None:
        seen = b""
        while data := _recv(client):
            if not self.cut.is_set() and MARK in seen + data:
                marked.set()
            seen = data[-len(MARK) :]
            server.sendall(data)
        server.close()

    def _downstream(self, server: socket.socket, client: socket.socket, marked: threading.Event) -> None:
        answer = b""
        while data := _recv(server):
            if not marked.is_set():
                client.sendall(data)
                continue
            answer += data  # held back: the client never hears that its query ran
            if answer[-6:-1] == READY_FOR_QUERY:  # the query has run to its end
                self.cut.set()
                break
        for end in (client, server):  # shutdown first: the other thread's recv() holds the socket open
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


@pytest.fixture
def cutter(pg: Settings) -> Iterator[WireCutter]:
    relay = WireCutter(pg.port)
    yield relay
    relay.close()


def through(settings: Settings, relay: WireCutter) -> dict[str, str]:
    env = env_for(settings)
    env["POSTGRES_URL"] = settings.url.replace(f":{settings.port}/", f":{relay.port}/", 1)
    assert env["POSTGRES_URL"] != settings.url
    return env


def folder(tmp_path: Path, up: str, down: str = "") -> Path:
    (tmp_path / "postgres").mkdir()
    text = f"-- migrate:up\n{up}\n-- migrate:down\n{down}\n" if down else up
    (tmp_path / "postgres" / "001_cut.sql").write_text(text)
    return tmp_path


def test_answer_lost_after_commit_is_reported_as_applied(pg: Settings, cutter: WireCutter, tmp_path: Path) -> None:
    mdir = folder(tmp_path, f"-- {MARK.decode()}\nCREATE TABLE kept (id int);\n")
    error = the_error(cli(mdir, "migrate", "--db", "postgres", env=through(pg, cutter)))
    assert cutter.cut.is_set()
    assert "the connection was lost while applying 001_cut" in error
    assert "its transaction had committed" in error and "records it as applied" in error
    assert "nothing of it was kept" not in error
    assert query(pg, "SELECT to_regclass('kept')::text") == [("kept",)]
    status = json.loads(cli(mdir, "status", "--json", "--db", "postgres", env=env_for(pg)).stdout)["postgres"]
    assert status["applied"] == [1] and status["pending"] == []


def test_rollback_whose_answer_was_lost_after_commit(pg: Settings, cutter: WireCutter, tmp_path: Path) -> None:
    mdir = folder(tmp_path, "CREATE TABLE kept (id int);", f"-- {MARK.decode()}\nDROP TABLE kept;")
    env = env_for(pg)
    assert cli(mdir, "migrate", "--db", "postgres", env=env).returncode == 0
    error = the_error(cli(mdir, "rollback", "--steps", "1", "--db", "postgres", env=through(pg, cutter)))
    assert "the connection was lost while rolling back 001_cut" in error
    assert "its transaction had committed" in error and "records it as rolled back" in error
    assert query(pg, "SELECT to_regclass('kept')") == [(None,)]
    status = json.loads(cli(mdir, "status", "--json", "--db", "postgres", env=env).stdout)["postgres"]
    assert status["applied"] == [] and status["pending"] == [1]


def test_session_that_died_before_commit_is_still_nothing(pg: Settings, tmp_path: Path) -> None:
    """The migration ends its own session before COMMIT: the new session finds no row, and says so."""
    mdir = folder(tmp_path, "CREATE TABLE gone (id int);\nSELECT pg_terminate_backend(pg_backend_pid());\n")
    error = the_error(cli(mdir, "migrate", "--db", "postgres", env=env_for(pg)))
    assert "did not commit (history, read again on a new session, is unchanged)" in error
    assert query(pg, "SELECT to_regclass('gone')") == [(None,)]
