"""The one event GongRequestStatusTrigger yields, and its validation on the worker.

A payload is plain JSON: ``{"status": "DONE" | "FAILED" | "TIMEOUT" | "ERROR", "client_request_id",
"integration_id" (str), "message", "result": RequestStatus.to_dict() or None}``. The worker trusts
nothing about it: anything but DONE, or FAILED with tolerated record errors, fails the task.
"""

from __future__ import annotations

import logging
from typing import Any

from gong_provider.exceptions import GongEventError, GongUploadFailed, GongWaitTimeout
from gong_provider.models import RequestState, RequestStatus
from gong_provider.staging.failure_report import describe_failure
from gong_provider.staging.manifest import StagedFile

log = logging.getLogger(__name__)

TIMEOUT = "TIMEOUT"
ERROR = "ERROR"


def status_event(client_request_id: str, integration_id: int | str, status: RequestStatus) -> dict[str, Any]:
    return {
        "status": status.status.value,
        "client_request_id": client_request_id,
        "integration_id": str(integration_id),
        "message": f"Gong request {client_request_id} is {status.status.value}",
        "result": status.to_dict(),
    }


def reason_event(
    kind: str, client_request_id: str, integration_id: int | str, message: str
) -> dict[str, Any]:
    return {
        "status": kind,
        "client_request_id": client_request_id,
        "integration_id": str(integration_id),
        "message": message,
        "result": None,
    }


def check_status(
    status: RequestStatus,
    *,
    client_request_id: str,
    fail_on_record_errors: bool = True,
    staged: StagedFile | None = None,
) -> RequestStatus:
    """Return a terminal status the task may succeed with; raise
    :class:`~gong_provider.exceptions.GongUploadFailed` otherwise."""
    if status.status is RequestState.DONE:
        return status
    if status.status is not RequestState.FAILED:
        raise GongEventError(f"Gong request {client_request_id} is not finished: {status.status.value}")
    message = describe_failure(status, client_request_id=client_request_id, staged=staged)
    if (
        fail_on_record_errors
        or status.has_general_error
        or (not status.errors and not status.total_error_count)
    ):
        raise GongUploadFailed(message)
    log.warning("%s\n(fail_on_record_errors=False: the task goes on)", message)
    return status


def status_from_event(event: Any, *, client_request_id: str) -> RequestStatus:
    """The terminal status an event reports; raises for timeouts, errors and malformed events."""
    if not isinstance(event, dict) or "status" not in event:
        raise GongEventError(f"Unexpected event for Gong request {client_request_id}: {event!r}")
    if event.get("client_request_id") not in (None, client_request_id):
        raise GongEventError(
            f"Event for Gong request {event.get('client_request_id')!r} while waiting for {client_request_id}"
        )
    kind = event["status"]
    if kind == TIMEOUT:
        raise GongWaitTimeout(str(event.get("message") or f"Timed out waiting for {client_request_id}"))
    if kind == ERROR:
        raise GongEventError(str(event.get("message") or f"Error waiting for {client_request_id}"))
    result = event.get("result")
    if kind not in (RequestState.DONE.value, RequestState.FAILED.value) or not isinstance(result, dict):
        raise GongEventError(f"Unexpected event for Gong request {client_request_id}: {event!r}")
    try:
        status = RequestStatus.from_dict(result)
    except (KeyError, TypeError, ValueError) as error:
        raise GongEventError(f"Malformed event for Gong request {client_request_id}: {error}") from error
    if status.status.value != kind:
        raise GongEventError(f"Event status {kind} disagrees with its result {status.status.value}")
    return status


def status_summary(status: RequestStatus) -> dict[str, Any]:
    """The XCom fields of a finished request."""
    return {
        "status": status.status.value,
        "request_status_id": status.request_id,
        "total_success_count": status.total_success_count,
        "total_error_count": status.total_error_count,
        "errors": [{"line": e.line, "description": e.description} for e in status.errors],
    }
