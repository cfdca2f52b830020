"""Helpers for the hook tests (no tests here): Gong connections, recording handlers, a raw TCP server.

The raw server exists because an HTTP server library always answers: to test a connection dropped
mid-request we need one that reads the request and hangs up without a word.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from gong_provider.hooks.gong import GongCrmAsyncHook, GongCrmHook

INTEGRATION_ID = 2271307570613351879
"""Larger than 2^53: a float would turn it into 2271307570613351936."""

ACCESS_KEY = "GONGKEY-7Q2W"
ACCESS_SECRET = "GONG-SECRET-zx9q-never-log-me"
TOKEN = "GONG-TOKEN-bearer-xk42-never-log-me"

FAST = {"calls_per_second": 0, "retry_wait_base": 0.01, "retry_wait_max": 0.05}
"""Hook options that keep tests fast: no client-side limit, tiny backoff."""


def base_url(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> str:
    """Define an Airflow connection through its environment variable (JSON form)."""
    fields.setdefault("conn_type", "gong")
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    return conn_id


def basic_connection(
    monkeypatch: pytest.MonkeyPatch, url: str, conn_id: str = "gong_test", **extra: Any
) -> str:
    return set_connection(
        monkeypatch, conn_id, host=url, login=ACCESS_KEY, password=ACCESS_SECRET, extra=extra
    )


def make_hook(
    monkeypatch: pytest.MonkeyPatch, server: HTTPServer, conn_id: str = "gong_test", **options: Any
) -> GongCrmHook:
    basic_connection(monkeypatch, base_url(server), conn_id)
    return GongCrmHook(conn_id, **{**FAST, **options})


def make_async_hook(
    monkeypatch: pytest.MonkeyPatch, url: str, conn_id: str = "gong_test", **options: Any
) -> GongCrmAsyncHook:
    basic_connection(monkeypatch, url, conn_id)
    return GongCrmAsyncHook(conn_id, **{**FAST, **options})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


@dataclass
class Recorder:
    """A pytest-httpserver handler that answers from a list and notes when each request arrived."""

    responses: list[Response]
    arrivals: list[float] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        self.arrivals.append(time.monotonic())
        self.requests.append(
            {
                "args": request.args.to_dict(),
                "headers": dict(request.headers),
                "body": request.get_data(),
            }
        )
        index = min(len(self.arrivals), len(self.responses)) - 1
        return self.responses[index]


def _read_request(conn: socket.socket) -> bytes:
    """Read one HTTP request (head and a Content-Length body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(min(1 << 20, length - len(body)))
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


DROP = "drop"


def http_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> bytes:
    payload = json.dumps(body).encode()
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json", f"Content-Length: {len(payload)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class ScriptedServer:
    """A raw TCP server on 127.0.0.1: connection N gets ``script[N]`` (DROP hangs up unanswered)."""

    def __init__(self, script: list[bytes | str], *, drop_after_bytes: int | None = None) -> None:
        self.script = script
        self.drop_after_bytes = drop_after_bytes
        self.received: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for action in self.script:
            conn = self._accept()
            if conn is None:
                return
            with conn:
                if action == DROP and self.drop_after_bytes is not None:
                    self.received.append(conn.recv(self.drop_after_bytes))
                    # reset, not a polite close: the client is still sending
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    continue
                self.received.append(_read_request(conn))
                if action != DROP:
                    assert isinstance(action, bytes)
                    conn.sendall(action)

    def _accept(self) -> socket.socket | None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            return conn
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@pytest.fixture(scope="module")
def _gong_httpserver() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def httpserver(_gong_httpserver: HTTPServer) -> HTTPServer:
    """pytest-httpserver's server, but on 127.0.0.1 (not "localhost") and threaded, so that a slow
    handler does not hold up the retries; one per test module, cleared for each test."""
    _gong_httpserver.clear()
    return _gong_httpserver


@pytest.fixture
def scripted_server() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: list[bytes | str], **kwargs: Any) -> ScriptedServer:
        server = ScriptedServer(script, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


class Heartbeat:
    """Counts ticks of a 10 ms coroutine: a blocked event loop would stop them."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.ticks += 1

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._beat())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
