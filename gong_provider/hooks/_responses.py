"""Reading Gong's answers: JSON bodies (64-bit ids kept exact), typed errors, the per-request log line.

Shared by the sync and async hooks. Error texts are built only from the status, Gong's
``requestId`` and ``errors``, the method and the path: never from headers, so never a credential.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from gong_provider.exceptions import (
    GongApiError,
    GongConflictError,
    GongConnectionError,
    GongRateLimitError,
    error_class_for_status,
)
from gong_provider.hooks._connection import GongConnectionConfig

log = logging.getLogger("gong_provider.hooks")

_MESSAGES: Mapping[int, str] = {
    400: "Gong rejected the request as malformed",
    401: "Gong refused the credentials: check the access key and secret (or the OAuth token) and that "
    "the host is your company's Gong API host (a tenant on another region's host gets this error)",
    403: "Gong refused access: the credentials lack the scope for this call, or the host is "
    "not your company's Gong API host",
    404: "Gong found no such resource",
    409: "Gong reported a conflict",
    413: "Gong refused the payload as too large",
    415: "Gong refused the request's content type",
    429: "Gong's API rate limit was exceeded",
}


def parse_json(content: bytes) -> Any:
    """Decode a JSON body; Python's json keeps integers exact, so a 64-bit id never becomes a float."""
    if not content:
        return None
    return json.loads(content)


def parse_retry_after(value: str | None) -> float | None:
    """Gong sends whole seconds; anything unreadable means "unknown" (the backoff applies)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _error_details(content: bytes) -> tuple[str | None, list[str]]:
    """Gong's ``{requestId, errors: [...]}``; tolerate any other body without quoting it."""
    try:
        data = parse_json(content)
    except (ValueError, UnicodeDecodeError):
        return None, []
    if not isinstance(data, dict):
        return None, []
    request_id = data.get("requestId")
    raw_errors = data.get("errors") or []
    if not isinstance(raw_errors, list):
        raw_errors = [raw_errors]
    errors = [item if isinstance(item, str) else json.dumps(item) for item in raw_errors]
    return (str(request_id) if request_id is not None else None), errors


def api_error(
    config: GongConnectionConfig,
    *,
    status: int,
    content: bytes,
    method: str,
    path: str,
    retry_after: str | None = None,
) -> GongApiError:
    """The typed error for an error answer, with Gong's requestId and messages."""
    request_id, errors = _error_details(content)
    errors = [config.redact(error) for error in errors]
    message = _MESSAGES.get(status) or (
        "Gong had an internal error" if status >= 500 else "Gong answered with an error"
    )
    details: dict[str, Any] = {"status_code": status, "request_id": request_id, "errors": errors}
    error_class = error_class_for_status(status)
    if error_class is GongRateLimitError:
        details["retry_after"] = parse_retry_after(retry_after)
    return error_class(message, method=method, path=path, **details)


def connection_error(
    config: GongConnectionConfig, exc: BaseException, *, method: str, path: str, elapsed_ms: float
) -> GongConnectionError:
    """No HTTP answer (refused, dropped, timed out): log it, and say which without the library's URL
    dump."""
    kind = type(exc).__name__
    log.warning("Gong %s %s -> no response: %s (%.0f ms)", method, path, kind, elapsed_ms)
    detail = config.redact(str(exc))[:300]
    return GongConnectionError(
        f"No answer from Gong at {config.base_url} ({kind}: {detail})", method=method, path=path
    )


def invalid_body_error(
    config: GongConnectionConfig, *, status: int, method: str, path: str, what: str
) -> GongApiError:
    return GongApiError(
        f"Gong's answer was not the expected JSON ({what}); is {config.base_url} a Gong API host?",
        status_code=status,
        method=method,
        path=path,
    )


def expect_object(
    config: GongConnectionConfig, content: bytes, *, status: int, method: str, path: str
) -> dict[str, Any]:
    """The JSON object of a successful answer (an empty body reads as ``{}``)."""
    try:
        data = parse_json(content)
    except (ValueError, UnicodeDecodeError):
        raise invalid_body_error(config, status=status, method=method, path=path, what="not JSON")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise invalid_body_error(config, status=status, method=method, path=path, what="not an object")
    return data


@dataclass(frozen=True)
class Answer:
    """One HTTP answer as both hooks hand it over (requests or aiohttp): what the rules here read."""

    method: str
    path: str
    status: int
    content: bytes
    retry_after: str | None
    elapsed_ms: float


def raise_for_status(config: GongConnectionConfig, answer: Answer) -> None:
    """As ``requests``' ``raise_for_status``: a status of 400 or more raises its typed error."""
    if answer.status >= 400:
        _raise_error(config, answer)


def interpret(config: GongConnectionConfig, answer: Answer) -> dict[str, Any]:
    """Log the one INFO line of a request and return its JSON object, or raise its typed error."""
    if not 200 <= answer.status < 300:
        _raise_error(config, answer)
    try:
        data = expect_object(
            config, answer.content, status=answer.status, method=answer.method, path=answer.path
        )
    except GongApiError:
        _log_response(answer, None)
        raise
    _log_response(answer, request_id_of(data))
    return data


def _raise_error(config: GongConnectionConfig, answer: Answer) -> NoReturn:
    error = api_error(
        config,
        status=answer.status,
        content=answer.content,
        method=answer.method,
        path=answer.path,
        retry_after=answer.retry_after,
    )
    _log_response(answer, error.request_id)
    raise error


def request_id_of(data: Mapping[str, Any]) -> str | None:
    """Gong's ``requestId`` of an answer, as text (None when absent)."""
    value = data.get("requestId")
    return str(value) if value is not None else None


def conflict_without_match(error: GongConflictError, name: str, names: list[str]) -> GongConflictError:
    """A 409 on registering an integration when none visible has that name: say what exists."""
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


def _log_response(answer: Answer, request_id: str | None) -> None:
    """The one INFO line per request: method, path, status, Gong's requestId, elapsed time."""
    log.info(
        "Gong %s %s -> %s requestId=%s (%.0f ms)",
        answer.method,
        answer.path,
        answer.status,
        request_id or "-",
        answer.elapsed_ms,
    )
