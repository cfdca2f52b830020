"""GongRequestStatusTrigger: waits in the triggerer for Gong to finish processing an upload."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from gong_provider.exceptions import GongError, GongRateLimitError, is_transient
from gong_provider.utils.deadline import as_epoch
from gong_provider.utils.events import ERROR, TIMEOUT, reason_event, status_event
from gong_provider.utils.integration_id import parse_integration_id
from gong_provider.utils.poll_schedule import (
    BACKOFF_FACTOR,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    poll_intervals,
)

if TYPE_CHECKING:
    from gong_provider.hooks.gong import GongCrmAsyncHook


class GongRequestStatusTrigger(BaseTrigger):
    """Poll ``/v2/crm/request-status`` with growing intervals until DONE, FAILED or ``end_time``.

    Yields exactly one event (see :mod:`gong_provider.utils.events`). Transient errors (429, 5xx,
    no answer: :func:`~gong_provider.exceptions.is_transient`) are logged and waited out; any other
    (401, an unknown request, a certificate that fails verification) ends the wait with an ERROR
    event. The first check comes ``poll_interval`` after the start, then the waits grow by x1.5 up to
    ``max_poll_interval``. Serialized kwargs are the conn id and primitives only: no credential.

    :param end_time: wall-clock deadline, epoch seconds (or an aware datetime / ISO string).
    :param carry: JSON state of the deferring operator, returned untouched in the event (Airflow's
        ``dag.test()`` hands a resumed task only the event, not the deferral's kwargs). Ids, counts
        and paths only: never a credential.
    """

    def __init__(
        self,
        integration_id: int | str,
        client_request_id: str,
        end_time: float | str | datetime,
        gong_conn_id: str = "gong_default",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        backoff_factor: float = BACKOFF_FACTOR,
        carry: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.integration_id = parse_integration_id(integration_id)
        self.client_request_id = client_request_id
        self.end_time = as_epoch(end_time)
        self.gong_conn_id = gong_conn_id
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        self.backoff_factor = float(backoff_factor)
        self.carry = carry
        self._hook: GongCrmAsyncHook | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "integration_id": str(self.integration_id),  # 64-bit: kept exact as text
                "client_request_id": self.client_request_id,
                "end_time": self.end_time,
                "gong_conn_id": self.gong_conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "backoff_factor": self.backoff_factor,
                **({"carry": self.carry} if self.carry is not None else {}),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from gong_provider.hooks.gong import GongCrmAsyncHook  # lazy: keeps DAG parsing fast

        self._hook = GongCrmAsyncHook(self.gong_conn_id)
        try:
            payload = await self._wait(self._hook)
            if self.carry is not None:
                payload["carry"] = self.carry
            yield TriggerEvent(payload)  # type: ignore[no-untyped-call]
        finally:
            await self.cleanup()

    async def _wait(self, hook: GongCrmAsyncHook) -> dict[str, Any]:
        waits = poll_intervals(self.poll_interval, self.max_poll_interval, self.backoff_factor)
        checks = 0
        while True:
            remaining = self.end_time - time.time()
            if remaining <= 0:
                return reason_event(
                    TIMEOUT, self.client_request_id, self.integration_id, self._timeout_message(checks)
                )
            await asyncio.sleep(min(next(waits), remaining))
            checks += 1
            try:
                status = await hook.get_request_status(self.integration_id, self.client_request_id)
            except GongError as error:
                if not is_transient(error):  # 401, an unknown request, an untrusted certificate
                    return reason_event(ERROR, self.client_request_id, self.integration_id, str(error))
                self.log.warning(
                    "Gong request %s: status check failed, will retry: %s", self.client_request_id, error
                )
                if isinstance(error, GongRateLimitError) and error.retry_after:
                    await asyncio.sleep(min(error.retry_after, max(self.end_time - time.time(), 0)))
                continue
            self.log.info("Gong request %s is %s", self.client_request_id, status.status.value)
            if status.status.is_terminal:
                return status_event(self.client_request_id, self.integration_id, status)

    def _timeout_message(self, checks: int) -> str:
        return (
            f"Gong had not finished request {self.client_request_id} (integration {self.integration_id}) "
            f"by the deadline {datetime.fromtimestamp(self.end_time).astimezone().isoformat()} "
            f"after {checks} status check(s)"
        )

    async def cleanup(self) -> None:
        """Close the HTTP session; called on every exit of the trigger."""
        if self._hook is not None:
            hook, self._hook = self._hook, None
            await hook.close()

    async def on_kill(self) -> None:
        """Gong has no API to cancel an upload: only release the session, and say so."""
        self.log.info("Gong cannot cancel request %s; it keeps processing there", self.client_request_id)
        await self.cleanup()
