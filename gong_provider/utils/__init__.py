"""Small helpers of the operator, sensor and trigger: ids, poll schedule, events, error reports."""

from __future__ import annotations

from gong_provider.utils.client_request_id import (
    check_client_request_id,
    is_valid_client_request_id,
    make_client_request_id,
)
from gong_provider.utils.poll_schedule import (
    BACKOFF_FACTOR,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    poll_intervals,
)

__all__ = [
    "BACKOFF_FACTOR",
    "DEFAULT_MAX_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "check_client_request_id",
    "is_valid_client_request_id",
    "make_client_request_id",
    "poll_intervals",
]
