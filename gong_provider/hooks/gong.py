"""Hooks for Gong's CRM API (``/v2/crm``): GongCrmHook (the http provider's HttpHook) and GongCrmAsyncHook.

``GongCrmHook`` is an ``HttpHook``, as Apache's ``DbtCloudHook`` is, standing on its public ground
only: it overrides public methods and sets the public attributes HttpHook's constructor sets
(``method``, ``http_conn_id``, ``base_url``); it inherits the TCP keep-alive adapter, sending a
prepared request (``run_and_check``) and, for Gong endpoints it does not wrap, ``run`` and
``run_with_advanced_retry``. ``tests/hooks/test_hook_http_contract.py`` pins what it relies on, so
that a new http provider release that changes it fails there. It overrides what Gong needs done
differently:

- ``get_conn``: one session per hook whose only credential is the Authorization header of the
  connection rules (``_connection.py``); connection extras are Gong settings, never headers
  (HttpHook would send ``access_token`` as a header of that name).
- ``url_from_endpoint``: the base URL by the Gong connection rules (``https`` unless the connection
  says ``http``, no trailing ``/v2``), where HttpHook's would default to ``http``.
- ``run_and_check``: every request, wrapped or raw ``run``, spends the company's rate budget
  (``_ratelimit.py``) and a request without an answer raises ``GongConnectionError``.
- ``check_response``: a 4xx/5xx raises its typed error (``gong_provider.exceptions``) with Gong's
  requestId and messages, secrets redacted, instead of logging the body and raising AirflowException.
- retries: our ``RetryPolicy`` (Retry-After honoured, a bad certificate not retried) around whole
  attempts, each reopening a streamed upload (``_upload.py``), instead of ``run_with_advanced_retry``.

``GongCrmAsyncHook`` is not an ``HttpAsyncHook``: see its docstring.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk import BaseHook
from tenacity import AsyncRetrying, Retrying

from gong_provider import __version__
from gong_provider.airflow_compat import aget_connection, aget_extra_dejson
from gong_provider.exceptions import GongConflictError, GongError
from gong_provider.hooks._auth import HeaderAuth, amask_secrets, mask_secrets
from gong_provider.hooks._connection import (
    GongConnectionConfig,
    HookArguments,
    HookOptions,
    config_from_connection,
)
from gong_provider.hooks._params import (
    client_request_id_param,
    field_json,
    integration_id_http_value,
    object_type_param,
    unique_ids,
)
from gong_provider.hooks._ratelimit import spend, spend_async
from gong_provider.hooks._responses import (
    Answer,
    conflict_without_match,
    connection_error,
    interpret,
    raise_for_status,
    request_id_of,
)
from gong_provider.hooks._retry import RetryPolicy, read_seconds_left
from gong_provider.hooks._upload import ContentFacts, UploadSource, upload_source
from gong_provider.ids import IntegrationId, parse_integration_id
from gong_provider.limits import MAX_OBJECT_IDS_PER_GET
from gong_provider.models import (
    CustomField,
    Integration,
    ObjectType,
    RequestStatus,
    UploadResult,
)

if TYPE_CHECKING:
    import aiohttp
    from airflow.sdk import ObjectStoragePath
    from typing_extensions import Unpack

__all__ = ["GongCrmAsyncHook", "GongCrmHook"]

INTEGRATIONS_PATH = "/v2/crm/integrations"
ENTITY_SCHEMA_PATH = "/v2/crm/entity-schema"
ENTITIES_PATH = "/v2/crm/entities"
REQUEST_STATUS_PATH = "/v2/crm/request-status"

USER_AGENT = f"airflow-provider-gong/{__version__}"
DEFAULT_HEADERS = {"Accept": "application/json", "User-Agent": USER_AGENT}

_NO_ANSWER = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
"""What ``requests`` raises when Gong did not answer (refused, dropped, timed out)."""


class _GongHookBase(BaseHook):
    """What both hooks share: the connection id and the per-hook overrides of its extras.

    Parameters: see :class:`GongCrmHook`.
    """

    conn_name_attr = "gong_conn_id"
    default_conn_name = "gong_default"

    def __init__(
        self,
        gong_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        calls_per_second: float | None = None,
        retry_wait_base: float | None = None,
        retry_wait_max: float | None = None,
    ) -> None:
        super().__init__()  # the next base with its own defaults (GongCrmHook then sets HttpHook's)
        self.gong_conn_id = gong_conn_id
        self._options = HookOptions(
            timeout=timeout,
            max_retries=max_retries,
            calls_per_second=calls_per_second,
            retry_wait_base=retry_wait_base,
            retry_wait_max=retry_wait_max,
        )


class GongCrmHook(_GongHookBase, HttpHook):
    """Calls Gong's CRM API: integrations, entity schemas, uploads, request status and entities.

    One HTTP request per call (``get_entities`` sends one per 100 ids), with retries on 429, 5xx,
    connection errors and timeouts, the company's rate budget (``calls_per_second`` per API host,
    shared across the host's processes: ``hooks/_ratelimit.py``), connect and read timeouts, and
    one INFO log line per request. Errors are typed (``gong_provider.exceptions``)
    and carry Gong's requestId and messages.

    An ``HttpHook``: ``run(endpoint)`` reaches a Gong endpoint this hook does not wrap with the same
    authorization, TLS setting, timeouts and rate budget (and typed errors), without retries.

    :param gong_conn_id: Airflow connection of type ``gong`` (or an ``http`` connection to Gong).
    :param timeout: read timeout in seconds (default: the ``timeout`` extra, else 60).
    :param max_retries: retries after the first attempt (default: the extra, else 5).
    :param calls_per_second: calls in any sliding second to the company's API host, shared by every
        hook and process of the host (default: the extra, else 3; 0 = off).
    :param retry_wait_base: first backoff wait in seconds for 5xx and connection errors (default 1).
    :param retry_wait_max: longest backoff wait in seconds (default 60).
    """

    conn_type = "gong"
    hook_name = "Gong"
    default_headers = DEFAULT_HEADERS

    _session: requests.Session | None = None

    def __init__(
        self, gong_conn_id: str = _GongHookBase.default_conn_name, **options: Unpack[HookArguments]
    ) -> None:
        super().__init__(gong_conn_id, **options)
        # HttpHook's public attributes, as its constructor would set them: a raw ``run`` is a GET
        # (set ``method`` for another verb) on the Gong connection
        self.method = "GET"
        self.http_conn_id = gong_conn_id

    # -- connection -------------------------------------------------------------------------

    @cached_property
    def config(self) -> GongConnectionConfig:
        """The connection's settings, read on first use (never at DAG parse time)."""
        conn = self.get_connection(self.gong_conn_id)
        config = config_from_connection(conn, conn.extra_dejson, self._options)
        mask_secrets(config)
        return config

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """The hook's one ``requests.Session``: keep-alive, TLS verification, Authorization.

        HttpHook's builds a new session per call and sends every connection extra it does not know
        as a header. ``headers`` are not kept on the shared session (``run`` sends them with its
        request); ``extra_options`` join the request options (``merged_extra``), as in HttpHook.
        """
        config = self.config
        if self._session is None:
            self.base_url = config.base_url
            session = requests.Session()
            session.auth = HeaderAuth(config.authorization)
            session.verify = config.verify_ssl
            session.headers.update(self.default_headers)
            if self.keep_alive_adapter is not None:  # HttpHook's TCP keep-alive, built by its constructor
                session.mount("https://", self.keep_alive_adapter)
                session.mount("http://", self.keep_alive_adapter)
            self._session = session
        # what HttpHook's ``run`` hands to ``run_and_check`` (its own ``get_conn`` sets it too)
        self.merged_extra = {**self._request_options, **(extra_options or {})}
        return self._session

    def url_from_endpoint(self, endpoint: str | None) -> str:
        """The base URL by the Gong connection rules (``https`` unless the connection says ``http``)
        joined with ``endpoint``; HttpHook's would default to ``http`` and keep a trailing ``/v2``."""
        base_url = self.config.base_url
        if base_url and not base_url.endswith("/") and endpoint and not endpoint.startswith("/"):
            return f"{base_url}/{endpoint}"
        return base_url + (endpoint or "")

    def close(self) -> None:
        """Close the session; the hook opens a new one if it is used again."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> GongCrmHook:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the API ----------------------------------------------------------------------------

    def register_integration(self, name: str, owner_email: str) -> IntegrationId:
        """Register the generic CRM integration; idempotent (a 409 returns the existing one's id)."""
        try:
            data = self._call("PUT", INTEGRATIONS_PATH, json_body={"ownerEmail": owner_email, "name": name})
        except GongConflictError as conflict:
            integrations = self.list_integrations()
            for integration in integrations:
                if integration.name == name:
                    self.log.info(
                        "Gong integration %r already exists: id %s", name, integration.integration_id
                    )
                    return integration.integration_id
            raise conflict_without_match(conflict, name, [i.name for i in integrations])
        return parse_integration_id(data["integrationId"])  # Gong's answer: a door

    def list_integrations(self) -> list[Integration]:
        """The CRM integrations these credentials can see."""
        data = self._call("GET", INTEGRATIONS_PATH)
        return [Integration.from_json(item) for item in data.get("integrations") or []]

    def delete_integration(self, integration_id: IntegrationId, client_request_id: str) -> str | None:
        """Ask Gong to delete an integration (asynchronous there: poll ``get_request_status``)."""
        params = {
            "integrationId": integration_id_http_value(integration_id),
            "clientRequestId": client_request_id_param(client_request_id),
        }
        data = self._call("DELETE", INTEGRATIONS_PATH, params=params)
        return request_id_of(data)

    def get_entity_schema(
        self, integration_id: IntegrationId, object_type: ObjectType | str
    ) -> list[CustomField]:
        """The custom fields declared for ``object_type``."""
        type_name = object_type_param(object_type)
        params = {"integrationId": integration_id_http_value(integration_id), "objectType": type_name}
        data = self._call("GET", ENTITY_SCHEMA_PATH, params=params)
        selected = data.get("objectTypeToSelectedFields") or {}
        return [CustomField.from_json(item) for item in selected.get(type_name) or []]

    def set_entity_schema(
        self,
        integration_id: IntegrationId,
        object_type: ObjectType | str,
        fields: Sequence[CustomField | Mapping[str, Any]],
    ) -> str | None:
        """Replace the custom fields of ``object_type``: send ALL of them (``is_deleted`` removes one)."""
        params = {
            "integrationId": integration_id_http_value(integration_id),
            "objectType": object_type_param(object_type),
        }
        body = [field_json(field) for field in fields]
        data = self._call("POST", ENTITY_SCHEMA_PATH, params=params, json_body=body)
        return request_id_of(data)

    def upload_entities(
        self,
        integration_id: IntegrationId,
        object_type: ObjectType | str,
        client_request_id: str,
        data_file: str | os.PathLike[str] | IO[bytes] | ObjectStoragePath,
        *,
        expected: ContentFacts | None = None,
    ) -> UploadResult:
        """Upload one LDJSON file as the multipart part ``dataFile``, streamed (memory stays flat).

        A file over 200 MB is refused before sending (``GongPayloadTooLargeError``). A retry reopens or
        rewinds the file and sends the same clientRequestId; Gong's 409 for a clientRequestId it has
        already accepted is returned as ``UploadResult(already_accepted=True)``. With ``expected``
        (the staged file's size, lines and sha256) the bytes are checked as they stream: a
        difference raises ``GongContentMismatchError`` before the file is complete at Gong.
        """
        type_name = object_type_param(object_type)
        params = {
            "integrationId": integration_id_http_value(integration_id),
            "objectType": type_name,
            "clientRequestId": client_request_id_param(client_request_id),
        }
        source = upload_source(data_file, fallback_name=f"{type_name.lower()}.ldjson", expected=expected)
        self.log.info(
            "Uploading %s (%s bytes) as %s with clientRequestId %s",
            source.filename,
            source.size,
            type_name,
            client_request_id,
        )

        try:
            data = self._call("POST", ENTITIES_PATH, params=params, upload=source)
        except GongConflictError as conflict:
            self.log.info(
                "Gong already accepted clientRequestId %s (409, requestId=%s): not uploaded again",
                client_request_id,
                conflict.request_id,
            )
            return UploadResult(
                client_request_id=client_request_id, request_id=conflict.request_id, already_accepted=True
            )
        return UploadResult(
            client_request_id=str(data.get("clientRequestId") or client_request_id),
            request_id=request_id_of(data),
        )

    def get_request_status(
        self, integration_id: IntegrationId, client_request_id: str, *, deadline: float | None = None
    ) -> RequestStatus:
        """Gong's processing state of an upload or delete, with its counts and line errors.

        ``deadline`` (epoch seconds, a wait's end) bounds the call and its retries: no retry waits
        past it and no attempt reads for longer. Ids of earlier releases (up to 64 characters) are
        accepted here: Gong still knows them."""
        params = {
            "integrationId": integration_id_http_value(integration_id),
            "clientRequestId": client_request_id_param(client_request_id, stored=True),
        }
        return RequestStatus.from_json(
            self._call("GET", REQUEST_STATUS_PATH, params=params, deadline=deadline)
        )

    def get_entities(
        self, integration_id: IntegrationId, object_type: ObjectType | str, object_ids: Sequence[str]
    ) -> dict[str, dict[str, Any] | None]:
        """Stored objects by objectId (None when Gong has none); one call per 100 ids.

        Gong documents this call for development only (to check that uploads were processed).
        """
        params = {
            "integrationId": integration_id_http_value(integration_id),
            "objectType": object_type_param(object_type),
        }
        ids = unique_ids(object_ids)
        result: dict[str, dict[str, Any] | None] = {}
        for start in range(0, len(ids), MAX_OBJECT_IDS_PER_GET):
            batch = ids[start : start + MAX_OBJECT_IDS_PER_GET]
            data = self._call("GET", ENTITIES_PATH, params=params, json_body=batch)
            objects = data.get("crmObjectsMap") or {}
            for object_id in batch:
                result[object_id] = objects.get(object_id)
        return result

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials and host with a cheap read (``list_integrations``)."""
        try:
            self.config  # noqa: B018 - read the connection first: a missing one is named, not redacted away
        except Exception as error:  # the connection's id and the lookup's own words hold no secret
            return False, f"connection {self.gong_conn_id!r} cannot be read: {type(error).__name__}: {error}"
        try:
            integrations = self.list_integrations()
        except GongError as error:  # GongAuthError's text names wrong key/secret and regional hosts
            return False, str(error)
        except Exception as error:
            return False, f"{type(error).__name__}: {self._redact(str(error))}"
        return True, (
            f"Connected to Gong at {self.config.base_url} ({self.config.auth_scheme} auth); "
            f"{len(integrations)} CRM integration(s) visible"
        )

    # -- HttpHook overrides -----------------------------------------------------------------

    def run_and_check(
        self,
        session: requests.Session,
        prepped_request: requests.PreparedRequest,
        extra_options: dict[Any, Any],
    ) -> requests.Response:
        """Send one request within the company's rate budget; no answer raises ``GongConnectionError``.

        Every request of the hook passes here, the wrapped calls and a raw ``run`` alike.
        """
        config = self.config
        method, path = prepped_request.method or "", self._endpoint_of(prepped_request.url)
        with spend(config.budget):
            started = time.monotonic()
            try:
                response: requests.Response = super().run_and_check(session, prepped_request, extra_options)
            except _NO_ANSWER as exc:
                elapsed_ms = (time.monotonic() - started) * 1000
                raise connection_error(config, exc, method=method, path=path, elapsed_ms=elapsed_ms) from exc
        return response

    def check_response(self, response: requests.Response) -> None:
        """A 4xx/5xx answer raises its typed Gong error, with Gong's requestId and messages.

        HttpHook's logs the whole body at ERROR (Gong may echo a credential) and raises a bare
        ``AirflowException``.
        """
        request = response.request
        raise_for_status(self.config, _answer(response, request.method or "", self._endpoint_of(request.url)))

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def _request_options(self) -> dict[str, Any]:
        """``run_and_check``'s options: connect and read timeouts, and TLS verification per request
        (``REQUESTS_CA_BUNDLE`` would otherwise override a session's ``verify=False``)."""
        config = self.config
        return {"timeout": (config.connect_timeout, config.timeout), "verify": config.verify_ssl}

    def _endpoint_of(self, url: str | None) -> str:
        """A request URL's path after the base URL's, without the query: what logs and errors name."""
        path = urlsplit(url or "").path
        base_path = urlsplit(self.config.base_url).path
        return path[len(base_path) :] if base_path and path.startswith(base_path) else path

    def _redact(self, text: str) -> str:
        try:
            return self.config.redact(text)
        except Exception:
            return "<unavailable>"

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        upload: UploadSource | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """One API call within the retry policy (and ``deadline``); returns Gong's JSON object."""
        config = self.config

        def attempt() -> dict[str, Any]:
            response = self._send(
                method, path, params=params, json_body=json_body, upload=upload, deadline=deadline
            )
            return interpret(config, _answer(response, method, path))

        retrying = Retrying(**RetryPolicy.from_config(config).tenacity_kwargs(deadline))
        return retrying(attempt)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        json_body: Any,
        upload: UploadSource | None,
        deadline: float | None = None,
    ) -> requests.Response:
        """One attempt through HttpHook's ``run_and_check``; an upload is reopened (or rewound) and
        re-encoded each time, so that a retry streams the same bytes again."""
        session = self.get_conn()
        options = {**self._request_options, "check_response": False}
        if deadline is not None:
            left = read_seconds_left(self.config.timeout, deadline)
            options["timeout"] = (min(self.config.connect_timeout, left), left)
        url = self.url_from_endpoint(path)
        if upload is None:
            request = requests.Request(method, url, params=params, json=json_body)
            return self.run_and_check(session, session.prepare_request(request), options)
        with upload.open() as fileobj:
            encoder = upload.encoder(fileobj)
            request = requests.Request(
                method, url, params=params, data=encoder, headers={"Content-Type": encoder.content_type}
            )
            return self.run_and_check(session, session.prepare_request(request), options)


class GongCrmAsyncHook(_GongHookBase):
    """The async (aiohttp) side of the Gong hook, for triggers: never blocks the event loop.

    Same connection, retry policy and shared rate budget as :class:`GongCrmHook`. Use it as
    ``async with GongCrmAsyncHook(conn_id) as hook:`` or call :meth:`close`.

    It reads the connection as the http provider's ``HttpAsyncHook`` does (asynchronously, masking
    secrets off the loop), but is not one: ``HttpAsyncHook`` opens a new bare
    ``aiohttp.ClientSession`` per call (no TLS setting, no socket timeouts, proxies from the
    environment ignored, a new TLS handshake on every poll of a trigger), sends connection extras as
    headers, retries only 5xx at a fixed delay (never a 429, never after Retry-After, never a dropped
    connection), offers no place for the rate budget around an attempt, and raises
    ``HttpErrorException("status:reason")`` without Gong's requestId or messages. Overriding all of
    that would leave nothing of it but the name.

    :param gong_conn_id: Airflow connection of type ``gong``.
    :param timeout: read timeout in seconds, as for :class:`GongCrmHook`.
    :param max_retries: retries after the first attempt, as for :class:`GongCrmHook`.
    :param calls_per_second: the shared rate budget, as for :class:`GongCrmHook`.
    :param retry_wait_base: first backoff wait in seconds, as for :class:`GongCrmHook`.
    :param retry_wait_max: longest backoff wait in seconds, as for :class:`GongCrmHook`.
    """

    _config: GongConnectionConfig | None = None
    _session: aiohttp.ClientSession | None = None

    async def get_config(self) -> GongConnectionConfig:
        """Read the connection without blocking the loop (``gong_provider.airflow_compat``)."""
        if self._config is None:
            conn = await aget_connection(self, self.gong_conn_id)
            extra = await aget_extra_dejson(conn)
            config = config_from_connection(conn, extra, self._options)
            await amask_secrets(config)
            self._config = config
        return self._config

    async def get_session(self) -> aiohttp.ClientSession:
        import aiohttp  # imported here: it costs DAG files ~100-300 ms to parse, and only triggers need it

        if self._session is None or self._session.closed:
            config = await self.get_config()
            self._session = aiohttp.ClientSession(
                headers={"Authorization": config.authorization, **DEFAULT_HEADERS},
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=config.connect_timeout, sock_read=config.timeout
                ),
                connector=aiohttp.TCPConnector(ssl=config.verify_ssl),
                trust_env=True,
            )
        return self._session

    async def close(self) -> None:
        """Close the aiohttp session; the hook opens a new one if it is used again."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> GongCrmAsyncHook:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def get_request_status(
        self, integration_id: IntegrationId, client_request_id: str, *, deadline: float | None = None
    ) -> RequestStatus:
        """As :meth:`GongCrmHook.get_request_status`, without blocking the event loop."""
        params = {
            "integrationId": integration_id_http_value(integration_id),
            "clientRequestId": client_request_id_param(client_request_id, stored=True),
        }
        data = await self._call("GET", REQUEST_STATUS_PATH, params=params, deadline=deadline)
        return RequestStatus.from_json(data)

    async def list_integrations(self) -> list[Integration]:
        """As :meth:`GongCrmHook.list_integrations`, without blocking the event loop."""
        data = await self._call("GET", INTEGRATIONS_PATH)
        return [Integration.from_json(item) for item in data.get("integrations") or []]

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        import aiohttp

        config = await self.get_config()
        session = await self.get_session()
        url = config.base_url + path

        async def attempt() -> dict[str, Any]:
            async with spend_async(config.budget):
                started = time.monotonic()
                left = read_seconds_left(config.timeout, deadline)
                timeout = aiohttp.ClientTimeout(
                    total=None, sock_connect=min(config.connect_timeout, left), sock_read=left
                )
                try:
                    async with session.request(method, url, params=params, timeout=timeout) as response:
                        content = await response.read()
                        status = response.status
                        retry_after = response.headers.get("Retry-After")
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    elapsed_ms = (time.monotonic() - started) * 1000
                    raise connection_error(
                        config, exc, method=method, path=path, elapsed_ms=elapsed_ms
                    ) from exc
            elapsed_ms = (time.monotonic() - started) * 1000
            return interpret(config, Answer(method, path, status, content, retry_after, elapsed_ms))

        retrying = AsyncRetrying(**RetryPolicy.from_config(config).tenacity_kwargs(deadline))
        result: dict[str, Any] = await retrying(attempt)
        return result


def _answer(response: requests.Response, method: str, path: str) -> Answer:
    """A ``requests`` answer for the rules of ``_responses.py``; elapsed as ``requests`` measures it
    (from sending the request to Gong's answer)."""
    return Answer(
        method=method,
        path=path,
        status=response.status_code,
        content=response.content,
        retry_after=response.headers.get("Retry-After"),
        elapsed_ms=response.elapsed.total_seconds() * 1000,
    )
