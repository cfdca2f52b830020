"""TLS verification stays on unless the connection turns it off explicitly.

Checked for real: a local HTTPS server with a self-signed certificate (on 127.0.0.1) must be refused
by both hooks under every connection form (JSON, URI, no extra, ``verify_ssl`` true), and accepted
only when the connection says ``verify_ssl: false``. A refused certificate is not transient: the
trigger, the sensor and the operator's wait end on it at once instead of polling to their deadline.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from gong_provider.exceptions import GongConnectionError, GongEventError
from gong_provider.hooks.gong import GongCrmAsyncHook, GongCrmHook
from gong_provider.operators.gong import GongUploadEntitiesOperator
from gong_provider.sensors.gong import GongRequestStatusSensor
from gong_provider.triggers.gong import GongRequestStatusTrigger
from gong_provider.waiting.events import status_from_event
from tests.support.gong_tasks import contact, run_task, run_trigger, task_context, write_ldjson

KEY = "AKIA-LEAKCHECK-7f3a"
SECRET = "SECRET-LEAKCHECK-9c1e"
FAST = {"max_retries": 0, "calls_per_second": 0}


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class HttpsServer:
    url: str
    handled: list[str]
    connections: list[int]
    """One entry per TCP connection a client opened (whether or not its TLS handshake succeeded)."""


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[HttpsServer]:
    """A Gong-looking HTTPS server with a certificate nobody trusts; counts the requests it answers."""
    cert, key = self_signed_certificate(tmp_path)
    handled: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            handled.append(self.path)
            body = json.dumps({"requestId": "tls-1", "integrations": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    connections: list[int] = []

    class CountingServer(http.server.ThreadingHTTPServer):
        def get_request(self) -> tuple[Any, Any]:
            connections.append(len(connections) + 1)  # counted before the handshake can fail
            return super().get_request()

    server = CountingServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpsServer(
            url=f"https://127.0.0.1:{server.server_address[1]}", handled=handled, connections=connections
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def json_connection(url: str, **extra: Any) -> str:
    conn: dict[str, Any] = {"conn_type": "gong", "host": url, "login": KEY, "password": SECRET}
    if extra:
        conn["extra"] = extra
    return json.dumps(conn)


def uri_connection(url: str, **extra: Any) -> str:
    host_port = url.split("://", 1)[1]
    query = "&".join(f"{name}={quote(str(value))}" for name, value in {"scheme": "https", **extra}.items())
    return f"gong://{quote(KEY)}:{quote(SECRET)}@{host_port}/?{query}"


VERIFYING_FORMS = {
    "json, no extra": lambda url: json_connection(url),
    "json, verify_ssl true": lambda url: json_connection(url, verify_ssl=True),
    "json, verify_ssl 'true'": lambda url: json_connection(url, verify_ssl="true"),
    "uri, no extra": lambda url: uri_connection(url),
    "uri, verify_ssl=true": lambda url: uri_connection(url, verify_ssl="true"),
}
NON_VERIFYING_FORMS = {
    "json, verify_ssl false": lambda url: json_connection(url, verify_ssl=False),
    "uri, verify_ssl=false": lambda url: uri_connection(url, verify_ssl="false"),
}


@pytest.mark.parametrize("ca_bundle_env", [False, True], ids=["no-ca-bundle-env", "REQUESTS_CA_BUNDLE-set"])
@pytest.mark.parametrize("form", list(VERIFYING_FORMS))
def test_sync_hook_refuses_an_untrusted_certificate_by_default(
    form: str, ca_bundle_env: bool, https_server: HttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_ca_bundle_env(monkeypatch, ca_bundle_env)
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", VERIFYING_FORMS[form](https_server.url))
    hook = GongCrmHook(**FAST)
    assert hook.config.base_url == https_server.url
    assert hook.config.verify_ssl is True
    assert hook.get_conn().verify is True
    with pytest.raises(GongConnectionError) as raised:
        hook.list_integrations()
    assert "SSL" in str(raised.value) or "certificate" in str(raised.value).lower()
    assert SECRET not in str(raised.value)
    assert https_server.handled == []  # no request was ever answered over the untrusted channel


def set_ca_bundle_env(monkeypatch: pytest.MonkeyPatch, ca_bundle_env: bool) -> None:
    """Many containers set REQUESTS_CA_BUNDLE; requests then overrides a session's ``verify=False``."""
    import certifi

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if ca_bundle_env:
            monkeypatch.setenv(name, certifi.where())
        else:
            monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("ca_bundle_env", [False, True], ids=["no-ca-bundle-env", "REQUESTS_CA_BUNDLE-set"])
