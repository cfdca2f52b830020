"""GongCrmHook as the http provider's HttpHook: an ``http`` connection to Gong, extras never on the
wire as headers, raw ``run`` within the rate budget and with typed errors, no credential in the repr."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from airflow.providers.http.hooks.http import HttpHook
from pytest_httpserver import HTTPServer
from requests_toolbelt.adapters.socket_options import TCPKeepAliveAdapter

from gong_provider.exceptions import GongAuthError
from gong_provider.hooks._ratelimit import budget_for
from gong_provider.hooks.gong import GongCrmAsyncHook, GongCrmHook
from tests.support.hooks import (
    ACCESS_KEY,
    ACCESS_SECRET,
    FAST,
    INTEGRATION_ID,
    TOKEN,
    Recorder,
    _gong_httpserver,
    base_url,
    httpserver,
    json_response,
    set_connection,
)

__all__ = ["_gong_httpserver", "httpserver"]  # fixtures

BASIC = "Basic " + base64.b64encode(f"{ACCESS_KEY}:{ACCESS_SECRET}".encode()).decode()
LISTED = {"requestId": "r", "integrations": []}
DONE = {"requestId": "r-ok", "status": "DONE", "errors": [], "totalErrorCount": 0, "totalSuccessCount": 1}


def _http_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> str:
    return set_connection(monkeypatch, conn_id, conn_type="http", **fields)


def _raw_hook(monkeypatch: pytest.MonkeyPatch, server: HTTPServer, **extra: Any) -> GongCrmHook:
    """A hook on an ``http`` connection with the access key pair, as a user's existing one would be."""
    host = base_url(server)
    _http_connection(
        monkeypatch, "gong_raw", host=host, login=ACCESS_KEY, password=ACCESS_SECRET, extra=extra
    )
    return GongCrmHook("gong_raw")


