"""Deprecated: the modules that lived here moved to homes that say what they are.

``gong_provider.ids`` (integration ids, clientRequestIds), ``gong_provider.waiting`` (poll schedule,
deadline, the trigger's event, the synchronous wait), ``gong_provider.operators.upload_files``,
``gong_provider.staging.failure_report``, ``gong_provider.utf8`` and ``gong_provider.airflow_compat``.
The old ``gong_provider.utils.*`` paths re-export them for one release (see CHANGELOG.md).
"""

from __future__ import annotations

from gong_provider.ids import (
    check_client_request_id,
    is_valid_client_request_id,
    make_client_request_id,
)
from gong_provider.waiting.poll_schedule import (
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
