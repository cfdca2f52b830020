"""Old path of :mod:`gong_provider.waiting.events`, re-exported for one release (see CHANGELOG.md)."""

from __future__ import annotations

from gong_provider.exceptions import GongEventError, GongUploadFailed, GongWaitTimeout
from gong_provider.waiting.events import (
    ERROR,
    TIMEOUT,
    check_status,
    reason_event,
    status_event,
    status_from_event,
    status_summary,
)

__all__ = [
    "ERROR",
    "TIMEOUT",
    "GongEventError",
    "GongUploadFailed",
    "GongWaitTimeout",
    "check_status",
    "reason_event",
    "status_event",
    "status_from_event",
    "status_summary",
]
