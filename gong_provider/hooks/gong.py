"""Hooks for Gong's CRM API (``/v2/crm``): GongCrmHook (sync, requests) and GongCrmAsyncHook (aiohttp).

Why not the http provider's HttpHook: it turns every connection extra it does not know into an HTTP
header (our ``access_token`` would be sent as a header named ``access_token``), its retry helper does
not honour ``Retry-After`` nor rewind an upload, and it logs its own lines. A ``requests.Session``
owned by the hook, with tenacity for retries and requests-toolbelt for streamed uploads, is smaller
and does exactly what Gong needs.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, TypeVar

import requests
from airflow.sdk import BaseHook
from tenacity import AsyncRetrying, Retrying

from gong_provider import __version__
from gong_provider.exceptions import GongConflictError, GongError
from gong_provider.hooks._connection import GongConnectionConfig, HookOptions, config_from_connection
from gong_provider.hooks._params import (
    client_request_id_param,
    integration_id_param,
    object_type_param,
    unique_ids,
)
from gong_provider.hooks._ratelimit import spend, spend_async
from gong_provider.hooks._responses import connection_error, interpret
from gong_provider.hooks._retry import RetryPolicy
from gong_provider.hooks._upload import upload_source
from gong_provider.models import (
    MAX_OBJECT_IDS_PER_GET,
    CustomField,
    Integration,
    ObjectType,
    RequestStatus,
    UploadResult,
)

if TYPE_CHECKING:
    import aiohttp
    from airflow.sdk import Connection, ObjectStoragePath

__all__ = ["GongCrmAsyncHook", "GongCrmHook"]

INTEGRATIONS_PATH = "/v2/crm/integrations"
ENTITY_SCHEMA_PATH = "/v2/crm/entity-schema"
ENTITIES_PATH = "/v2/crm/entities"
REQUEST_STATUS_PATH = "/v2/crm/request-status"

USER_AGENT = f"airflow-provider-gong/{__version__}"

T = TypeVar("T")


def _field_json(field: CustomField | Mapping[str, Any]) -> dict[str, Any]:
    return field.to_json() if isinstance(field, CustomField) else dict(field)


def _conflict_without_match(error: GongConflictError, name: str, names: list[str]) -> GongConflictError:
    existing = ", ".join(repr(n) for n in names) or "none visible to these credentials"
    return GongConflictError(
        f"Gong refused to register integration {name!r}: an active integration already exists and "
        f"none is named {name!r} (existing: {existing}). Gong allows one generic CRM integration per "
        "company: use its id, or delete it first",
        status_code=error.status_code,
        request_id=error.request_id,
        errors=error.errors,
        method=error.method,
        path=error.path,
    )


class _HeaderAuth(requests.auth.AuthBase):
    """Sets the Authorization header; as ``session.auth`` it also keeps ~/.netrc from replacing it."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._value
        return request

    def __repr__(self) -> str:
        return "<Gong authorization>"


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
        super().__init__()
        self.gong_conn_id = gong_conn_id
        self._options = HookOptions(
            timeout=timeout,
            max_retries=max_retries,
            calls_per_second=calls_per_second,
            retry_wait_base=retry_wait_base,
            retry_wait_max=retry_wait_max,
        )


