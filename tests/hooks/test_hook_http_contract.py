"""What GongCrmHook takes from the http provider's HttpHook, pinned: a new provider release that
changes it fails here, naming the release, instead of breaking the hook silently.

The hook overrides only public methods (``get_conn``, ``url_from_endpoint``, ``run_and_check``,
``check_response``, ``test_connection``) and touches no private member of HttpHook (read from the
source with ``ast``). What it still relies on is HttpHook's public attributes (``method``,
``http_conn_id``, ``base_url``, ``keep_alive_adapter``, ``merged_extra``) and the order in which
HttpHook's own ``run`` calls the public methods: both are asserted here. Not marked slow: ``make
test-latest`` runs it against the newest http provider; marked floor: ``make test-floor`` runs it
against the floor's (the lowest the hook must work with).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from importlib.metadata import version
from typing import Any

import pytest
import requests
from airflow.providers.http.hooks.http import HttpHook
from pytest_httpserver import HTTPServer
from requests_toolbelt.adapters.socket_options import TCPKeepAliveAdapter

from gong_provider.hooks import gong
from gong_provider.hooks.gong import GongCrmHook
from tests.support.hooks import (
    ACCESS_KEY,
    ACCESS_SECRET,
    FAST,
    _gong_httpserver,
    base_url,
    httpserver,
    set_connection,
)

__all__ = ["_gong_httpserver", "httpserver"]  # fixtures

pytestmark = [pytest.mark.floor]

RELEASE = f"apache-airflow-providers-http {version('apache-airflow-providers-http')}"
CHANGED = f"{RELEASE} changed what GongCrmHook relies on (hooks/gong.py): "
PUBLIC_ONLY = f"GongCrmHook must use HttpHook's public methods and attributes only ({RELEASE}): "


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _http_hook_private_names() -> set[str]:
    """HttpHook's private methods and the private attributes its constructor sets."""
    names = {name for klass in HttpHook.__mro__ for name in vars(klass) if _private(name)}
    return names | {name for name in vars(HttpHook()) if _private(name)}


def _gong_classes() -> list[type]:
    return [klass for klass in GongCrmHook.__mro__ if klass.__module__ == gong.__name__]


def test_the_hook_overrides_no_private_member_of_http_hook() -> None:
    ours = {name for klass in _gong_classes() for name in vars(klass)}
    assert sorted(ours & _http_hook_private_names()) == [], PUBLIC_ONLY + "it overrides"


def test_the_hook_reads_or_calls_no_private_member_of_http_hook() -> None:
    """Every ``self._x`` / ``super()._x`` in the hook's classes is one of our own names."""
    used: set[str] = set()
    for klass in _gong_classes():
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        used |= {
            node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and _private(node.attr)
        }
    assert sorted(used & _http_hook_private_names()) == [], PUBLIC_ONLY + "it uses"


def test_http_hooks_constructor_sets_the_public_attributes_the_hook_uses() -> None:
    hook = HttpHook(method="GET", http_conn_id="gong_default")
    found = {name: getattr(hook, name, "<missing>") for name in ("method", "http_conn_id", "base_url")}
    assert found == {"method": "GET", "http_conn_id": "gong_default", "base_url": ""}, CHANGED + str(found)
    assert isinstance(getattr(hook, "keep_alive_adapter", None), TCPKeepAliveAdapter), (
        CHANGED + "HttpHook() no longer builds its TCP keep-alive adapter as keep_alive_adapter"
    )
    assert isinstance(getattr(hook, "merged_extra", None), dict), CHANGED + "no merged_extra"
    our_hook = GongCrmHook("gong_default")
    assert (our_hook.method, our_hook.http_conn_id) == ("GET", "gong_default"), CHANGED + "constructor"


class _Spy(GongCrmHook):
    """Records how HttpHook's ``run`` calls the public methods the hook overrides."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, Any]] = []

    def get_conn(self, headers: Any = None, extra_options: Any = None) -> requests.Session:
        self.calls.append(("get_conn", extra_options))
        return super().get_conn(headers, extra_options)

    def url_from_endpoint(self, endpoint: str | None) -> str:
        self.calls.append(("url_from_endpoint", endpoint))
        return super().url_from_endpoint(endpoint)

    def run_and_check(self, session: Any, prepped_request: Any, extra_options: Any) -> Any:
        self.calls.append(("run_and_check", dict(extra_options)))
        return super().run_and_check(session, prepped_request, extra_options)


def test_http_hooks_run_goes_through_the_public_methods_the_hook_overrides(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    """HttpHook's ``run``: ``get_conn`` (which sets ``merged_extra``), ``url_from_endpoint``, then
    ``run_and_check`` with ``merged_extra``: so a raw ``run`` gets Gong's base URL, authorization,
    timeouts, TLS setting, rate budget and typed errors."""
    set_connection(
        monkeypatch, "gong_spy", host=base_url(httpserver), login=ACCESS_KEY, password=ACCESS_SECRET
    )
    httpserver.expect_request("/v2/calls", method="GET").respond_with_json({"requestId": "r", "calls": []})
    hook = _Spy("gong_spy", timeout=7, **FAST)

    response = hook.run("/v2/calls", extra_options={"allow_redirects": False})

    assert response.json() == {"requestId": "r", "calls": []}, CHANGED + "run"
    options = {"timeout": (hook.config.connect_timeout, 7), "verify": True, "allow_redirects": False}
    assert hook.calls == [
        ("get_conn", {"allow_redirects": False}),
        ("url_from_endpoint", "/v2/calls"),
        ("run_and_check", options),
    ], CHANGED + "HttpHook.run calls the public methods differently"
    assert isinstance(hook.get_conn().get_adapter(base_url(httpserver)), TCPKeepAliveAdapter), CHANGED
