"""GongRequestStatusTrigger: waits in the triggerer for Gong to finish processing an upload."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import TriggerEvent

from gong_provider.exceptions import GongError
from gong_provider.ids import parse_integration_id
from gong_provider.rows import StatusEvent
from gong_provider.triggers.hold import HeldEventTrigger, deferral_time
from gong_provider.waiting.deadline import as_epoch
from gong_provider.waiting.events import wait_event
from gong_provider.waiting.policy import CheckAfter, Decision, StatusWait
from gong_provider.waiting.poll_schedule import (
    BACKOFF_FACTOR,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
)

if TYPE_CHECKING:
    from gong_provider.hooks.gong import GongCrmAsyncHook


class GongRequestStatusTrigger(HeldEventTrigger):
    """Poll ``/v2/crm/request-status`` with growing intervals until DONE, FAILED or ``end_time``.

    Waits by the one wait policy (:mod:`gong_provider.waiting.policy`), as the operator's and the
    sensor's synchronous waits do: the first check ``poll_interval`` after the start (at least one
    check, even past ``end_time``), then waits growing x1.5 up to ``max_poll_interval``; transient
    errors are waited out (a Retry-After longer than the time left ends the wait: QUOTA), any other
    (401, an unknown request, an untrusted certificate) ends it with an ERROR event; every check,
    the hook's retries included, is bounded by ``end_time``. With ``client_request_ids`` it waits for
    all of them (a deferred operator's files, one deferral). Yields exactly one event (see
    :mod:`gong_provider.waiting.events`). Serialized kwargs are the conn id and primitives only.

    In a triggerer, the event is held until ``min_deferral_age()`` (15 s by default) after the
    deferral (:class:`~gong_provider.triggers.hold.HeldEventTrigger`), so that the scheduler has read
    the executor's late "success" of the deferring try before the task resumes (apache/airflow#71580:
    otherwise the resumed try is marked up_for_retry). Polling goes on meanwhile; only the event
    waits. Run outside a triggerer (``dag.test()``, ``airflow dags test``: no ``trigger_id``, no
    executor), it fires at once.

    :param integration_id: Gong's integration id, an int or a string of digits (serialized as a string).
    :param client_request_id: the clientRequestId of the upload to wait for.
    :param client_request_ids: several clientRequestIds to wait for, all of them (instead of
        ``client_request_id``).
    :param end_time: wall-clock deadline, epoch seconds (or an aware datetime / ISO string).
    :param gong_conn_id: Airflow connection of type ``gong``.
    :param poll_interval: first wait, in seconds, before the first check (default 5).
    :param max_poll_interval: longest wait between checks, in seconds (default 60).
    :param backoff_factor: how much each wait grows over the one before (default 1.5).
    :param deferred_at: wall-clock time of the deferral, epoch seconds; defaults to when the trigger
        is built, which for the operator and the sensor is the moment they defer. Serialized, so the
        triggerer knows it.
    :param carry: JSON state of the deferring operator, returned untouched in the event (Airflow's
        ``dag.test()`` hands a resumed task only the event, not the deferral's kwargs). Ids, counts
        and paths only: never a credential.
    """

    def __init__(
        self,
        integration_id: int | str,
        client_request_id: str | None = None,
        end_time: float | str | datetime = 0.0,
        gong_conn_id: str = "gong_default",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        backoff_factor: float = BACKOFF_FACTOR,
        carry: dict[str, Any] | None = None,
        deferred_at: float | str | datetime | None = None,
        client_request_ids: list[str] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.integration_id = parse_integration_id(integration_id)  # the door: kwargs hold digits
        self.client_request_ids = list(
            client_request_ids or ([client_request_id] if client_request_id else [])
        )
        if not self.client_request_ids:
            raise ValueError("GongRequestStatusTrigger needs client_request_id or client_request_ids")
        self.client_request_id = self.client_request_ids[0]
        self.end_time = as_epoch(end_time)
        self.gong_conn_id = gong_conn_id
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        self.backoff_factor = float(backoff_factor)
        self.carry = carry
        self.deferred_at = deferral_time(deferred_at)
        self._hook: GongCrmAsyncHook | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "integration_id": str(self.integration_id),  # 64-bit: kept exact as text
                "client_request_id": self.client_request_id,
                **(
                    {"client_request_ids": self.client_request_ids}
                    if len(self.client_request_ids) > 1
                    else {}
                ),
                "end_time": self.end_time,
                "gong_conn_id": self.gong_conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "backoff_factor": self.backoff_factor,
                "deferred_at": self.deferred_at,
                **({"carry": self.carry} if self.carry is not None else {}),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from gong_provider.hooks.gong import GongCrmAsyncHook  # lazy: keeps DAG parsing fast

        started_at = time.time()
        self._hook = GongCrmAsyncHook(self.gong_conn_id)
        try:
            payload = await self._wait(self._hook)
            if self.carry is not None:
                payload["carry"] = self.carry
            await self.hold_until_resumable(started_at, f"Gong request {self.client_request_id}")
            yield TriggerEvent(payload)  # type: ignore[no-untyped-call]
        finally:
            await self.cleanup()

    async def _wait(self, hook: GongCrmAsyncHook) -> StatusEvent:
        wait = StatusWait(
            self.client_request_ids,
            deadline=self.end_time,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            backoff_factor=self.backoff_factor,
        )
        decision: Decision = wait.start()
        while isinstance(decision, CheckAfter):
            await asyncio.sleep(decision.seconds)
            decision = await self._check_round(hook, wait)
        return wait_event(decision, self.client_request_ids, self.integration_id)

    async def _check_round(self, hook: GongCrmAsyncHook, wait: StatusWait) -> Decision:
        """Check every pending request once, as :func:`~gong_provider.waiting.polling.check_round`."""
        for client_request_id in wait.pending:
            try:
                status = await hook.get_request_status(
                    self.integration_id, client_request_id, deadline=wait.check_deadline()
                )
            except GongError as error:
                self.log.warning("Gong request %s: status check failed: %s", client_request_id, error)
                return wait.after_round(error)
            self.log.info("Gong request %s is %s", client_request_id, status.status.value)
            wait.record(client_request_id, status)
        return wait.after_round()

    async def cleanup(self) -> None:
        """Close the HTTP session; called on every exit of the trigger."""
        if self._hook is not None:
            hook, self._hook = self._hook, None
            await hook.close()

    async def on_kill(self) -> None:
        """Gong has no API to cancel an upload: only release the session, and say so."""
        self.log.info("Gong cannot cancel request %s; it keeps processing there", self.client_request_id)
        await self.cleanup()
