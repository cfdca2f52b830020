"""Streamed uploads: a large file reaches a server intact while the client's memory stays flat.

The receiving server runs in a separate process, so that what is measured in this process is the
client alone. It writes each request body to disk as it reads it (1 MB at a time) and answers 201.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from gong_provider.exceptions import GongPayloadTooLargeError
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.limits import MAX_UPLOAD_FILE_BYTES
from tests.support.hooks import FAST, INTEGRATION_ID, basic_connection

FILE_BYTES = 64 * 1024 * 1024
MEMORY_BUDGET = 16 * 1024 * 1024

_SINK_SERVER = r"""
import json, sys, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out_dir = sys.argv[1]

class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        count = len(os.listdir(out_dir)) // 2
        with open(os.path.join(out_dir, f"{count}.body"), "wb") as body:
            remaining = length
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                body.write(chunk)
                remaining -= len(chunk)
        meta = {"path": self.path, "headers": dict(self.headers.items()), "received": length - remaining}
        with open(os.path.join(out_dir, f"{count}.json"), "w") as handle:
            json.dump(meta, handle)
        payload = json.dumps({"requestId": f"sink-{count}", "clientRequestId": "big-1"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A body-to-disk HTTP server in its own process: (base URL, folder of received bodies)."""
    out_dir = tmp_path / "received"
    out_dir.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", _SINK_SERVER, str(out_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=30), "sink server did not start"
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}", out_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait(timeout=10)


def _write_big_file(path: Path, size: int) -> str:
    """Realistic-looking LDJSON lines, written in pieces; returns the sha256."""
    digest = hashlib.sha256()
    line_no = 0
    written = 0
    with path.open("wb") as handle:
        while written < size:
            lines = []
            for _ in range(1000):
                line_no += 1
                lines.append(
                    b'{"objectId": "c-%d", "modifiedDate": "2024-01-02T03:04:05Z", '
                    b'"emailAddress": "person%d@example.com", "filler": "%s"}\n'
                    % (line_no, line_no, os.urandom(24).hex().encode())
                )
            block = b"".join(lines)[: size - written]
            handle.write(block)
            digest.update(block)
            written += len(block)
    return digest.hexdigest()


def _file_part(body_path: Path, content_type_header: str) -> tuple[bytes, str, int]:
    """(part headers, sha256 of the part content, content length) of a one-part multipart body on disk."""
    boundary = content_type_header.split("boundary=")[1].encode()
    size = body_path.stat().st_size
    closing = b"\r\n--" + boundary + b"--\r\n"
    with body_path.open("rb") as body:
        start = body.read(64 * 1024)
        assert start.startswith(b"--" + boundary + b"\r\n")
        headers_end = start.index(b"\r\n\r\n") + 4
        part_headers = start[len(boundary) + 4 : headers_end]
        body.seek(size - len(closing))
        assert body.read() == closing
        digest = hashlib.sha256()
        body.seek(headers_end)
        remaining = size - len(closing) - headers_end
        content_length = remaining
        while remaining:
            chunk = body.read(min(remaining, 1 << 20))
            digest.update(chunk)
            remaining -= len(chunk)
    return part_headers, digest.hexdigest(), content_length


class _PeakRss:
    """Samples this process's RSS in a thread; ``growth`` is the peak above the starting value."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start = self._process.memory_info().rss
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(0.005)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


def test_large_upload_arrives_intact_while_client_memory_stays_flat(
    monkeypatch: pytest.MonkeyPatch, sink: tuple[str, Path], tmp_path: Path
) -> None:
    url, received = sink
    path = tmp_path / "contacts-g1-p1.ldjson"
    expected_sha = _write_big_file(path, FILE_BYTES)
    basic_connection(monkeypatch, url, "gong_sink")
    hook = GongCrmHook("gong_sink", **FAST)
    hook.config  # noqa: B018 - read the connection before measuring
    hook.get_conn()

    tracemalloc.start()
    try:
        with _PeakRss() as rss:
            result = hook.upload_entities(INTEGRATION_ID, "CONTACT", "big-1", path)
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.request_id == "sink-0"
    meta = json.loads((received / "0.json").read_text())
    assert meta["path"].startswith("/v2/crm/entities?integrationId=2271307570613351879&objectType=CONTACT")
    assert meta["received"] == int(meta["headers"]["Content-Length"])
    part_headers, sha, length = _file_part(received / "0.body", meta["headers"]["Content-Type"])
    assert b'name="dataFile"; filename="contacts-g1-p1.ldjson"' in part_headers
    assert b"Content-Type: application/x-ndjson" in part_headers
    assert length == FILE_BYTES
    assert sha == expected_sha
    assert traced_peak < MEMORY_BUDGET, f"Python allocations peaked at {traced_peak} bytes"
    assert rss.growth < MEMORY_BUDGET, f"RSS grew by {rss.growth} bytes"


def test_a_file_over_200_mb_is_refused_before_sending(
    monkeypatch: pytest.MonkeyPatch, sink: tuple[str, Path], tmp_path: Path
) -> None:
    url, received = sink
    path = tmp_path / "too-big.ldjson"
    with path.open("wb") as handle:
        handle.truncate(MAX_UPLOAD_FILE_BYTES + 1)  # sparse: no disk space used
    basic_connection(monkeypatch, url, "gong_sink")

    with pytest.raises(GongPayloadTooLargeError) as caught:
        GongCrmHook("gong_sink", **FAST).upload_entities(INTEGRATION_ID, "CONTACT", "big-2", path)

    assert "too-big.ldjson" in str(caught.value)
    assert str(MAX_UPLOAD_FILE_BYTES) in str(caught.value)
    assert "HTTP 413" not in str(caught.value)  # nothing was sent, so no status is claimed
    assert caught.value.sent is False
    assert list(received.iterdir()) == []


def test_a_file_of_exactly_200_mb_is_not_refused_locally(tmp_path: Path) -> None:
    from gong_provider.hooks._upload import upload_source

    path = tmp_path / "limit.ldjson"
    with path.open("wb") as handle:
        handle.truncate(MAX_UPLOAD_FILE_BYTES)

    assert upload_source(path, fallback_name="x").size == MAX_UPLOAD_FILE_BYTES
