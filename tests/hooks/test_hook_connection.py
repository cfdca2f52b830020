"""The Gong connection: host forms, Basic vs Bearer, extras, and AIRFLOW_CONN_GONG_DEFAULT as URI or JSON."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from airflow.sdk import Connection
from pytest_httpserver import HTTPServer

from gong_provider.exceptions import GongConfigurationError
from gong_provider.hooks._connection import HookOptions, build_base_url, config_from_connection
from gong_provider.hooks.gong import GongCrmAsyncHook, GongCrmHook
from tests.support.hooks import (
    ACCESS_KEY,
    ACCESS_SECRET,
    TOKEN,
    _gong_httpserver,
    base_url,
    httpserver,
)

__all__ = ["_gong_httpserver", "httpserver"]  # fixtures, imported so that pytest uses them

BASIC = "Basic " + base64.b64encode(f"{ACCESS_KEY}:{ACCESS_SECRET}".encode()).decode()


def _config(**fields: Any):  # type: ignore[no-untyped-def]
    extra = fields.pop("extra", {})
    options = fields.pop("options", None)
    conn = Connection(conn_id="gong_x", conn_type="gong", **fields)
    return config_from_connection(conn, extra, options)


@pytest.mark.parametrize(
    ("host", "schema", "port", "scheme", "expected"),
    [
        (None, None, None, None, "https://api.gong.io"),
        ("", None, None, None, "https://api.gong.io"),
        ("https://us-12345.api.gong.io", None, None, None, "https://us-12345.api.gong.io"),
        ("https://us-12345.api.gong.io/", None, None, None, "https://us-12345.api.gong.io"),
        ("https://us-12345.api.gong.io/v2", None, None, None, "https://us-12345.api.gong.io"),
        ("us-12345.api.gong.io", None, None, None, "https://us-12345.api.gong.io"),
        ("http://127.0.0.1:8085", None, None, None, "http://127.0.0.1:8085"),
        ("http://127.0.0.1", None, 8085, None, "http://127.0.0.1:8085"),
        ("127.0.0.1", "http", 8085, None, "http://127.0.0.1:8085"),
        ("127.0.0.1", None, 8085, "http", "http://127.0.0.1:8085"),
        ("127.0.0.1", "some_db_schema", 8085, None, "https://127.0.0.1:8085"),
    ],
)
def test_base_url_forms(
    host: str | None, schema: str | None, port: int | None, scheme: str | None, expected: str
) -> None:
    assert build_base_url(host, schema, port, scheme) == expected


@pytest.mark.parametrize("host", ["ftp://api.gong.io", "https://KEY:SECRET@api.gong.io"])
def test_base_url_refuses_other_schemes_and_embedded_credentials(host: str) -> None:
    with pytest.raises(GongConfigurationError):
        build_base_url(host, None, None, None)


def test_login_and_password_give_basic_auth() -> None:
    config = _config(login=ACCESS_KEY, password=ACCESS_SECRET)
    assert (config.auth_scheme, config.authorization) == ("Basic", BASIC)


def test_access_token_extra_gives_bearer_and_wins_over_a_key_pair() -> None:
    config = _config(login=ACCESS_KEY, password=ACCESS_SECRET, extra={"access_token": TOKEN})
    assert (config.auth_scheme, config.authorization) == ("Bearer", f"Bearer {TOKEN}")


def test_password_with_empty_login_gives_bearer() -> None:
    config = _config(login="", password=TOKEN)
    assert config.authorization == f"Bearer {TOKEN}"


def test_no_credentials_is_a_clear_configuration_error() -> None:
    with pytest.raises(GongConfigurationError, match="access_token"):
        _config(host="https://api.gong.io")


def test_defaults() -> None:
    config = _config(password=TOKEN)
    assert (config.timeout, config.max_retries, config.calls_per_second, config.verify_ssl) == (
        60.0,
        5,
        3.0,
        True,
    )


def test_extras_given_as_strings_by_a_uri_are_read() -> None:
    extra = {"timeout": "7.5", "max_retries": "2", "calls_per_second": "1.5", "verify_ssl": "false"}
    config = _config(password=TOKEN, extra=extra)
    assert (config.timeout, config.max_retries, config.calls_per_second, config.verify_ssl) == (
        7.5,
        2,
        1.5,
        False,
    )


def test_legacy_prefixed_extras_are_read() -> None:
    config = _config(extra={"extra__gong__access_token": TOKEN, "extra__gong__timeout": 9})
    assert (config.authorization, config.timeout) == (f"Bearer {TOKEN}", 9.0)


def test_constructor_options_win_over_extras() -> None:
    config = _config(
        password=TOKEN,
        extra={"timeout": 30, "max_retries": 4, "calls_per_second": 2},
        options=HookOptions(timeout=5, max_retries=0, calls_per_second=10),
    )
    assert (config.timeout, config.max_retries, config.calls_per_second) == (5.0, 0, 10.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", "soon"),
        ("max_retries", "-1"),
        ("max_retries", 2.5),
        ("verify_ssl", "maybe"),
        ("timeout", 0),
        ("budget_scope", "cluster"),
        ("calls_per_day", "-1"),
    ],
)
def test_bad_extras_name_the_extra(name: str, value: Any) -> None:
    with pytest.raises(GongConfigurationError, match=name):
        _config(password=TOKEN, extra={name: value})


def test_config_repr_hides_the_credential() -> None:
    config = _config(login=ACCESS_KEY, password=ACCESS_SECRET, extra={"access_token": TOKEN})
    assert TOKEN not in repr(config)
    assert TOKEN not in repr(config.budget)


def test_basic_and_oauth_connections_to_one_host_spend_one_budget() -> None:
    """Gong's budget is per company: the budget is keyed by the API host, never by the credential."""
    host = "https://us-12345.api.gong.io"
    basic = _config(host=host, login=ACCESS_KEY, password=ACCESS_SECRET)
    oauth = _config(host=host + "/v2", extra={"access_token": TOKEN})
    other_company = _config(host="https://us-999.api.gong.io", extra={"access_token": TOKEN})
    assert basic.budget == oauth.budget
    assert basic.budget.host == "us-12345.api.gong.io"
    assert other_company.budget.host != basic.budget.host