class GongCrmHook(_GongHookBase):
    """Calls Gong's CRM API: integrations, entity schemas, uploads, request status and entities.

    One HTTP request per call (``get_entities`` sends one per 100 ids), with retries on 429, 5xx,
    connection errors and timeouts, the company's rate budget (``calls_per_second`` per API host,
    shared across the host's processes: ``hooks/_ratelimit.py``), connect and read timeouts, and
    one INFO log line per request. Errors are typed (``gong_provider.exceptions``)
    and carry Gong's requestId and messages.

    :param gong_conn_id: Airflow connection of type ``gong``.
    :param timeout: read timeout in seconds (default: the ``timeout`` extra, else 60).
    :param max_retries: retries after the first attempt (default: the extra, else 5).
    :param calls_per_second: calls in any sliding second to the company's API host, shared by every
        hook and process of the host (default: the extra, else 3; 0 = off).
    :param retry_wait_base: first backoff wait in seconds for 5xx and connection errors (default 1).
    :param retry_wait_max: longest backoff wait in seconds (default 60).
    """

    conn_type = "gong"
    hook_name = "Gong"

    _session: requests.Session | None = None

    # -- connection -------------------------------------------------------------------------

    @cached_property
    def config(self) -> GongConnectionConfig:
        """The connection's settings, read on first use (never at DAG parse time)."""
        conn = self.get_connection(self.gong_conn_id)
        config = config_from_connection(conn, conn.extra_dejson, self._options)
        _mask(config)
        return config

    def get_conn(self) -> requests.Session:
        """The hook's ``requests.Session`` (keep-alive, TLS verification, Authorization)."""
        if self._session is None:
            session = requests.Session()
            session.auth = _HeaderAuth(self.config.authorization)
            session.verify = self.config.verify_ssl
            session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
            self._session = session
        return self._session

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

    def register_integration(self, name: str, owner_email: str) -> int:
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
            raise _conflict_without_match(conflict, name, [i.name for i in integrations])
        return int(data["integrationId"])

    def list_integrations(self) -> list[Integration]:
        """The CRM integrations these credentials can see."""
        data = self._call("GET", INTEGRATIONS_PATH)
        return [Integration.from_json(item) for item in data.get("integrations") or []]

    def delete_integration(self, integration_id: int, client_request_id: str) -> str | None:
        """Ask Gong to delete an integration (asynchronous there: poll ``get_request_status``)."""
        params = {
            "integrationId": integration_id_param(integration_id),
            "clientRequestId": client_request_id_param(client_request_id),
        }
        data = self._call("DELETE", INTEGRATIONS_PATH, params=params)
        return _request_id(data)

    def get_entity_schema(self, integration_id: int, object_type: ObjectType | str) -> list[CustomField]:
        """The custom fields declared for ``object_type``."""
        type_name = object_type_param(object_type)
        params = {"integrationId": integration_id_param(integration_id), "objectType": type_name}
        data = self._call("GET", ENTITY_SCHEMA_PATH, params=params)
        selected = data.get("objectTypeToSelectedFields") or {}
        return [CustomField.from_json(item) for item in selected.get(type_name) or []]

    def set_entity_schema(
        self,
        integration_id: int,
        object_type: ObjectType | str,
        fields: Sequence[CustomField | Mapping[str, Any]],
    ) -> str | None:
        """Replace the custom fields of ``object_type``: send ALL of them (``is_deleted`` removes one)."""
        params = {
            "integrationId": integration_id_param(integration_id),
            "objectType": object_type_param(object_type),
        }
        body = [_field_json(field) for field in fields]
        data = self._call("POST", ENTITY_SCHEMA_PATH, params=params, json_body=body)
        return _request_id(data)

    def upload_entities(
        self,
        integration_id: int,
        object_type: ObjectType | str,
        client_request_id: str,
        data_file: str | os.PathLike[str] | IO[bytes] | ObjectStoragePath,
    ) -> UploadResult:
        """Upload one LDJSON file as the multipart part ``dataFile``, streamed (memory stays flat).

        A file over 200 MB is refused before sending (``GongPayloadTooLargeError``). A retry reopens or
        rewinds the file and sends the same clientRequestId; Gong's 409 for a clientRequestId it has
        already accepted is returned as ``UploadResult(already_accepted=True)``.
        """
        type_name = object_type_param(object_type)
        params = {
            "integrationId": integration_id_param(integration_id),
            "objectType": type_name,
            "clientRequestId": client_request_id_param(client_request_id),
        }
        source = upload_source(data_file, fallback_name=f"{type_name.lower()}.ldjson")
        self.log.info(
            "Uploading %s (%s bytes) as %s with clientRequestId %s",
            source.filename,
            source.size,
            type_name,
            client_request_id,
        )

        def send() -> requests.Response:
            with source.open() as fileobj:
                encoder = source.encoder(fileobj)
                return self.get_conn().post(
                    self._url(ENTITIES_PATH),
                    params=params,
                    data=encoder,
                    headers={"Content-Type": encoder.content_type},
                    timeout=self._timeouts,
                    verify=self.config.verify_ssl,
                )

        try:
            data = self._call("POST", ENTITIES_PATH, send=send)
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
            request_id=_request_id(data),
        )

    def get_request_status(self, integration_id: int, client_request_id: str) -> RequestStatus:
        """Gong's processing state of an upload or delete, with its counts and line errors."""
        params = {
            "integrationId": integration_id_param(integration_id),
            "clientRequestId": client_request_id_param(client_request_id),
        }
        return RequestStatus.from_json(self._call("GET", REQUEST_STATUS_PATH, params=params))

    def get_entities(
        self, integration_id: int, object_type: ObjectType | str, object_ids: Sequence[str]
    ) -> dict[str, dict[str, Any] | None]:
        """Stored objects by objectId (None when Gong has none); one call per 100 ids.

        Gong documents this call for development only (to check that uploads were processed).
        """
        params = {
            "integrationId": integration_id_param(integration_id),
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
            integrations = self.list_integrations()
        except GongError as error:  # GongAuthError's text names wrong key/secret and regional hosts
            return False, str(error)
        except Exception as error:
            return False, f"{type(error).__name__}: {self._redact(str(error))}"
        return True, (
            f"Connected to Gong at {self.config.base_url} ({self.config.auth_scheme} auth); "
            f"{len(integrations)} CRM integration(s) visible"
        )

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def _timeouts(self) -> tuple[float, float]:
        return (self.config.connect_timeout, self.config.timeout)

    def _url(self, path: str) -> str:
        return self.config.base_url + path

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
        send: Callable[[], requests.Response] | None = None,
    ) -> dict[str, Any]:
        """One API call within the rate budget and the retry policy; returns Gong's JSON object."""
        config = self.config

        def default_send() -> requests.Response:
            return self.get_conn().request(
                method,
                self._url(path),
                params=params,
                json=json_body,
                timeout=self._timeouts,
                verify=self.config.verify_ssl,  # per request: REQUESTS_CA_BUNDLE would override the session's
            )

        def attempt() -> dict[str, Any]:
            with spend(config.budget):
                started = time.monotonic()
                try:
                    response = (send or default_send)()
                except (
                    requests.ConnectionError,
                    requests.Timeout,
                    requests.exceptions.ChunkedEncodingError,
                ) as exc:
                    elapsed_ms = (time.monotonic() - started) * 1000
                    raise connection_error(
                        config, exc, method=method, path=path, elapsed_ms=elapsed_ms
                    ) from exc
            return interpret(
                config,
                method=method,
                path=path,
                status=response.status_code,
                content=response.content,
                retry_after=response.headers.get("Retry-After"),
                elapsed_ms=(time.monotonic() - started) * 1000,
            )

        retrying = Retrying(**RetryPolicy.from_config(config).tenacity_kwargs())
        return retrying(attempt)


