"""Shared by the operator and the sensor: check a request once, and wait synchronously with the schedule."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from gong_provider.exceptions import GongError, GongWaitTimeout, is_transient
from gong_provider.models import RequestStatus
from gong_provider.waiting.poll_schedule import poll_intervals

if TYPE_CHECKING:
    from gong_provider.hooks.gong import GongCrmHook

log = logging.getLogger(__name__)


def check_once(hook: GongCrmHook, integration_id: int, client_request_id: str) -> RequestStatus | None:
    """The status, or None when Gong could not answer now (:func:`is_transient`): keep waiting.

    Any other error (401, an unknown request, a certificate that fails verification) is raised."""
    try:
        return hook.get_request_status(integration_id, client_request_id)
    except GongError as error:
        if not is_transient(error):
            raise
        log.warning("Gong request %s: status check failed, will retry: %s", client_request_id, error)
        return None


def wait_until_finished(
    hook: GongCrmHook,
    integration_id: int,
    client_request_id: str,
    *,
    deadline: float,
    poll_interval: float,
    max_poll_interval: float,
) -> RequestStatus:
    """Poll (holding the worker slot) until DONE or FAILED; raise GongWaitTimeout at ``deadline``."""
    waits = poll_intervals(poll_interval, max_poll_interval)
    checks = 0
    while True:
        status = check_once(hook, integration_id, client_request_id)
        checks += 1
        if status is not None and status.status.is_terminal:
            return status
        remaining = deadline - time.time()
        if remaining <= 0:
            raise GongWaitTimeout(
                f"Gong had not finished request {client_request_id} by the deadline "
                f"after {checks} status check(s)"
            )
        time.sleep(min(next(waits), remaining))
