"""A TCP proxy between the app and PostgreSQL that a test can cut and restore.

``cut()`` is what the app sees when PostgreSQL restarts or the network drops: every live
connection is closed and new ones are refused (the listening socket is closed, so connecting
gets ECONNREFUSED). ``restore()`` listens again on the same port. Both return once done, so a
test never has to wait or guess.

One thread does everything (accepting, copying bytes both ways, cutting) with a selector, on
the loopback interface only. It is bounded: at most ``max_connections`` pairs at once (more
are closed at once), and it stops by itself after ``lifetime`` seconds even if a test forgets
to call ``stop()``.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"
_CHUNK = 65536
_COMMAND_TIMEOUT = 5.0


@dataclass
class _Pair:
    """A client connection and its upstream connection to the database."""

    client: socket.socket
    upstream: socket.socket

    def peer_of(self, sock: socket.socket) -> socket.socket:
        return self.upstream if sock is self.client else self.client


@dataclass
class _Command:
    action: Callable[[], None]
    done: threading.Event = field(default_factory=threading.Event)


class CuttableProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream`` until told to cut."""

    def __init__(self, upstream: tuple[str, int], *, max_connections: int = 16,
                 lifetime: float = 120.0) -> None:
        self.upstream = upstream
        self.max_connections = max_connections
        self.accepted = 0  # connections accepted over the proxy's life (for reports)
        self.cuts = 0
        self._deadline = time.monotonic() + lifetime
        self._selector = selectors.DefaultSelector()
        self._pairs: dict[socket.socket, _Pair] = {}
        self._commands: list[_Command] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._listener: socket.socket | None = None
        self.port = self._listen(0)
        self._running = True
        self._thread = threading.Thread(target=self._run, name="db-proxy", daemon=True)
        self._thread.start()

    # --- the test's side -------------------------------------------------------------------

    @property
    def live_connections(self) -> int:
        return len(self._pairs) // 2

    def cut(self) -> None:
        """Close every live connection and refuse new ones, as a stopped server does."""
        self.cuts += 1
        self._do(self._cut)

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        self._do(self._restore)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._do(self._stop)
        self._thread.join(timeout=_COMMAND_TIMEOUT)

    def __enter__(self) -> CuttableProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _do(self, action: Callable[[], None]) -> None:
        """Run ``action`` in the proxy's thread and wait for it (sockets have one owner)."""
        if not self._thread.is_alive():
            raise RuntimeError("the database proxy has stopped (its lifetime ran out?)")
        command = _Command(action)
        with self._lock:
            self._commands.append(command)
        self._wake_w.send(b"x")
        if not command.done.wait(_COMMAND_TIMEOUT):
            raise RuntimeError("the database proxy did not answer")

    # --- the proxy's thread ----------------------------------------------------------------

    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, port))
        listener.listen(self.max_connections)
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ)
        self._listener = listener
        return listener.getsockname()[1]

    def _run(self) -> None:
        try:
            while self._running and time.monotonic() < self._deadline:
                for key, _events in self._selector.select(timeout=0.5):
                    self._ready(key.fileobj)  # type: ignore[arg-type]
        finally:
            self._close_all()

    def _ready(self, sock: socket.socket) -> None:
        if sock is self._wake_r:
            self._run_commands()
        elif sock is self._listener:
            self._accept()
        elif sock in self._pairs:
            self._forward(sock)

    def _run_commands(self) -> None:
        self._wake_r.recv(_CHUNK)
        with self._lock:
            commands, self._commands = self._commands, []
        for command in commands:
            try:
                command.action()
            finally:
                command.done.set()

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self.live_connections >= self.max_connections:
            client.close()
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=_COMMAND_TIMEOUT)
        except OSError:
            client.close()
            return
        self.accepted += 1
        pair = _Pair(client, upstream)
        for sock in (client, upstream):
            sock.setblocking(True)
            sock.settimeout(_COMMAND_TIMEOUT)  # a stuck peer cannot hang the proxy for long
            self._pairs[sock] = pair
            self._selector.register(sock, selectors.EVENT_READ)

    def _forward(self, sock: socket.socket) -> None:
        pair = self._pairs[sock]
        try:
            data = sock.recv(_CHUNK)
            if data:
                pair.peer_of(sock).sendall(data)
                return
        except OSError:
            pass
        self._close_pair(pair)

    def _close_pair(self, pair: _Pair) -> None:
        for sock in (pair.client, pair.upstream):
            if self._pairs.pop(sock, None) is not None:
                self._selector.unregister(sock)
            sock.close()

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None

    def _cut(self) -> None:
        self._close_listener()
        for pair in list({id(p): p for p in self._pairs.values()}.values()):
            self._close_pair(pair)

    def _restore(self) -> None:
        if self._listener is None:
            self._listen(self.port)

    def _stop(self) -> None:
        self._running = False

    def _close_all(self) -> None:
        self._running = False
        self._cut()
        self._selector.unregister(self._wake_r)
        self._wake_r.close()
        self._wake_w.close()
        self._selector.close()
        with self._lock:  # nobody waits in vain for a command the loop will not run
            for command in self._commands:
                command.done.set()
            self._commands.clear()
