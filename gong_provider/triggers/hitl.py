"""HeldHITLTrigger: the standard provider's human-in-the-loop wait, its event held (apache/airflow#71580).

On Airflow < 3.3 the approval task defers to the standard provider's
:class:`~airflow.providers.standard.triggers.hitl.HITLTrigger`, which polls the stored answer every
few seconds and resumes the task as soon as it sees one: an answer given within seconds of the
request resumed the task before the scheduler had read the executor's report of the deferral, and the
approval was retried and asked again. This trigger waits for the answer the same way and holds the
event by the provider's one rule (:class:`~gong_provider.triggers.hold.HeldEventTrigger`). On Airflow
3.3+ the task parks in AWAITING_INPUT and the API resumes it directly: no trigger runs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from airflow.providers.standard.triggers.hitl import HITLTrigger
from airflow.triggers.base import TriggerEvent

from gong_provider.triggers.hold import HeldEventTrigger, deferral_time


class HeldHITLTrigger(HeldEventTrigger, HITLTrigger):
    """The standard provider's HITL trigger whose event (the answer, or the timeout's default) waits
    until the deferral is ``min_deferral_age()`` old; outside a triggerer it fires at once.

    :param deferred_at: wall-clock time of the deferral, epoch seconds (default: when it is built,
        which is when the task defers). Serialized beside the standard trigger's own kwargs.
    """

    def __init__(self, *, deferred_at: float | str | datetime | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferred_at = deferral_time(deferred_at)

    @classmethod
    def holding(cls, trigger: HITLTrigger) -> HeldHITLTrigger:
        """The same wait as ``trigger`` (its own serialized kwargs), its event held."""
        _, kwargs = trigger.serialize()
        return cls(**kwargs)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()  # HITLTrigger's classpath is fixed: ours replaces it
        classpath = f"{type(self).__module__}.{type(self).__qualname__}"
        return classpath, {**kwargs, "deferred_at": self.deferred_at}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started_at = time.time()
        async for event in super().run():
            await self.hold_until_resumable(started_at, f"Approval of task instance {self.ti_id}")
            yield event
