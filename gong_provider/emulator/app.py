"""The aiohttp application: Gong's /v2/crm API plus the /_emulator inspection and fault endpoints."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import random
import re
import secrets
import string
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import BodyPartReader, web

from gong_provider.emulator.config import DEFAULT_OWNER_EMAIL, EmulatorConfig
from gong_provider.emulator.faults import DEFAULT_MESSAGES, Fault, FaultBoard
from gong_provider.emulator.processing import REFUSE_EVERY_LINE, Processor
from gong_provider.emulator.ratelimit import RateLimiter
from gong_provider.emulator.rules import (
    OBJECT_TYPES,
    SCHEMA_OBJECT_TYPES,
    check_schema_update,
    is_valid_client_request_id,
    schema_field_for_get,
)
from gong_provider.emulator.store import TERMINAL_STATES, Store
from gong_provider.limits import MAX_OBJECT_IDS_PER_GET, MAX_UPLOAD_FILE_BYTES

log = logging.getLogger(__name__)

MULTIPART_ENVELOPE_ALLOWANCE = 1024 * 1024
"""A request whose Content-Length exceeds the limit by more than this cannot hold a valid dataFile."""
CHUNK_BYTES = 1024 * 1024
_INTEGER = re.compile(r"[0-9]{1,19}")
_REQUEST_ID_ALPHABET = string.ascii_lowercase + string.digits

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An error answer with Gong's body ``{requestId, errors: [...]}``."""

    def __init__(self, status: int, *errors: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, errors)
        self.status = status
        self.errors = list(errors)
        self.headers = headers or {}


def new_request_id() -> str:
    """Gong-like request ids: 19 lowercase letters and digits, fresh on every response."""
    return "".join(secrets.choice(_REQUEST_ID_ALPHABET) for _ in range(19))


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Python ints of any size are written exactly (no float round trip)."""
    return web.Response(
        body=msgspec.json.encode(data), status=status, content_type="application/json", headers=headers
    )


class Emulator:
    """The state of a running emulator: store, processor, faults, rate limits and settings."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.settings = config.settings
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.uploads_dir = config.data_dir / "uploads"
        self.uploads_dir.mkdir(exist_ok=True)
        db_path = config.data_dir / "emulator.sqlite3"
        fresh = not db_path.exists()
        self.store = Store(db_path)
        if fresh:
            for integration in self.initial_integrations():
                self.store.add_integration(*integration)
        self.processor = Processor(self.store)
        self.faults = FaultBoard()
        self.limiter = RateLimiter(self.settings.rate_limit_per_second, self.settings.rate_limit_per_day)

    def initial_integrations(self) -> list[tuple[int, str, str]]:
        if self.config.integration_id is None:
            return []
        return [(self.config.integration_id, DEFAULT_OWNER_EMAIL, self.config.integration_name)]

    def authenticate(self, header: str) -> str | None:
        """The credential's identity, or None when the header is not accepted."""
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            key, _, secret = decoded.partition(":")
            if hmac.compare_digest(key.encode(), self.config.access_key.encode()) and hmac.compare_digest(
                secret.encode(), self.config.access_key_secret.encode()
            ):
                return "basic:" + key
            return None
        if scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), self.config.token.encode()):
            return "bearer"
        return None

    def apply_settings(self, changes: dict[str, Any]) -> None:
        self.settings = self.settings.updated(changes)
        self.limiter.configure(self.settings.rate_limit_per_second, self.settings.rate_limit_per_day)
        self.processor.wake()

    def restore_settings(self) -> None:
        self.settings = self.config.settings
        self.limiter.configure(self.settings.rate_limit_per_second, self.settings.rate_limit_per_day)

    def processing_delays(self, file_bytes: int) -> tuple[float, float]:
        """(PENDING -> IN_PROGRESS, -> processed) delays: fixed plus per MB; half of it PENDING."""
        total = self.settings.processing_delay + self.settings.processing_delay_per_mb * file_bytes / 1e6
        return total / 2, total

    async def reset(self) -> None:
        def wipe() -> list[str]:
            return self.store.reset(self.initial_integrations())

        files: list[str] = await self.processor.exclusive(wipe)
        for file in files:
            with contextlib.suppress(OSError):
                Path(file).unlink()
        self.faults.clear()
        self.limiter.reset()


