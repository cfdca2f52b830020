"""A TCP relay in front of the test's S3 server that can hold one request: a machine caught mid-write.

The several-machines stack (tests/support/machines.py) points every machine's ``aws_default`` at the
gate instead of at moto. The gate passes bytes through untouched (moto does not check signatures, so
the Host header naming the gate is fine) and reads only the request line at the start of what a
client sends. ``hold(pattern)`` arms it: the next request whose line matches (and any retry of it) is never
forwarded; the test learns which one (``wait_held``), kills the process that sent it, and
``release()`` drops the connection and disarms the gate. No timing: the request waits until the test acts.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading

from tests.support.faults import poll

_CHUNK = 65536


class S3Gate:
    """A relay on 127.0.0.1:<free port> to ``upstream_port``; ``endpoint_url`` is what clients use."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._pattern: re.Pattern[bytes] | None = None
        self._held: str | None = None
        self._released = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, name="s3-gate", daemon=True).start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold(self, pattern: str) -> None:
        """Hold the next request whose request line (``PUT /bucket/key?query HTTP/1.1``) matches."""
        with self._lock:
            self._pattern, self._held = re.compile(pattern.encode()), None
            self._released.clear()

    def wait_held(self, timeout: float, check: object = None) -> str:
        """The request line held, once a request matched (``check()`` is called on each poll)."""

        def held() -> str | None:
            if callable(check):
                check()
            with self._lock:
                return self._held

        line: str = poll(held, timeout=timeout, interval=0.5, what="a request matching the S3 gate")
        return line

    def release(self) -> None:
        """Drop the held request's connection, unforwarded, and disarm."""
        with self._lock:
            self._pattern = None
        self._released.set()

    def close(self) -> None:
        self._closed = True
        self._released.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _matches(self, data: bytes) -> bool:
        with self._lock:
            line = data.split(b"\r\n", 1)[0]
            if self._pattern is None or not self._pattern.search(line):
                return False
            # the first one is reported; a client's retry of it (a timeout) is held as well
            self._held = self._held or line.decode("latin-1")
            return True

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client to server, holding a matching request (then dropping both ends)."""
        try:
            while data := client.recv(_CHUNK):
                if self._matches(data):
                    self._released.wait()
                    break
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            self._close_pair(client, upstream)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                target.sendall(data)
        except OSError:
            pass
        finally:
            self._close_pair(source, target)

    def _close_pair(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._sockets.discard(sock)
