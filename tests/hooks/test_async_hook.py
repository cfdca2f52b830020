"""GongCrmAsyncHook (aiohttp): same results, retries and rate limit as the sync hook, loop never blocked."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import Callable

import pytest
from airflow.sdk import BaseHook
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from gong_provider.emulator.ratelimit import busiest_window
from gong_provider.exceptions import (
    GongAuthError,
    GongConnectionError,
    GongRateLimitError,
    GongServerError,
)
from gong_provider.hooks.gong import GongCrmAsyncHook
from gong_provider.models import Integration, RecordError, RequestState
from tests.support.hooks import (
    ACCESS_KEY,
    ACCESS_SECRET,
    DROP,
    FAST,
    INTEGRATION_ID,
    Heartbeat,
    Recorder,
    ScriptedServer,
    _gong_httpserver,
    base_url,
    basic_connection,
    http_answer,
    httpserver,
    json_response,
    make_async_hook,
    scripted_server,
)

__all__ = ["_gong_httpserver", "httpserver", "scripted_server"]  # fixtures

BIG_ID_TEXT = "2271307570613351879"
DONE = {"requestId": "r-ok", "status": "DONE", "errors": [], "totalErrorCount": 0, "totalSuccessCount": 3}


async def test_get_request_status_sends_exact_id_and_basic_auth(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    basic = "Basic " + base64.b64encode(f"{ACCESS_KEY}:{ACCESS_SECRET}".encode()).decode()
    httpserver.expect_request(
        "/v2/crm/request-status",
        query_string={"integrationId": BIG_ID_TEXT, "clientRequestId": "up-1"},
        headers={"Authorization": basic},
    ).respond_with_json(
        {
            "requestId": "r-st",
            "status": "FAILED",
            "errors": [{"line": 0, "description": "general error"}],
            "totalErrorCount": 1,
            "totalSuccessCount": 0,
        }
    )

    async with make_async_hook(monkeypatch, base_url(httpserver)) as hook:
        status = await hook.get_request_status(INTEGRATION_ID, "up-1")

    assert status.status is RequestState.FAILED
    assert status.errors == [RecordError(line=0, description="general error")]
    assert status.has_general_error
    httpserver.check_assertions()


async def test_list_integrations_keeps_the_big_id_exact(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v2/crm/integrations").respond_with_data(
        '{"requestId": "r", "integrations": [{"integrationId": '
        + BIG_ID_TEXT
        + ', "ownerEmail": "o@acme.test", "name": "ACME"}]}',
        content_type="application/json",
    )

    async with make_async_hook(monkeypatch, base_url(httpserver)) as hook:
        integrations = await hook.list_integrations()

    assert integrations == [
        Integration(integration_id=INTEGRATION_ID, owner_email="o@acme.test", name="ACME")
    ]
    assert str(integrations[0].integration_id) == BIG_ID_TEXT


async def test_429_waits_retry_after_without_blocking_the_loop(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    recorder = Recorder(
        [
            json_response({"requestId": "r-429", "errors": ["limit"]}, 429, {"Retry-After": "1"}),
            json_response(DONE),
        ]
    )
    httpserver.expect_request("/v2/crm/request-status").respond_with_handler(recorder)

    async with make_async_hook(monkeypatch, base_url(httpserver)) as hook, Heartbeat() as heartbeat:
        status = await hook.get_request_status(INTEGRATION_ID, "up-1")

    assert status.status is RequestState.DONE
    assert recorder.arrivals[1] - recorder.arrivals[0] >= 0.99
    assert heartbeat.ticks >= 10  # the loop kept running during the 1 s wait


async def test_500_then_success(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    recorder = Recorder([json_response({"requestId": "r-500", "errors": ["boom"]}, 500), json_response(DONE)])
    httpserver.expect_request("/v2/crm/request-status").respond_with_handler(recorder)

    async with make_async_hook(monkeypatch, base_url(httpserver)) as hook:
        status = await hook.get_request_status(INTEGRATION_ID, "up-1")

    assert status.request_id == "r-ok"
    assert len(recorder.arrivals) == 2


async def test_retries_are_bounded_then_typed_errors_are_raised(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(
        "/v2/crm/request-status", query_string={"integrationId": "1", "clientRequestId": "a"}
    ).respond_with_json({"requestId": "r-502", "errors": ["bad gateway"]}, status=502)
    httpserver.expect_request(
        "/v2/crm/request-status", query_string={"integrationId": "2", "clientRequestId": "a"}
    ).respond_with_json({"requestId": "r-429", "errors": ["limit"]}, status=429, headers={"Retry-After": "0"})

    async with make_async_hook(monkeypatch, base_url(httpserver), max_retries=2) as hook:
        with pytest.raises(GongServerError) as server_error:
            await hook.get_request_status(1, "a")
        with pytest.raises(GongRateLimitError) as rate_error:
            await hook.get_request_status(2, "a")

    assert (server_error.value.status_code, server_error.value.request_id) == (502, "r-502")
    assert (rate_error.value.retry_after, rate_error.value.request_id) == (0, "r-429")
    assert len(httpserver.log) == 6


async def test_401_is_not_retried(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/crm/request-status").respond_with_json(
        {"requestId": "r-401", "errors": ["Access denied"]}, status=401
    )

    async with make_async_hook(monkeypatch, base_url(httpserver)) as hook:
        with pytest.raises(GongAuthError, match="Access denied"):
            await hook.get_request_status(INTEGRATION_ID, "up-1")

    assert len(httpserver.log) == 1


async def test_connection_dropped_mid_request_then_success(
    monkeypatch: pytest.MonkeyPatch, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server([DROP, http_answer(200, DONE)])

    async with make_async_hook(monkeypatch, server.url) as hook:
        status = await hook.get_request_status(INTEGRATION_ID, "up-1")

    assert status.status is RequestState.DONE
    assert len(server.received) == 2


async def test_nothing_listening_gives_a_connection_error_after_the_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async with make_async_hook(monkeypatch, f"http://127.0.0.1:{port}", max_retries=1) as hook:
        with pytest.raises(GongConnectionError) as caught:
            await hook.get_request_status(INTEGRATION_ID, "up-1")

    assert caught.value.path == "/v2/crm/request-status"


async def test_read_timeout_is_retried(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    calls: list[float] = []

    def slow_then_fast(request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(1.0)  # longer than the hook's 0.3 s read timeout
        return json_response(DONE)

    httpserver.expect_request("/v2/crm/request-status").respond_with_handler(slow_then_fast)

    async with make_async_hook(monkeypatch, base_url(httpserver), timeout=0.3) as hook:
        status = await hook.get_request_status(INTEGRATION_ID, "up-1")

    assert status.status is RequestState.DONE
    assert len(calls) == 2


async def test_concurrent_hooks_share_the_rate_limit_without_blocking(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    recorder = Recorder([json_response(DONE)])
    httpserver.expect_request("/v2/crm/request-status").respond_with_handler(recorder)
    basic_connection(monkeypatch, base_url(httpserver), "gong_async_rl")
    hooks = [GongCrmAsyncHook("gong_async_rl", **{**FAST, "calls_per_second": 5}) for _ in range(3)]

    async with Heartbeat() as heartbeat:
        await asyncio.gather(
            *(hook.get_request_status(INTEGRATION_ID, "up-1") for hook in hooks for _ in range(2))
        )
    for hook in hooks:
        await hook.close()

    assert len(recorder.arrivals) == 6
    assert busiest_window(recorder.arrivals) <= 5
    assert heartbeat.ticks >= 10


async def test_connection_is_read_through_aget_connection(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    def blocking_lookup(conn_id: str) -> None:
        raise AssertionError("the async hook must not use the blocking connection lookup")

    monkeypatch.setattr(
        BaseHook, "get_connection", classmethod(lambda cls, conn_id: blocking_lookup(conn_id))
    )
    httpserver.expect_request("/v2/crm/integrations").respond_with_json(
        {"requestId": "r", "integrations": []}
    )

    async with make_async_hook(monkeypatch, base_url(httpserver)) as hook:
        assert await hook.list_integrations() == []


async def test_close_closes_the_session(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/crm/integrations").respond_with_json(
        {"requestId": "r", "integrations": []}
    )
    hook = make_async_hook(monkeypatch, base_url(httpserver))
    await hook.list_integrations()
    session = await hook.get_session()

    await hook.close()

    assert session.closed