class GongCrmAsyncHook(_GongHookBase):
    """The async (aiohttp) side of the Gong hook, for triggers: never blocks the event loop.

    Same connection, retry policy and shared rate budget as :class:`GongCrmHook`. Use it as
    ``async with GongCrmAsyncHook(conn_id) as hook:`` or call :meth:`close`.

    :param gong_conn_id: Airflow connection of type ``gong``.
    :param timeout: read timeout in seconds, as for :class:`GongCrmHook`.
    :param max_retries: retries after the first attempt, as for :class:`GongCrmHook`.
    :param calls_per_second: client-side limit per process, as for :class:`GongCrmHook`.
    :param retry_wait_base: first backoff wait in seconds, as for :class:`GongCrmHook`.
    :param retry_wait_max: longest backoff wait in seconds, as for :class:`GongCrmHook`.
    """

    _config: GongConnectionConfig | None = None
    _session: aiohttp.ClientSession | None = None

    async def get_config(self) -> GongConnectionConfig:
        """Read the connection without blocking the loop (``BaseHook.aget_connection``)."""
        if self._config is None:
            conn = await _aget_connection(self.gong_conn_id)
            extra = await conn.aextra_dejson() if hasattr(conn, "aextra_dejson") else conn.extra_dejson
            config = config_from_connection(conn, extra, self._options)
            await _amask(config)
            self._config = config
        return self._config

    async def get_session(self) -> aiohttp.ClientSession:
        import aiohttp  # imported here: it costs DAG files ~100-300 ms to parse, and only triggers need it

        if self._session is None or self._session.closed:
            config = await self.get_config()
            self._session = aiohttp.ClientSession(
                headers={
                    "Authorization": config.authorization,
                    "Accept": "application/json",
                    "User-Agent": USER_AGENT,
                },
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

    async def get_request_status(self, integration_id: int, client_request_id: str) -> RequestStatus:
        """As :meth:`GongCrmHook.get_request_status`, without blocking the event loop."""
        params = {
            "integrationId": integration_id_param(integration_id),
            "clientRequestId": client_request_id_param(client_request_id),
        }
        return RequestStatus.from_json(await self._call("GET", REQUEST_STATUS_PATH, params=params))

    async def list_integrations(self) -> list[Integration]:
        """As :meth:`GongCrmHook.list_integrations`, without blocking the event loop."""
        data = await self._call("GET", INTEGRATIONS_PATH)
        return [Integration.from_json(item) for item in data.get("integrations") or []]

    async def _call(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        import aiohttp

        config = await self.get_config()
        session = await self.get_session()
        url = config.base_url + path

        async def attempt() -> dict[str, Any]:
            async with spend_async(config.budget):
                started = time.monotonic()
                try:
                    async with session.request(method, url, params=params) as response:
                        content = await response.read()
                        status = response.status
                        retry_after = response.headers.get("Retry-After")
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    elapsed_ms = (time.monotonic() - started) * 1000
                    raise connection_error(
                        config, exc, method=method, path=path, elapsed_ms=elapsed_ms
                    ) from exc
            return interpret(
                config,
                method=method,
                path=path,
                status=status,
                content=content,
                retry_after=retry_after,
                elapsed_ms=(time.monotonic() - started) * 1000,
            )

        retrying = AsyncRetrying(**RetryPolicy.from_config(config).tenacity_kwargs())
        result: dict[str, Any] = await retrying(attempt)
        return result


def _request_id(data: Mapping[str, Any]) -> str | None:
    value = data.get("requestId")
    return str(value) if value is not None else None


def _mask(config: GongConnectionConfig) -> None:
    """Tell Airflow's log masker about derived secrets (the Basic header value)."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover
        return
    for secret in config.secrets:
        mask_secret(secret)


async def _amask(config: GongConnectionConfig) -> None:
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # pragma: no cover - Airflow < 3.3
        _mask(config)
        return
    for secret in config.secrets:
        await amask_secret(secret)


async def _aget_connection(conn_id: str) -> Connection:
    """``BaseHook.aget_connection`` (Airflow 3.x task SDK); else the sync lookup off the loop."""
    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        conn: Connection = await aget(conn_id)
        return conn
    from asgiref.sync import sync_to_async

    result: Connection = await sync_to_async(BaseHook.get_connection)(conn_id)
    return result