@pytest.mark.parametrize("form", list(NON_VERIFYING_FORMS))
def test_sync_hook_skips_verification_only_when_the_connection_says_so(
    form: str, ca_bundle_env: bool, https_server: HttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_ca_bundle_env(monkeypatch, ca_bundle_env)
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", NON_VERIFYING_FORMS[form](https_server.url))
    hook = GongCrmHook(**FAST)
    assert hook.config.verify_ssl is False
    assert hook.list_integrations() == []
    assert https_server.handled == ["/v2/crm/integrations"]


@pytest.mark.parametrize("form", list(VERIFYING_FORMS))
async def test_async_hook_refuses_an_untrusted_certificate_by_default(
    form: str, https_server: HttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", VERIFYING_FORMS[form](https_server.url))
    async with GongCrmAsyncHook(**FAST) as hook:
        assert (await hook.get_config()).verify_ssl is True
        with pytest.raises(GongConnectionError) as raised:
            await hook.list_integrations()
    assert SECRET not in str(raised.value)
    assert https_server.handled == []


@pytest.mark.parametrize("ca_bundle_env", [False, True], ids=["no-ca-bundle-env", "REQUESTS_CA_BUNDLE-set"])
@pytest.mark.parametrize("form", list(NON_VERIFYING_FORMS))
async def test_async_hook_skips_verification_only_when_the_connection_says_so(
    form: str, ca_bundle_env: bool, https_server: HttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_ca_bundle_env(monkeypatch, ca_bundle_env)
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", NON_VERIFYING_FORMS[form](https_server.url))
    async with GongCrmAsyncHook(**FAST) as hook:
        assert await hook.list_integrations() == []
    assert https_server.handled == ["/v2/crm/integrations"]


def test_the_default_host_is_https_with_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection with only credentials talks to https://api.gong.io and verifies it."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_GONG_DEFAULT", json.dumps({"conn_type": "gong", "login": KEY, "password": SECRET})
    )
    hook = GongCrmHook()
    assert hook.config.base_url == "https://api.gong.io"
    assert hook.get_conn().verify is True


# -- waiting on Gong behind an untrusted certificate ends at once, not at the deadline --------------

WAIT_AN_HOUR = 3600.0
"""A deadline far beyond every test's bound: an ERROR at all proves the wait did not run to it."""
TLS_FAILURE = r"(?i)certificate|SSL"


def test_trigger_ends_with_an_error_on_an_untrusted_certificate(
    https_server: HttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TLS failure is not transient: the trigger yields ERROR after one check instead of polling."""
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", json_connection(https_server.url))
    trigger = GongRequestStatusTrigger(
        integration_id="2271307570613351879",
        client_request_id="tls-wait",
        end_time=time.time() + WAIT_AN_HOUR,
        poll_interval=0.01,
        max_poll_interval=0.01,
    )
    [event] = run_trigger(trigger)
    assert event["status"] == "ERROR"
    assert re.search(TLS_FAILURE, event["message"])
    assert SECRET not in json.dumps(event)
    assert KEY not in json.dumps(event)
    assert len(https_server.connections) == 1  # one check, not retried by the hook either
    assert https_server.handled == []
    with pytest.raises(GongEventError, match=TLS_FAILURE):  # what the task then reports
        status_from_event(event, client_request_id="tls-wait")


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_sensor_fails_at_once_on_an_untrusted_certificate(
    mode: str, https_server: HttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sensor fails its first check with the TLS error instead of poking until its timeout."""
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", json_connection(https_server.url))
    sensor = GongRequestStatusSensor(
        task_id="wait",
        integration_id="2271307570613351879",
        client_request_id="tls-wait",
        deferrable=mode == "deferrable",
        poke_interval=0.01,
        max_poll_interval=0.01,
        timeout=WAIT_AN_HOUR,
    )
    with pytest.raises(GongConnectionError, match=TLS_FAILURE) as raised:
        run_task(sensor, task_context())
    assert SECRET not in str(raised.value)
    assert len(https_server.connections) == 1
    assert https_server.handled == []


def test_upload_operator_retry_stops_at_an_untrusted_certificate(
    https_server: HttpsServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The operator uses the same rule: a retry's first status check raises the TLS error, and the
    upload is not attempted behind a certificate that failed (before, it was: two connections)."""
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", json_connection(https_server.url))
    operator = GongUploadEntitiesOperator(
        task_id="upload",
        integration_id="2271307570613351879",
        object_type="CONTACT",
        file=str(write_ldjson(tmp_path / "c.ldjson", [contact("c-1")])),
        wait_for_completion=True,
        deferrable=False,
        timeout=WAIT_AN_HOUR,
    )
    with pytest.raises(GongConnectionError, match=TLS_FAILURE):
        run_task(operator, task_context(try_number=2))
    assert len(https_server.connections) == 1
