"""The one event GongRequestStatusTrigger yields, and its validation on the worker.

A payload is plain JSON, typed as :class:`~gong_provider.rows.StatusEvent`: ``{"status": "DONE" |
"FAILED" | "TIMEOUT" | "ERROR" | "QUOTA", "client_request_id", "integration_id" (str), "message",
"result": RequestStatus.to_dict() or None, "results": {clientRequestId: RequestStatus.to_dict()}}``; a
wait for several requests names them in ``client_request_ids`` (``client_request_id`` and ``result``
are then None, ``status`` is FAILED when any failed). Events of earlier releases have no ``results``.
The worker trusts nothing about it: it is validated where the task resumes (a missing key is named),
and anything but DONE, or FAILED with tolerated record errors, fails the task.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from gong_provider.exceptions import (
    GongContentMismatchError,
    GongEventError,
    GongQuotaExhausted,
    GongUploadFailed,
    GongWaitTimeout,
)
from gong_provider.models import RequestState, RequestStatus
from gong_provider.rows import RecordErrorRow, RequestStatusRow, StatusEvent, StatusFields
from gong_provider.rows import status_event as validated_event
from gong_provider.staging.failure_report import describe_failure
from gong_provider.staging.manifest import StagedFile
from gong_provider.waiting.policy import ERROR as ERROR
from gong_provider.waiting.policy import QUOTA as QUOTA
from gong_provider.waiting.policy import TIMEOUT as TIMEOUT
from gong_provider.waiting.policy import Finished, Stopped

log = logging.getLogger(__name__)


def status_row(status: RequestStatus) -> RequestStatusRow:
    """``status.to_dict()``, typed: the form of a status inside an event."""
    return cast(RequestStatusRow, status.to_dict())


def _error_rows(status: RequestStatus) -> list[RecordErrorRow]:
    return [{"line": e.line, "description": e.description} for e in status.errors]


def status_event(client_request_id: str, integration_id: int | str, status: RequestStatus) -> StatusEvent:
    return {
        "status": status.status.value,
        "client_request_id": client_request_id,
        "integration_id": str(integration_id),
        "message": f"Gong request {client_request_id} is {status.status.value}",
        "result": status_row(status),
    }


def reason_event(kind: str, client_request_id: str, integration_id: int | str, message: str) -> StatusEvent:
    return {
        "status": kind,
        "client_request_id": client_request_id,
        "integration_id": str(integration_id),
        "message": message,
        "result": None,
    }


def wait_event(
    decision: Finished | Stopped, client_request_ids: Sequence[str], integration_id: int | str
) -> StatusEvent:
    """The one event a finished or stopped wait yields (see the module docstring)."""
    single = client_request_ids[0] if len(client_request_ids) == 1 else None
    payload: StatusEvent
    if isinstance(decision, Stopped):
        payload = reason_event(decision.kind, single or "", integration_id, decision.message)
    elif single is not None:
        payload = status_event(single, integration_id, decision.statuses[single])
    else:
        failed = any(s.status is RequestState.FAILED for s in decision.statuses.values())
        overall = (RequestState.FAILED if failed else RequestState.DONE).value
        payload = {
            "status": overall,
            "client_request_id": None,
            "integration_id": str(integration_id),
            "message": f"Gong requests {', '.join(client_request_ids)}: {overall}",
            "result": None,
        }
    if isinstance(decision, Finished):
        payload["results"] = {crid: status_row(status) for crid, status in decision.statuses.items()}
    if single is None:
        payload["client_request_id"] = None
        payload["client_request_ids"] = list(client_request_ids)
    return payload


def raise_stopped(kind: str, message: str) -> None:
    """The typed error of a wait that ended without a status."""
    if kind == TIMEOUT:
        raise GongWaitTimeout(message)
    if kind == QUOTA:
        raise GongQuotaExhausted(message)
    raise GongEventError(message)


def statuses_from_event(event: Any, *, client_request_ids: Sequence[str]) -> dict[str, RequestStatus]:
    """The terminal statuses an event reports, by clientRequestId (those of ``client_request_ids`` it
    names: an event of an earlier release reports one); raises for timeouts, errors, malformed events."""
    checked = validated_event(event, waiting_for=", ".join(client_request_ids))
    results = checked.get("results")
    if not isinstance(results, dict):
        waited = str(checked["client_request_id"] or client_request_ids[0])
        return {waited: status_from_event(checked, client_request_id=waited)}
    if checked["status"] in (TIMEOUT, ERROR, QUOTA):
        raise_stopped(checked["status"], checked["message"])
    statuses: dict[str, RequestStatus] = {}
    for crid in client_request_ids:
        if crid in results:
            try:
                statuses[crid] = RequestStatus.from_dict(dict(results[crid]))
            except (KeyError, TypeError, ValueError) as error:
                raise GongEventError(f"Malformed event for Gong request {crid}: {error}") from error
            if not statuses[crid].status.is_terminal:
                raise GongEventError(f"Event reports Gong request {crid} unfinished: {event!r}")
    return statuses


def check_counts(status: RequestStatus, *, client_request_id: str, records: int | None) -> None:
    """Gong's success + error counts must add up to the file's record count: records never go missing
    silently."""
    if records is None:
        return
    counted = status.total_success_count + status.total_error_count
    if counted != records:
        raise GongContentMismatchError(
            f"Gong request {client_request_id} is {status.status.value} with {status.total_success_count} "
            f"success(es) + {status.total_error_count} error(s) = {counted} record(s), but the file "
            f"uploaded has {records} record(s)"
        )


def check_status(
    status: RequestStatus,
    *,
    client_request_id: str,
    fail_on_record_errors: bool = True,
    staged: StagedFile | None = None,
    records: int | None = None,
) -> RequestStatus:
    """Return a terminal status the task may succeed with; raise
    :class:`~gong_provider.exceptions.GongUploadFailed` otherwise (and
    :class:`~gong_provider.exceptions.GongContentMismatchError` when Gong's counts are not
    ``records``)."""
    if status.status is RequestState.DONE:
        check_counts(status, client_request_id=client_request_id, records=records)
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
    check_counts(status, client_request_id=client_request_id, records=records)
    log.warning("%s\n(fail_on_record_errors=False: the task goes on)", message)
    return status


def status_from_event(event: Any, *, client_request_id: str) -> RequestStatus:
    """The terminal status an event reports; raises for timeouts, errors and malformed events."""
    checked = validated_event(event, waiting_for=client_request_id)
    if checked["client_request_id"] not in (None, client_request_id):
        raise GongEventError(
            f"Event for Gong request {checked['client_request_id']!r} while waiting for {client_request_id}"
        )
    kind = checked["status"]
    if kind in (TIMEOUT, ERROR, QUOTA):
        raise_stopped(kind, checked["message"] or f"{kind} waiting for {client_request_id}")
    result = checked["result"]
    if kind not in (RequestState.DONE.value, RequestState.FAILED.value) or not isinstance(result, dict):
        raise GongEventError(f"Unexpected event for Gong request {client_request_id}: {event!r}")
    try:
        status = RequestStatus.from_dict(dict(result))
    except (KeyError, TypeError, ValueError) as error:
        raise GongEventError(f"Malformed event for Gong request {client_request_id}: {error}") from error
    if status.status.value != kind:
        raise GongEventError(f"Event status {kind} disagrees with its result {status.status.value}")
    return status


def status_summary(status: RequestStatus) -> StatusFields:
    """The XCom fields of a finished request."""
    return {
        "status": status.status.value,
        "request_status_id": status.request_id,
        "total_success_count": status.total_success_count,
        "total_error_count": status.total_error_count,
        "errors": _error_rows(status),
    }
