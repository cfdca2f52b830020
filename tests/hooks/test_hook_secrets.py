"""No credential in logs or exception texts, whatever goes wrong."""

from __future__ import annotations

import base64
import io
import logging
import socket
from collections.abc import Callable

import pytest
from pytest_httpserver import HTTPServer

from gong_provider.exceptions import GongError
from gong_provider.hooks.gong import GongCrmAsyncHook, GongCrmHook
from tests.support.hooks import (
    ACCESS_KEY,
    ACCESS_SECRET,
    DROP,
    FAST,
    INTEGRATION_ID,
    TOKEN,
    ScriptedServer,
    _gong_httpserver,
    base_url,
    http_answer,
    httpserver,
    scripted_server,
    set_connection,
)

__all__ = ["_gong_httpserver", "httpserver", "scripted_server"]  # fixtures

BASIC_VALUE = base64.b64encode(f"{ACCESS_KEY}:{ACCESS_SECRET}".encode()).decode()
BASIC_SECRETS = (ACCESS_SECRET, BASIC_VALUE)
BEARER_SECRETS = (TOKEN,)


def _assert_clean(secrets: tuple[str, ...], *texts: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text


def _exercise(hook: GongCrmHook, server: HTTPServer) -> list[str]:
    """Drive the hook through successes and every kind of failure; return the exception texts."""
    texts: list[str] = []
    echo = [f"Bad credentials {ACCESS_SECRET} / Basic {BASIC_VALUE} / Bearer {TOKEN}"]
    server.expect_ordered_request("/v2/crm/integrations", method="GET").respond_with_json(
        {"requestId": "r1", "integrations": []}
    )
    for status in (401, 400, 500, 500, 429, 429):
        server.expect_ordered_request("/v2/crm/request-status").respond_with_json(
            {"requestId": f"r-{status}", "errors": echo}, status=status, headers={"Retry-After": "0"}
        )
    server.expect_ordered_request("/v2/crm/entities", method="POST").respond_with_json(
        {"requestId": "r-413", "errors": echo}, status=413
    )
    server.expect_request("/v2/crm/integrations").respond_with_json(
        {"requestId": "r-t", "errors": echo}, status=401
    )
    hook.list_integrations()
    for _ in range(4):
        try:
            hook.get_request_status(INTEGRATION_ID, "c-1")
        except GongError as error:
            texts += [str(error), repr(error), *error.errors]
    try:
        hook.upload_entities(INTEGRATION_ID, "ACCOUNT", "c-2", io.BytesIO(b"{}\n"))
    except GongError as error:
        texts += [str(error), repr(error)]
    _ok, message = hook.test_connection()
    texts += [message, repr(hook.config), repr(hook.get_conn().auth)]
    return texts


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_no_secret_in_logs_or_errors(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture, auth: str
) -> None:
    secrets = BASIC_SECRETS if auth == "basic" else BEARER_SECRETS
    if auth == "basic":
        set_connection(
            monkeypatch, "gong_secret", host=base_url(httpserver), login=ACCESS_KEY, password=ACCESS_SECRET
        )
    else:
        set_connection(monkeypatch, "gong_secret", host=base_url(httpserver), extra={"access_token": TOKEN})
    hook = GongCrmHook("gong_secret", **{**FAST, "max_retries": 1})

    with caplog.at_level(logging.DEBUG):
        texts = _exercise(hook, httpserver)

    assert len(texts) >= 9
    assert any("***" in text for text in texts)  # Gong's echoed secret was redacted, not dropped
    assert "Gong GET /v2/crm/request-status -> 401" in caplog.text  # the logs were captured
    _assert_clean(secrets, caplog.text, *texts)


def test_no_secret_when_the_connection_drops(
    monkeypatch: pytest.MonkeyPatch,
    scripted_server: Callable[..., ScriptedServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = scripted_server([DROP, DROP])
    set_connection(monkeypatch, "gong_secret", host=server.url, login=ACCESS_KEY, password=ACCESS_SECRET)

    with caplog.at_level(logging.DEBUG), pytest.raises(GongError) as caught:
        GongCrmHook("gong_secret", **{**FAST, "max_retries": 1}).list_integrations()

    assert len(server.received) == 2
    assert BASIC_VALUE.encode() in server.received[0]  # the credential was really sent
    _assert_clean(BASIC_SECRETS, caplog.text, str(caught.value), repr(caught.value))


async def test_async_hook_no_secret_in_logs_or_errors(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    set_connection(monkeypatch, "gong_secret", host=f"http://127.0.0.1:{port}", extra={"access_token": TOKEN})

    with caplog.at_level(logging.DEBUG), pytest.raises(GongError) as caught:
        async with GongCrmAsyncHook("gong_secret", **{**FAST, "max_retries": 1}) as hook:
            await hook.get_request_status(INTEGRATION_ID, "c-1")

    assert "no response" in caplog.text
    _assert_clean(BEARER_SECRETS, caplog.text, str(caught.value), repr(caught.value))


def test_secret_in_an_answer_from_the_server_is_redacted(
    monkeypatch: pytest.MonkeyPatch, scripted_server: Callable[..., ScriptedServer]
) -> None:
    server = scripted_server([http_answer(401, {"requestId": "r", "errors": [f"token {TOKEN} rejected"]})])
    set_connection(monkeypatch, "gong_secret", host=server.url, extra={"access_token": TOKEN})

    ok, message = GongCrmHook("gong_secret", **FAST).test_connection()

    assert ok is False
    assert "token *** rejected" in message
    _assert_clean(BEARER_SECRETS, message)