def test_the_hook_is_an_http_hook_with_its_keep_alive_adapter(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    set_connection(
        monkeypatch, "gong_kind", host=base_url(httpserver), login=ACCESS_KEY, password=ACCESS_SECRET
    )
    hook = GongCrmHook("gong_kind", **FAST)

    session = hook.get_conn()

    assert isinstance(hook, HttpHook)
    assert isinstance(session.get_adapter(base_url(httpserver)), TCPKeepAliveAdapter)
    assert hook.get_conn() is session  # one session (and its kept-alive connections) per hook
    assert hook.url_from_endpoint("/v2/crm/integrations") == base_url(httpserver) + "/v2/crm/integrations"


@pytest.mark.parametrize("form", ["host and port, schema http", "host as a URL"])
def test_an_http_connection_to_gong_works(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, form: str
) -> None:
    if form == "host as a URL":
        fields: dict[str, Any] = {"host": base_url(httpserver)}
    else:
        fields = {"host": "127.0.0.1", "port": httpserver.port, "schema": "http"}
    _http_connection(monkeypatch, "gong_via_http", login=ACCESS_KEY, password=ACCESS_SECRET, **fields)
    httpserver.expect_request("/v2/crm/integrations", headers={"Authorization": BASIC}).respond_with_json(
        LISTED
    )

    assert GongCrmHook("gong_via_http", **FAST).list_integrations() == []
    httpserver.check_assertions()


async def test_an_http_connection_to_gong_works_for_the_async_hook(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    _http_connection(
        monkeypatch, "gong_via_http", host=base_url(httpserver), login=ACCESS_KEY, password=ACCESS_SECRET
    )
    httpserver.expect_request("/v2/crm/request-status", headers={"Authorization": BASIC}).respond_with_json(
        DONE
    )

    async with GongCrmAsyncHook("gong_via_http", **FAST) as hook:
        status = await hook.get_request_status(INTEGRATION_ID, "up-1")

    assert status.total_success_count == 1
    httpserver.check_assertions()


def test_an_http_uri_without_a_scheme_in_the_host_means_https(monkeypatch: pytest.MonkeyPatch) -> None:
    """HttpHook alone would call http://api.gong.io and send the access key in the clear."""
    key, secret = quote(ACCESS_KEY, safe=""), quote(ACCESS_SECRET, safe="")
    monkeypatch.setenv("AIRFLOW_CONN_GONG_HTTP_URI", f"http://{key}:{secret}@api.gong.io")

    hook = GongCrmHook("gong_http_uri")

    assert hook.get_connection("gong_http_uri").conn_type == "http"
    assert (hook.config.base_url, hook.config.auth_scheme) == ("https://api.gong.io", "Basic")
    assert hook.url_from_endpoint("/v2/crm/integrations") == "https://api.gong.io/v2/crm/integrations"


GONG_EXTRAS = {
    "access_token": TOKEN,
    "calls_per_second": 0,
    "timeout": 5,
    "max_retries": 0,
    "verify_ssl": True,
    "X-Would-Be-Header": "http-provider-style",
}


@pytest.mark.parametrize("conn_type", ["gong", "http"])
@pytest.mark.parametrize("side", ["sync", "async"])
async def test_connection_extras_never_go_on_the_wire_as_headers(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, tmp_path: Path, conn_type: str, side: str
) -> None:
    extra = {**GONG_EXTRAS, "budget_dir": str(tmp_path)}
    set_connection(monkeypatch, "gong_extras", conn_type=conn_type, host=base_url(httpserver), extra=extra)
    recorder = Recorder([json_response(DONE)])
    httpserver.expect_request("/v2/crm/request-status").respond_with_handler(recorder)

    if side == "sync":
        GongCrmHook("gong_extras").get_request_status(INTEGRATION_ID, "up-1")
    else:
        async with GongCrmAsyncHook("gong_extras") as hook:
            await hook.get_request_status(INTEGRATION_ID, "up-1")

    (sent,) = recorder.requests
    headers = {name.lower(): value for name, value in sent["headers"].items()}
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert {name.lower() for name in extra}.isdisjoint(headers)
    assert [name for name, value in headers.items() if TOKEN in value] == ["authorization"]
    assert str(tmp_path) not in str(headers)


def test_raw_run_reaches_another_gong_endpoint_within_the_budget(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request(
        "/v2/calls",
        method="GET",
        query_string={"fromDateTime": "2024-01-01T00:00:00Z"},
        headers={"Authorization": BASIC},
    ).respond_with_json({"requestId": "r-calls", "calls": []})
    hook = _raw_hook(monkeypatch, httpserver, calls_per_second=3, budget_dir=str(tmp_path))

    response = hook.run("/v2/calls", data={"fromDateTime": "2024-01-01T00:00:00Z"})

    assert isinstance(response, requests.Response)
    assert response.json() == {"requestId": "r-calls", "calls": []}
    httpserver.check_assertions()
    budget = hook.config.budget
    assert budget_for(budget).calls_today(budget.tokens) == 1


def test_raw_run_raises_the_typed_error_without_logging_the_body(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """HttpHook's check_response logs the whole body at ERROR: Gong may echo the credential."""
    echo = f"Bad credentials {ACCESS_SECRET}"
    httpserver.expect_request("/v2/calls").respond_with_json(
        {"requestId": "r-401", "errors": [echo]}, status=401
    )
    hook = _raw_hook(monkeypatch, httpserver, **FAST)

    with caplog.at_level(logging.DEBUG), pytest.raises(GongAuthError) as caught:
        hook.run("/v2/calls")

    assert (caught.value.status_code, caught.value.request_id) == (401, "r-401")
    assert caught.value.errors == ["Bad credentials ***"]
    assert "Gong GET /v2/calls -> 401 requestId=r-401" in caplog.text
    for text in (caplog.text, str(caught.value), repr(caught.value)):
        assert ACCESS_SECRET not in text
        assert BASIC not in text


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_no_credential_in_the_hooks_repr_or_state(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, auth: str
) -> None:
    if auth == "basic":
        fields: dict[str, Any] = {"login": ACCESS_KEY, "password": ACCESS_SECRET}
        secrets = (ACCESS_SECRET, BASIC.removeprefix("Basic "))
    else:
        fields = {"extra": {"access_token": TOKEN}}
        secrets = (TOKEN,)
    _http_connection(monkeypatch, "gong_repr", host=base_url(httpserver), **fields)
    httpserver.expect_request("/v2/crm/integrations").respond_with_json(LISTED)
    hook = GongCrmHook("gong_repr", **FAST)
    hook.list_integrations()  # the connection, config and session are all in place now

    texts = [
        repr(hook),
        str(hook),
        repr(vars(hook)),
        repr(hook.get_conn().auth),
        repr(hook.get_conn().headers),
    ]

    for text in texts:
        for secret in secrets:
            assert secret not in text