def test_budget_extras() -> None:
    config = _config(password=TOKEN)
    assert (config.budget.scope, config.budget.directory, config.budget.calls_per_day) == (
        "host",
        None,
        10_000,
    )
    extra = {"budget_scope": "Process", "budget_dir": " /srv/gong-budget ", "calls_per_day": "50000"}
    budget = _config(password=TOKEN, extra=extra).budget
    assert (budget.scope, budget.directory, budget.calls_per_day) == ("process", "/srv/gong-budget", 50_000)


def test_the_budget_url_extra_wins_over_the_environment_and_its_password_is_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GONG_PROVIDER_BUDGET_URL", "redis://from-env:6379/0")
    assert _config(password=TOKEN).budget.budget_url == "redis://from-env:6379/0"
    config = _config(password=TOKEN, extra={"budget_url": " redis://:s3cret@shared:6379/2 "})
    assert config.budget.budget_url == "redis://:s3cret@shared:6379/2"
    assert "s3cret" not in repr(config)
    assert config.redact("to redis://:s3cret@shared") == "to redis://:***@shared"
    monkeypatch.delenv("GONG_PROVIDER_BUDGET_URL")
    assert _config(password=TOKEN).budget.budget_url is None


def _expect_list(server: HTTPServer, authorization: str) -> None:
    server.expect_request("/v2/crm/integrations", headers={"Authorization": authorization}).respond_with_json(
        {"requestId": "r", "integrations": []}
    )


def test_env_var_json_form_with_http_host(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_GONG_DEFAULT",
        json.dumps(
            {
                "conn_type": "gong",
                "host": base_url(httpserver),
                "login": ACCESS_KEY,
                "password": ACCESS_SECRET,
            }
        ),
    )
    _expect_list(httpserver, BASIC)

    assert GongCrmHook(calls_per_second=0).list_integrations() == []
    httpserver.check_assertions()


def test_env_var_uri_form_with_schema_as_scheme(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    port = httpserver.port
    uri = f"gong://{quote(ACCESS_KEY, safe='')}:{quote(ACCESS_SECRET, safe='')}@127.0.0.1:{port}/http"
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", uri + "?calls_per_second=0&timeout=5")
    _expect_list(httpserver, BASIC)

    hook = GongCrmHook()

    assert hook.list_integrations() == []
    assert hook.config.base_url == f"http://127.0.0.1:{port}"
    assert (hook.config.calls_per_second, hook.config.timeout) == (0.0, 5.0)
    httpserver.check_assertions()


def test_env_var_uri_form_with_bearer_token_and_scheme_extra(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    extra = quote(json.dumps({"access_token": TOKEN, "scheme": "http", "calls_per_second": 0}), safe="")
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", f"gong://127.0.0.1:{httpserver.port}/?__extra__={extra}")
    _expect_list(httpserver, f"Bearer {TOKEN}")

    assert GongCrmHook().list_integrations() == []
    httpserver.check_assertions()


def test_bearer_from_password_with_empty_login_reaches_the_server(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_GONG_DEFAULT",
        json.dumps({"conn_type": "gong", "host": base_url(httpserver), "password": TOKEN}),
    )
    _expect_list(httpserver, f"Bearer {TOKEN}")

    assert GongCrmHook(calls_per_second=0).list_integrations() == []
    httpserver.check_assertions()


async def test_async_hook_reads_the_same_env_var(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_GONG_DEFAULT",
        json.dumps(
            {
                "conn_type": "gong",
                "host": base_url(httpserver),
                "login": ACCESS_KEY,
                "password": ACCESS_SECRET,
            }
        ),
    )
    _expect_list(httpserver, BASIC)

    async with GongCrmAsyncHook(calls_per_second=0) as hook:
        assert await hook.list_integrations() == []
    httpserver.check_assertions()
