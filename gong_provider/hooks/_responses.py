"""Reading Gong's answers: JSON bodies (64-bit ids kept exact), typed errors, the per-request log line.

Shared by the sync and async hooks. Error texts are built only from the status, Gong's
``requestId`` and ``errors``, the method and the path: never from headers, so never a credential.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from gong_provider.exceptions import (
    GongApiError,
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


def interpret(
    config: GongConnectionConfig,
    *,
    method: str,
    path: str,
    status: int,
    content: bytes,
    retry_after: str | None,
    elapsed_ms: float,
) -> dict[str, Any]:
    """Log the one INFO line of a request and return its JSON object, or raise its typed error."""
    if 200 <= status < 300:
        try:
            data = expect_object(config, content, status=status, method=method, path=path)
        except GongApiError:
            _log_response(method, path, status, None, elapsed_ms)
            raise
        request_id = data.get("requestId")
        _log_response(method, path, status, str(request_id) if request_id else None, elapsed_ms)
        return data
    error = api_error(
        config, status=status, content=content, method=method, path=path, retry_after=retry_after
    )
    _log_response(method, path, status, error.request_id, elapsed_ms)
    raise error


def _log_response(method: str, path: str, status: int, request_id: str | None, elapsed_ms: float) -> None:
    """The one INFO line per request: method, path, status, Gong's requestId, elapsed time."""
    log.info("Gong %s %s -> %s requestId=%s (%.0f ms)", method, path, status, request_id or "-", elapsed_ms)
