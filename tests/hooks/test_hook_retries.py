"""GongCrmHook under trouble: 429 + Retry-After, 5xx, dropped connections, timeouts, the rate limiter.

Waits are asserted only as lower bounds seen by the server (behaviour, not speed).
"""

from __future__ import annotations

import hashlib
import io
import logging
import socket
import threading
import time
from collections.abc import Callable

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from gong_provider.emulator.ratelimit import busiest_window
from gong_provider.exceptions import GongConnectionError, GongRateLimitError, GongServerError
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.models import RequestState
from tests.support.hooks import (
    DROP,
    FAST,
    INTEGRATION_ID,
    Recorder,
    ScriptedServer,
    _gong_httpserver,
    base_url,
    basic_connection,
    http_answer,
    httpserver,
    json_response,
    make_hook,
    scripted_server,
)

__all__ = ["_gong_httpserver", "httpserver", "scripted_server"]  # fixtures, imported so that pytest uses them

DONE = {"requestId": "r-ok", "status": "DONE", "errors": [], "totalErrorCount": 0, "totalSuccessCount": 2}


def test_429_waits_retry_after_seconds_then_retries(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    recorder = Recorder(
        [
            json_response(
                {"requestId": "r-429", "errors": ["API request limit exceeded"]}, 429, {"Retry-After": "1"}
            ),
            json_response(DONE),
        ]
    )
    httpserver.expect_request("/v2/crm/request-status").respond_with_handler(recorder)
    hook = make_hook(monkeypatch, httpserver)

    status = hook.get_request_status(INTEGRATION_ID, "up-1")

    assert status.status is RequestState.DONE
    assert len(recorder.arrivals) == 2
    assert recorder.arrivals[1] - recorder.arrivals[0] >= 0.99  # Retry-After: 1 was honoured


def test_429_asking_for_longer_than_max_retry_after_is_raised_at_once(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v2/crm/request-status").respond_with_json(
        {"requestId": "r-day", "errors": ["daily limit"]}, status=429, headers={"Retry-After": "3600"}
    )
    basic_connection(monkeypatch, base_url(httpserver), "gong_test", max_retry_after=60)

    with pytest.raises(GongRateLimitError) as caught:
        GongCrmHook("gong_test", **FAST).get_request_status(INTEGRATION_ID, "up-1")

    assert caught.value.retry_after == 3600
    assert caught.value.request_id == "r-day"
    assert len(httpserver.log) == 1


def test_429_retries_are_bounded(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/crm/request-status").respond_with_json(
        {"requestId": "r-429", "errors": ["API request limit exceeded"]},
        status=429,
        headers={"Retry-After": "0"},
    )
    hook = make_hook(monkeypatch, httpserver, max_retries=2)

    with pytest.raises(GongRateLimitError) as caught:
        hook.get_request_status(INTEGRATION_ID, "up-1")

    assert caught.value.status_code == 429
    assert caught.value.retry_after == 0
    assert len(httpserver.log) == 3


def test_500_then_success(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    recorder = Recorder([json_response({"requestId": "r-500", "errors": ["boom"]}, 500), json_response(DONE)])
    httpserver.expect_request("/v2/crm/request-status").respond_with_handler(recorder)

    status = make_hook(monkeypatch, httpserver).get_request_status(INTEGRATION_ID, "up-1")

    assert status.request_id == "r-ok"
    assert len(recorder.arrivals) == 2


def test_5xx_retries_are_bounded_then_the_typed_error_is_raised(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v2/crm/integrations").respond_with_json(
        {"requestId": "r-503", "errors": ["unavailable"]}, status=503
    )
    hook = make_hook(monkeypatch, httpserver, max_retries=2)

    with pytest.raises(GongServerError) as caught:
        hook.list_integrations()

    assert (caught.value.status_code, caught.value.request_id, caught.value.errors) == (
        503,
        "r-503",
        ["unavailable"],
    )
    assert len(httpserver.log) == 3


def test_max_retries_zero_means_one_attempt(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/crm/integrations").respond_with_json({"requestId": "r"}, status=502)

    with pytest.raises(GongServerError):
        make_hook(monkeypatch, httpserver, max_retries=0).list_integrations()

    assert len(httpserver.log) == 1


def test_connection_dropped_mid_request_then_success(
    monkeypatch: pytest.MonkeyPatch, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server([DROP, http_answer(200, DONE)])
    basic_connection(monkeypatch, server.url, "gong_test")

    status = GongCrmHook("gong_test", **FAST).get_request_status(INTEGRATION_ID, "up-1")

    assert status.status is RequestState.DONE
    assert len(server.received) == 2
    assert all(b"GET /v2/crm/request-status?" in raw for raw in server.received)


def test_connection_errors_are_bounded_and_typed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    basic_connection(monkeypatch, f"http://127.0.0.1:{port}", "gong_test")

    with caplog.at_level(logging.INFO, logger="gong_provider"), pytest.raises(GongConnectionError) as caught:
        GongCrmHook("gong_test", **{**FAST, "max_retries": 2}).list_integrations()

    assert (caught.value.method, caught.value.path) == ("GET", "/v2/crm/integrations")
    assert f"127.0.0.1:{port}" in str(caught.value)
    attempts = [r for r in caplog.records if "-> no response" in r.getMessage()]
    assert len(attempts) == 3


def test_read_timeout_is_retried(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    calls: list[float] = []

    def slow_then_fast(request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(1.0)  # longer than the hook's 0.3 s read timeout
        return json_response(DONE)

    httpserver.expect_request("/v2/crm/request-status").respond_with_handler(slow_then_fast)
    hook = make_hook(monkeypatch, httpserver, timeout=0.3)

    assert hook.get_request_status(INTEGRATION_ID, "up-1").status is RequestState.DONE
    assert len(calls) == 2


def _multipart_file(raw_request: bytes) -> bytes:
    """The dataFile content of a one-part multipart request read off the wire."""
    head, _, body = raw_request.partition(b"\r\n\r\n")
    boundary = next(
        line.split(b"boundary=")[1]
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-type:")
    )
    part = body.split(b"--" + boundary)[1]
    return part.partition(b"\r\n\r\n")[2][: -len(b"\r\n")]


def test_upload_dropped_mid_body_is_resent_whole_with_the_same_client_request_id(
    monkeypatch: pytest.MonkeyPatch, scripted_server: Callable[..., ScriptedServer], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    data = b"".join(
        b'{"objectId": "c%d", "modifiedDate": "2024-01-02T03:04:05Z"}\n' % n for n in range(40000)
    )
    path = tmp_path / "contacts.ldjson"
    path.write_bytes(data)
    server = scripted_server(
        [DROP, http_answer(201, {"requestId": "r-up", "clientRequestId": "up-7"})], drop_after_bytes=200_000
    )
    basic_connection(monkeypatch, server.url, "gong_test")

    result = GongCrmHook("gong_test", **FAST).upload_entities(INTEGRATION_ID, "CONTACT", "up-7", path)

    assert result.request_id == "r-up"
    assert result.already_accepted is False
    assert len(server.received) == 2
    first, second = server.received
    assert len(first) < len(data)  # the first attempt really was cut off
    request_line = (
        b"POST /v2/crm/entities?integrationId=2271307570613351879&objectType=CONTACT&clientRequestId=up-7 "
    )
    assert first.startswith(request_line)
    assert second.startswith(request_line)
    assert hashlib.sha256(_multipart_file(second)).hexdigest() == hashlib.sha256(data).hexdigest()


def test_upload_retried_after_500_rewinds_a_file_object(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    bodies: list[tuple[str, bytes]] = []

    def answer(request: Request) -> Response:
        bodies.append((request.args["clientRequestId"], request.files["dataFile"].read()))
        if len(bodies) == 1:
            return json_response({"requestId": "r-500", "errors": ["unexpected error"]}, 500)
        return json_response({"requestId": "r-up", "clientRequestId": "up-8"}, 201)

    httpserver.expect_request("/v2/crm/entities", method="POST").respond_with_handler(answer)
    payload = b'{"objectId": "a"}\n{"objectId": "b"}\n'

    result = make_hook(monkeypatch, httpserver).upload_entities(
        INTEGRATION_ID, "ACCOUNT", "up-8", io.BytesIO(payload)
    )

    assert result.request_id == "r-up"
    assert bodies == [("up-8", payload), ("up-8", payload)]


def test_upload_stored_then_connection_lost_ends_as_already_accepted(
    monkeypatch: pytest.MonkeyPatch, scripted_server: Callable[..., ScriptedServer], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "deals.ldjson"
    path.write_bytes(b'{"objectId": "d1"}\n')
    conflict = http_answer(409, {"requestId": "r-409", "errors": ["Client request id has already been used"]})
    server = scripted_server([DROP, conflict])  # reads the whole upload, then hangs up
    basic_connection(monkeypatch, server.url, "gong_test")

    result = GongCrmHook("gong_test", **FAST).upload_entities(INTEGRATION_ID, "DEAL", "up-9", path)

    assert result.already_accepted is True
    assert result.request_id == "r-409"
    assert len(server.received) == 2


def test_register_retried_after_a_drop_finds_its_integration(
    monkeypatch: pytest.MonkeyPatch, scripted_server: Callable[..., ScriptedServer]
) -> None:
    listing = {
        "requestId": "r-l",
        "integrations": [{"integrationId": INTEGRATION_ID, "ownerEmail": "o@acme.test", "name": "ACME"}],
    }
    server = scripted_server(
        [DROP, http_answer(409, {"requestId": "r-409", "errors": ["exists"]}), http_answer(200, listing)]
    )
    basic_connection(monkeypatch, server.url, "gong_test")

    assert GongCrmHook("gong_test", **FAST).register_integration("ACME", "o@acme.test") == INTEGRATION_ID
    assert [raw.split(b" ")[0] for raw in server.received] == [b"PUT", b"PUT", b"GET"]


def _status_server(httpserver: HTTPServer) -> Recorder:
    recorder = Recorder([json_response(DONE)])
    httpserver.expect_request("/v2/crm/request-status").respond_with_handler(recorder)
    return recorder


def test_rate_limit_spaces_calls(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    recorder = _status_server(httpserver)
    hook = make_hook(monkeypatch, httpserver, conn_id="gong_rl_one", calls_per_second=5)

    for _ in range(6):
        hook.get_request_status(INTEGRATION_ID, "up-1")

    assert len(recorder.arrivals) == 6
    assert busiest_window(recorder.arrivals) <= 5  # never 6 in any sliding second


def test_hooks_in_one_process_share_the_budget(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    recorder = _status_server(httpserver)
    basic_connection(monkeypatch, base_url(httpserver), "gong_rl_a")
    basic_connection(monkeypatch, base_url(httpserver), "gong_rl_b")
    options = {**FAST, "calls_per_second": 5}
    first, second = GongCrmHook("gong_rl_a", **options), GongCrmHook("gong_rl_b", **options)

    for _ in range(3):
        first.get_request_status(INTEGRATION_ID, "up-1")
        second.get_request_status(INTEGRATION_ID, "up-1")

    assert len(recorder.arrivals) == 6
    assert busiest_window(recorder.arrivals) <= 5


def test_rate_limit_holds_across_threads(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    recorder = _status_server(httpserver)
    basic_connection(monkeypatch, base_url(httpserver), "gong_rl_threads")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            hook = GongCrmHook("gong_rl_threads", **{**FAST, "calls_per_second": 10})
            for _ in range(3):
                hook.get_request_status(INTEGRATION_ID, "up-1")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(recorder.arrivals) == 12
    assert busiest_window(recorder.arrivals) <= 10


def test_upload_retried_after_500_reopens_an_object_storage_path(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk import ObjectStoragePath

    payload = b'{"objectId": "s1", "name": "Stage 1"}\n'
    (tmp_path / "stages.ldjson").write_bytes(payload)
    bodies: list[tuple[str, str | None, bytes]] = []

    def answer(request: Request) -> Response:
        part = request.files["dataFile"]
        bodies.append((request.args["clientRequestId"], part.filename, part.read()))
        if len(bodies) == 1:
            return json_response({"requestId": "r-503", "errors": ["unavailable"]}, 503)
        return json_response({"requestId": "r-up"}, 201)

    httpserver.expect_request("/v2/crm/entities", method="POST").respond_with_handler(answer)

    result = make_hook(monkeypatch, httpserver).upload_entities(
        INTEGRATION_ID, "STAGE", "up-10", ObjectStoragePath(f"file://{tmp_path}/stages.ldjson")
    )

    assert result.request_id == "r-up"
    assert bodies == [("up-10", "stages.ldjson", payload)] * 2
