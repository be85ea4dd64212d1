"""A loopback TCP proxy for outage tests (stdlib only, threads).

It listens on 127.0.0.1 (an ephemeral port) and forwards each connection to the real server,
byte for byte (TLS passes through untouched, so certificate checks still apply). Its mode can
be switched at any time:

- ``forward``: pass traffic through (the normal case);
- ``drop``: accept, then close at once (a server that hangs up: reset/EOF before the greeting);
- ``stall``: accept and never answer (a server that is up but hung; only a client timeout
  ends it).

Switching to ``drop`` or ``stall`` also cuts the connections that are open, so an outage can
start in the middle of a session. ``outage(mode, lasting=s)`` makes a short outage that ends
`s` seconds after the first connection meets it (so it is timed from the client's first try,
not from when the test set it up).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Literal

Mode = Literal["forward", "drop", "stall"]


class Proxy:
    def __init__(self, target_host: str, target_port: int, mode: Mode = "forward") -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = mode
        self.accepted = 0  # connections accepted so far, whatever the mode
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
                if mode == "drop":
                    with suppress(OSError):
                        client.close()
                    continue
                self._open.add(client)
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
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._forget(source)
            self._forget(sink)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
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
