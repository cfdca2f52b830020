"""HeldEventTrigger: a trigger's event waits until its deferral is old enough (apache/airflow#71580).

The one home of the hold: every trigger of the provider that resumes a task (the Gong request
status wait, the delete approval's wait on Airflow < 3.3) holds its event by this rule.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from airflow.triggers.base import BaseTrigger

from gong_provider.waiting.deadline import as_epoch, min_deferral_age, resumable_at


def deferral_time(deferred_at: float | str | datetime | None) -> float:
    """Epoch seconds of the deferral: the serialized value, else now (the trigger is built when its
    task defers)."""
    return time.time() if deferred_at is None else as_epoch(deferred_at)


class HeldEventTrigger(BaseTrigger):
    """Base of a trigger whose event is held until ``min_deferral_age()`` after the deferral.

    When a task defers, the executor's "success" report of that try reaches the scheduler seconds
    later; a task resumed before is then taken for one killed outside Airflow and sent to
    up_for_retry (why: ``min_deferral_age()`` in ``waiting/deadline.py``). A subclass sets
    ``deferred_at`` (:func:`deferral_time`), serializes it, and awaits :meth:`hold_until_resumable`
    before it yields. Outside a triggerer (``dag.test()``: no ``trigger_id``, no executor) nothing
    is held.
    """

    deferred_at: float

    def hold_seconds(self, started_at: float, now: float) -> float:
        """How long the event must wait before it may resume the task (0 outside a triggerer)."""
        if getattr(self, "trigger_id", None) is None:  # dag.test(): no executor, no stale report
            return 0.0
        return max(resumable_at(self.deferred_at, started_at, min_deferral_age()) - now, 0.0)

    async def hold_until_resumable(self, started_at: float, waiting_for: str) -> None:
        """Sleep out :meth:`hold_seconds`; ``waiting_for`` names the wait in the log."""
        hold = self.hold_seconds(started_at, time.time())
        if hold > 0:
            self.log.info(
                "%s: holding the event %.1f s, until the executor's report of the "
                "deferral has reached the scheduler (apache/airflow#71580)",
                waiting_for,
                hold,
            )
            await asyncio.sleep(hold)