EMULATOR = web.AppKey("emulator", Emulator)


# ----------------------------------------------------------------------------- request helpers


def integer_param(request: web.Request, name: str) -> int:
    """A 64-bit integer from the query string, parsed as an int (never a float)."""
    value = request.query.get(name)
    if value is None or value == "":
        raise ApiError(400, f"Required parameter '{name}' is missing")
    if _INTEGER.fullmatch(value) is None or int(value) >= 2**63:
        raise ApiError(400, f"Parameter '{name}' must be a 64-bit integer, got '{value[:40]}'")
    return int(value)


def object_type_param(request: web.Request, allowed: tuple[str, ...]) -> str:
    value = request.query.get("objectType")
    if not value:
        raise ApiError(400, "Required parameter 'objectType' is missing")
    if value not in allowed:
        hint = " (object types are case-sensitive)" if value.upper() in allowed else ""
        raise ApiError(400, f"Invalid objectType '{value[:40]}'{hint}: must be one of {', '.join(allowed)}")
    return value


def client_request_id_param(request: web.Request) -> str:
    value = request.query.get("clientRequestId")
    if not value:
        raise ApiError(400, "Required parameter 'clientRequestId' is missing")
    if not is_valid_client_request_id(value):
        raise ApiError(
            400,
            "Invalid clientRequestId: use at most 64 letters, digits, dashes and underscores",
        )
    return value


def known_integration(emulator: Emulator, integration_id: int) -> int:
    if not emulator.store.has_integration(integration_id):
        raise ApiError(400, f"Integration {integration_id} not found")
    return integration_id


async def json_body(request: web.Request) -> Any:
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(400, "Request body too large")
    if not body:
        raise ApiError(400, "Required request body is missing")
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, f"Malformed JSON request body: {error}")


async def drain(request: web.Request) -> None:
    """Read what is left of the body, so a client still sending gets our answer, not a reset."""
    with contextlib.suppress(Exception):
        while await request.content.readany():
            pass


# ----------------------------------------------------------------------------- middleware


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Gong's cross-cutting behaviour for /v2: request ids, auth, rate limits, faults, request log."""
    if not request.path.startswith("/v2/"):
        return await handler(request)
    emulator = request.app[EMULATOR]
    request_id = new_request_id()
    request["request_id"] = request_id
    method, path = request.method, request.path
    client_request_id = request.query.get("clientRequestId")
    delay = drop = None
    try:
        credential = emulator.authenticate(request.headers.get("Authorization", ""))
        if credential is None:
            raise ApiError(401, "Access denied: missing or invalid credentials")
        retry_after = emulator.limiter.acquire()  # one company: every credential spends one budget
        if retry_after is not None:
            raise ApiError(429, "API request limit exceeded", headers={"Retry-After": str(retry_after)})
        delay = emulator.faults.take(("delay",), method, path)
        fault = emulator.faults.take(FaultBoard.RESPONSE_KINDS, method, path)
        if fault is not None and fault.kind == "status":
            assert fault.status is not None
            headers = {}
            if fault.status == 429:
                headers["Retry-After"] = str(fault.retry_after if fault.retry_after is not None else 1)
            message = fault.description or DEFAULT_MESSAGES.get(fault.status, "Injected fault")
            raise ApiError(fault.status, message, headers=headers)
        drop = fault
        response = await handler(request)
    except ApiError as error:
        response = json_response(
            {"requestId": request_id, "errors": error.errors}, error.status, error.headers
        )
    except web.HTTPException as error:
        response = json_response({"requestId": request_id, "errors": [error.reason]}, error.status)
    except Exception:
        log.exception("Unexpected error answering %s %s", method, path)
        response = json_response({"requestId": request_id, "errors": [DEFAULT_MESSAGES[500]]}, 500)
    await drain(request)
    if delay is not None and delay.seconds:
        await asyncio.sleep(delay.seconds)
    emulator.store.log_request(
        method=method,
        path=path,
        status=response.status,
        client_request_id=client_request_id,
        records=request.get("records"),
        request_id=request_id,
        dropped=drop is not None,
    )
    log.info(
        "%s %s -> %s requestId=%s%s", method, path, response.status, request_id, " (dropped)" if drop else ""
    )
    if drop is not None and request.transport is not None:
        request.transport.abort()
    return response


