"""The synchronous side of the one wait policy (:mod:`gong_provider.waiting.policy`): the operator's
wait without deferring, its check before deferring, and the sensor's pokes."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from gong_provider.exceptions import GongError
from gong_provider.ids import IntegrationId
from gong_provider.models import RequestStatus
from gong_provider.waiting.events import raise_stopped
from gong_provider.waiting.policy import ERROR, CheckAfter, Decision, Finished, StatusWait, Stopped

if TYPE_CHECKING:
    from gong_provider.hooks.gong import GongCrmHook

log = logging.getLogger(__name__)


def check_round(hook: GongCrmHook, integration_id: IntegrationId, wait: StatusWait) -> Decision:
    """Check every pending request once (each call bounded by the wait's deadline) and decide.

    A non-transient error (401, an unknown request, an untrusted certificate) is raised as it is."""
    for client_request_id in wait.pending:
        try:
            status = hook.get_request_status(
                integration_id, client_request_id, deadline=wait.check_deadline()
            )
        except GongError as error:
            decision = wait.after_round(error)
            if isinstance(decision, Stopped) and decision.kind == ERROR:
                raise
            log.warning("Gong request %s: status check failed: %s", client_request_id, error)
            return decision
        log.info("Gong request %s is %s", client_request_id, status.status.value)
        wait.record(client_request_id, status)
    return wait.after_round()


def finished_statuses(decision: Decision) -> dict[str, RequestStatus]:
    """The statuses of a finished wait; raises the typed error of a stopped one."""
    if isinstance(decision, Stopped):
        raise_stopped(decision.kind, decision.message)
    assert isinstance(decision, Finished)
    return decision.statuses


def wait_until_finished(
    hook: GongCrmHook, integration_id: IntegrationId, wait: StatusWait
) -> dict[str, RequestStatus]:
    """Wait (holding the worker slot) until every request is DONE or FAILED; raise
    :class:`~gong_provider.exceptions.GongWaitTimeout` (or ``GongQuotaExhausted``) when it cannot."""
    decision: Decision = wait.start()
    while isinstance(decision, CheckAfter):
        time.sleep(decision.seconds)
        decision = check_round(hook, integration_id, wait)
    return finished_statuses(decision)
