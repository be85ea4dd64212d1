"""A loopback TCP proxy for outage tests (stdlib only, threads).

It listens on 127.0.0.1 (an ephemeral port) and forwards each connection to the real server,
byte for byte (TLS passes through untouched, so certificate checks still apply). Its mode can
be switched at any time:

- ``forward``: pass traffic through (the normal case);
- ``drop``: accept, then close at once (a server that hangs up: reset/EOF before the greeting);
- ``stall``: accept and never answer (a server that is up but hung; only a client timeout
  ends it).

Each forwarded connection counts its client turns (`turns`, one entry per connection): a turn
is what the client sends after the server last sent something (or first). A round trip costs
the client one turn, so the count shows how many a session took, with no clock. `client_bytes`
counts what the client sent. `on_answer_to(turn, "cut"|"mute")` cuts the connection, or
silently swallows the server's bytes, once the server answers the client's turn `turn` (that
answer never reaches the client): "the message went out, its answer never came back".

Switching to ``drop`` or ``stall`` also cuts the connections that are open, so an outage can
start in the middle of a session. ``outage(mode, lasting=s)`` makes a short outage that ends
`s` seconds after the first connection meets it (so it is timed from the client's first try,
not from when the test set it up).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Literal

Mode = Literal["forward", "drop", "stall"]


class Proxy:
    def __init__(self, target_host: str, target_port: int, mode: Mode = "forward") -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = mode
        self.accepted = 0  # connections accepted so far, whatever the mode
        self.max_clients: int | None = None  # more connections at once are dropped at once
        self.turned_away = 0  # connections dropped by that limit
        self._clients: set[socket.socket] = set()
        self.turns: list[int] = []  # client turns of each forwarded connection
        self.client_bytes: list[int] = []  # bytes the client sent on each forwarded connection
        self._answer_to: tuple[int, int, str] | None = None  # connection, turn, action
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closing = threading.Event()
        self._lasting: float | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"proxy:{self.port}")
        self._thread.start()

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self.mode = mode
            if mode != "forward":
                self._cut_all()

    def cut(self) -> None:
        """Cut the open connections (a connection lost mid-session); new ones are served."""
        with self._lock:
            self._cut_all()

    def outage(self, mode: Mode, *, lasting: float) -> None:
        """Drop or stall from now on, until `lasting` seconds after the first connection."""
        with self._lock:
            self._lasting = lasting
        self.set_mode(mode)

    def on_answer_to(self, turn: int, action: Literal["cut", "mute"]) -> None:
        """Cut (or mute) the newest connection when the server answers its client's turn
        `turn`; later connections are served normally."""
        with self._lock:
            self._answer_to = (len(self.turns) - 1, turn, action)

    def settled(self, timeout: float = 5.0) -> None:
        """Wait until every forwarded connection has ended (its counts are final)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._open:
                    return
            if time.monotonic() >= deadline:
                raise AssertionError("the proxied connections did not end")
            time.sleep(0.01)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=2)
        with suppress(OSError):
            self._listener.close()
        with self._lock:
            self._cut_all()

    @property
    def open_connections(self) -> int:
        """Sockets still open on either side (0: every connection has ended)."""
        with self._lock:
            return len(self._open)

    # ------------------------------------------------------------------ internals

    def _cut_all(self) -> None:
        for sock in list(self._open):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()
        self._open.clear()
        self._clients.clear()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                mode = self.mode
                if self._lasting is not None and mode != "forward":
                    timer = threading.Timer(self._lasting, self.set_mode, ("forward",))
                    timer.daemon = True
                    timer.start()
                    self._lasting = None
                full = self.max_clients is not None and len(self._clients) >= self.max_clients
                self.turned_away += full and mode == "forward"
                if mode == "drop" or full:
                    with suppress(OSError):
                        client.close()
                    continue
                self._open.add(client)
                self._clients.add(client)
            if mode == "stall":
                continue  # held open, never answered, until cut or closed
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._forget(client)
            return
        upstream.settimeout(None)
        with self._lock:
            if client not in self._open:  # cut while we were connecting
                upstream.close()
                return
            self._open.add(upstream)
            index = len(self.turns)
            self.turns.append(0)
            self.client_bytes.append(0)
        spoke = ["server"]  # who sent last on this connection (the client's first data counts)
        for source, sink, who in ((client, upstream, "client"), (upstream, client, "server")):
            threading.Thread(target=self._pipe, args=(source, sink, who, spoke, index),
                             daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, who: str, spoke: list[str],
              index: int) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                # Noted before forwarding: the other side can only answer after this.
                with self._lock:
                    if who == "client":
                        if spoke[0] == "server":
                            self.turns[index] += 1
                        self.client_bytes[index] += len(data)
                    spoke[0] = who
                    if who == "server" and self._answer_to is not None:
                        connection, turn, action = self._answer_to
                        if connection == index and self.turns[index] >= turn:
                            if action == "cut":
                                break
                            continue  # muted: swallowed
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._forget(source)
            self._forget(sink)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
            self._clients.discard(sock)
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with suppress(OSError):
            sock.close()


@contextmanager
def proxy(target_host: str, target_port: int, mode: Mode = "forward") -> Iterator[Proxy]:
    p = Proxy(target_host, target_port, mode)
    try:
        yield p
    finally:
        p.close()