# ----------------------------------------------------------------------------- /v2/crm handlers


async def list_integrations(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    integrations = [
        {"integrationId": integration_id, "ownerEmail": owner, "name": name}
        for integration_id, owner, name in emulator.store.list_integrations()
    ]
    return json_response({"requestId": request["request_id"], "integrations": integrations})


async def register_integration(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object with ownerEmail and name")
    for name in ("ownerEmail", "name"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise ApiError(400, f"Mandatory field [{name}] is missing or empty")
    if emulator.store.list_integrations():
        raise ApiError(409, "An active integration already exists: delete it first")
    integration_id = random.SystemRandom().randrange(2**60, 2**63)
    emulator.store.add_integration(integration_id, body["ownerEmail"], body["name"])
    return json_response({"requestId": request["request_id"], "integrationId": integration_id})


async def delete_integration(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    integration_id = integer_param(request, "integrationId")
    client_request_id = client_request_id_param(request)
    if emulator.store.client_request_id_used(client_request_id):  # a retry learns it was accepted
        raise ApiError(409, "Client request id has already been used")
    known_integration(emulator, integration_id)
    in_progress, ready = emulator.processing_delays(0)
    accepted = emulator.store.insert_request(
        client_request_id=client_request_id,
        integration_id=integration_id,
        kind="DELETE_INTEGRATION",
        object_type=None,
        file_path=None,
        file_bytes=0,
        in_progress_delay=in_progress,
        ready_delay=ready,
        forced_error=None,
    )
    if not accepted:
        raise ApiError(409, "Client request id has already been used")
    emulator.processor.wake()
    return json_response({"requestId": request["request_id"], "clientRequestId": client_request_id}, 201)


async def get_entity_schema(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    integration_id = known_integration(emulator, integer_param(request, "integrationId"))
    object_type = object_type_param(request, SCHEMA_OBJECT_TYPES)
    fields = [schema_field_for_get(field) for field in emulator.store.get_schema(integration_id, object_type)]
    return json_response(
        {"requestId": request["request_id"], "objectTypeToSelectedFields": {object_type: fields}}
    )


async def set_entity_schema(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    integration_id = known_integration(emulator, integer_param(request, "integrationId"))
    object_type = object_type_param(request, SCHEMA_OBJECT_TYPES)
    body = await json_body(request)
    existing = emulator.store.get_schema(integration_id, object_type)
    fields, removed, errors = check_schema_update(object_type, existing, body)
    if errors:
        raise ApiError(400, *errors)
    emulator.store.set_schema(integration_id, object_type, fields, removed)
    return json_response({"requestId": request["request_id"]}, 201)


async def upload_entities(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    integration_id = integer_param(request, "integrationId")
    object_type = object_type_param(request, OBJECT_TYPES)
    client_request_id = client_request_id_param(request)
    if emulator.store.client_request_id_used(client_request_id):  # a retry learns it was accepted
        raise ApiError(409, "Client request id has already been used")
    known_integration(emulator, integration_id)
    if (request.content_length or 0) > MAX_UPLOAD_FILE_BYTES + MULTIPART_ENVELOPE_ALLOWANCE:
        raise ApiError(400, "Maximum payload size exceeded: the dataFile may be at most 200 MB")
    if request.content_type != "multipart/form-data":
        raise ApiError(400, "Content-Type should be multipart/form-data")
    target = emulator.uploads_dir / f"{uuid.uuid4().hex}.ldjson"
    try:
        size, lines = await _receive_data_file(request, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    request["records"] = lines
    if emulator.store.client_request_id_used(client_request_id):
        target.unlink(missing_ok=True)
        raise ApiError(409, "Client request id has already been used")
    forced = emulator.faults.take(("fail_next_request", "done_with_errors"), request.method, request.path)
    in_progress, ready = emulator.processing_delays(size)
    accepted = emulator.store.insert_request(
        client_request_id=client_request_id,
        integration_id=integration_id,
        kind="UPLOAD",
        object_type=object_type,
        file_path=str(target),
        file_bytes=size,
        in_progress_delay=in_progress,
        ready_delay=ready,
        forced_error=None if forced is None else forced_error(forced),
    )
    if not accepted:
        target.unlink(missing_ok=True)
        raise ApiError(409, "Client request id has already been used")
    emulator.processor.wake()
    return json_response({"requestId": request["request_id"], "clientRequestId": client_request_id}, 201)


async def _receive_data_file(request: web.Request, target: Path) -> tuple[int, int]:
    """Stream the ``dataFile`` part to ``target`` in chunks; returns (bytes, lines)."""
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError, KeyError) as error:
        raise ApiError(400, f"Malformed multipart/form-data body: {error}")
    size = lines = 0
    found = too_large = False
    last = b"\n"
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name != "dataFile" or found:
                await part.release()
                continue
            found = True
            with open(target, "wb") as stream:
                while chunk := await part.read_chunk(CHUNK_BYTES):
                    size += len(chunk)
                    if size > MAX_UPLOAD_FILE_BYTES:
                        too_large = True
                        await part.release()
                        break
                    stream.write(chunk)
                    lines += chunk.count(b"\n")
                    last = chunk[-1:]
    except (ValueError, AssertionError) as error:
        raise ApiError(400, f"Malformed multipart/form-data body: {error}")
    if not found:
        raise ApiError(400, "Required request part 'dataFile' is not present")
    if too_large:
        raise ApiError(400, "Maximum payload size exceeded: the dataFile may be at most 200 MB")
    if size == 0:
        raise ApiError(400, "The dataFile part is empty")
    return size, lines + (last != b"\n")


def forced_error(fault: Fault) -> str:
    """The ``forced_error`` of a request a ``fail_next_request`` or ``done_with_errors`` fault took."""
    if fault.kind == "done_with_errors":
        return REFUSE_EVERY_LINE + (fault.description or "Record refused")
    return fault.description or "General error: the file could not be processed"


async def request_status(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    integration_id = integer_param(request, "integrationId")
    client_request_id = client_request_id_param(request)
    row = emulator.store.get_request(client_request_id)
    if row is None or row.integration_id != integration_id:
        raise ApiError(
            400, f"No request with clientRequestId '{client_request_id}' for integration {integration_id}"
        )
    status = row.status
    if status == "PENDING" and time.time() >= row.in_progress_at:
        status = "IN_PROGRESS"
    done = status in TERMINAL_STATES
    return json_response(
        {
            "requestId": request["request_id"],
            "status": status,
            "errors": row.errors if done else [],
            "totalErrorCount": row.total_error_count if done else 0,
            "totalSuccessCount": row.total_success_count if done else 0,
        }
    )


async def get_entities(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    integration_id = known_integration(emulator, integer_param(request, "integrationId"))
    object_type = object_type_param(request, SCHEMA_OBJECT_TYPES)
    if not request.body_exists or request.content_type != "application/json":
        raise ApiError(
            415, "The object ids must be sent as a JSON array in the request body (application/json)"
        )
    ids = await json_body(request)
    if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
        raise ApiError(400, "The request body must be a JSON array of object ids (strings)")
    unique = list(dict.fromkeys(ids))[:MAX_OBJECT_IDS_PER_GET]
    found = emulator.store.get_entities(integration_id, object_type, unique)
    return json_response({"requestId": request["request_id"], "crmObjectsMap": found})


# ----------------------------------------------------------------------------- /_emulator


async def emulator_health(request: web.Request) -> web.Response:
    config = request.app[EMULATOR].config
    return json_response({"status": "ok", "dataDir": str(config.data_dir)})


async def emulator_reset(request: web.Request) -> web.Response:
    await request.app[EMULATOR].reset()
    return json_response({"status": "reset"})


async def emulator_get_config(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    return json_response(
        {"settings": emulator.settings.to_json(), "defaults": emulator.config.settings.to_json()}
    )


async def emulator_set_config(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    try:
        changes = msgspec.json.decode(await request.read())
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object of settings")
        emulator.apply_settings(changes)
    except (ValueError, msgspec.DecodeError) as error:
        return json_response({"error": str(error)}, 400)
    return await emulator_get_config(request)


async def emulator_restore_config(request: web.Request) -> web.Response:
    request.app[EMULATOR].restore_settings()
    return await emulator_get_config(request)


async def emulator_entities(request: web.Request) -> web.Response:
    object_type = request.match_info["object_type"]
    return json_response(
        request.app[EMULATOR].store.stored_entities(object_type, _integration_filter(request))
    )


async def emulator_record_counts(request: web.Request) -> web.Response:
    object_type = request.match_info["object_type"]
    return json_response(request.app[EMULATOR].store.record_counts(object_type, _integration_filter(request)))


async def emulator_user_emails(request: web.Request) -> web.Response:
    return json_response(request.app[EMULATOR].store.user_emails(_integration_filter(request)))


async def emulator_requests_log(request: web.Request) -> web.Response:
    return json_response(request.app[EMULATOR].store.request_log())


async def emulator_rate_log(request: web.Request) -> web.Response:
    return json_response(request.app[EMULATOR].limiter.log())


async def emulator_upload_counts(request: web.Request) -> web.Response:
    return json_response(request.app[EMULATOR].store.upload_counts())


async def emulator_requests(request: web.Request) -> web.Response:
    rows = request.app[EMULATOR].store.list_requests()
    return json_response(
        [
            {
                "clientRequestId": row.client_request_id,
                "integrationId": row.integration_id,
                "kind": row.kind,
                "objectType": row.object_type,
                "fileBytes": row.file_bytes,
                "status": row.status,
                "errors": row.errors,
                "totalErrorCount": row.total_error_count,
                "totalSuccessCount": row.total_success_count,
                "acceptedAt": row.accepted_at,
                "finishedAt": row.finished_at,
            }
            for row in rows
        ]
    )


async def emulator_faults(request: web.Request) -> web.Response:
    return json_response(request.app[EMULATOR].faults.to_json())


async def emulator_add_fault(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    try:
        fault = Fault.from_json(msgspec.json.decode(await request.read()))
    except (ValueError, TypeError, msgspec.DecodeError) as error:
        return json_response({"error": str(error)}, 400)
    emulator.faults.add(fault)
    return json_response(emulator.faults.to_json(), 201)


async def emulator_clear_faults(request: web.Request) -> web.Response:
    request.app[EMULATOR].faults.clear()
    return json_response([])


def _integration_filter(request: web.Request) -> int | None:
    value = request.query.get("integration_id")
    return int(value) if value and _INTEGER.fullmatch(value) else None


# ----------------------------------------------------------------------------- application


def build_app(emulator: Emulator) -> web.Application:
    app = web.Application(middlewares=[api_middleware])
    app[EMULATOR] = emulator
    crm = "/v2/crm"
    app.router.add_get(f"{crm}/integrations", list_integrations, allow_head=False)
    app.router.add_put(f"{crm}/integrations", register_integration)
    app.router.add_delete(f"{crm}/integrations", delete_integration)
    app.router.add_get(f"{crm}/entity-schema", get_entity_schema, allow_head=False)
    app.router.add_post(f"{crm}/entity-schema", set_entity_schema)
    app.router.add_get(f"{crm}/entities", get_entities, allow_head=False)
    app.router.add_post(f"{crm}/entities", upload_entities)
    app.router.add_get(f"{crm}/request-status", request_status, allow_head=False)
    base = "/_emulator"
    app.router.add_get(f"{base}/health", emulator_health)
    app.router.add_post(f"{base}/reset", emulator_reset)
    app.router.add_get(f"{base}/config", emulator_get_config)
    app.router.add_post(f"{base}/config", emulator_set_config)
    app.router.add_delete(f"{base}/config", emulator_restore_config)
    app.router.add_get(f"{base}/entities/{{object_type}}", emulator_entities)
    app.router.add_get(f"{base}/record-counts/{{object_type}}", emulator_record_counts)
    app.router.add_get(f"{base}/user-emails", emulator_user_emails)
    app.router.add_get(f"{base}/request-log", emulator_requests_log)
    app.router.add_get(f"{base}/requests", emulator_requests)
    app.router.add_get(f"{base}/rate-log", emulator_rate_log)
    app.router.add_get(f"{base}/upload-counts", emulator_upload_counts)
    app.router.add_get(f"{base}/faults", emulator_faults)
    app.router.add_post(f"{base}/faults", emulator_add_fault)
    app.router.add_delete(f"{base}/faults", emulator_clear_faults)

    async def start_processor(app: web.Application) -> None:
        app[EMULATOR].processor.start()

    async def stop_processor(app: web.Application) -> None:
        await app[EMULATOR].processor.stop()
        app[EMULATOR].store.close()

    app.on_startup.append(start_processor)
    app.on_cleanup.append(stop_processor)
    return app
