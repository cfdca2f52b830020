"""Turn Gong's FAILED status into a message a user can act on: each line error names its record."""

from __future__ import annotations

import logging

from gong_provider.models import RequestStatus
from gong_provider.staging.manifest import StagedFile

log = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 20
"""Gong returns at most 20 errors per request."""


def _locations(staged: StagedFile | None, status: RequestStatus) -> dict[int, str]:
    if staged is None:
        return {}
    lines = [error.line for error in status.errors if not error.is_general]
    if not lines:
        return {}
    try:
        from gong_provider.staging.locate import locate_lines

        return {line: str(location) for line, location in locate_lines(staged, lines).items()}
    except Exception as error:  # the staged file may be gone; the message still lists Gong's errors
        log.warning("Could not map Gong's line errors back to %s: %s", staged.path, error)
        return {}


def describe_failure(
    status: RequestStatus,
    *,
    client_request_id: str,
    staged: StagedFile | None = None,
    limit: int = MAX_LISTED_ERRORS,
) -> str:
    """Counts, Gong's requestId, and up to ``limit`` line errors with objectId and source location."""
    where = f" ({staged.path})" if staged is not None else ""
    head = (
        f"Gong reported {status.status.value} for clientRequestId {client_request_id}{where}: "
        f"{status.total_error_count} record error(s), {status.total_success_count} record(s) stored"
    )
    if status.request_id:
        head += f" (requestId {status.request_id})"
    locations = _locations(staged, status)
    lines = [head]
    for error in status.errors[:limit]:
        if error.is_general:
            lines.append(f"  general error: {error.description}")
            continue
        located = locations.get(error.line)
        record = f" [{located}]" if located else ""
        lines.append(f"  line {error.line}{record}: {error.description}")
    hidden = max(status.total_error_count, len(status.errors)) - min(len(status.errors), limit)
    if hidden > 0:
        lines.append(f"  ... and {hidden} more error(s) Gong did not list")
    return "\n".join(lines)
