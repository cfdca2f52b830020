"""Wall-clock deadlines: a trigger may resume in another process, so monotonic clocks do not carry over."""

from __future__ import annotations

import time
from datetime import datetime, timedelta


def seconds(value: float | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def wait_deadline(timeout: float | timedelta | None, execution_timeout: float | timedelta | None) -> float:
    """Epoch seconds when waiting must stop: ``min(timeout, execution_timeout)`` from now.

    Deferred tasks are not killed by ``execution_timeout`` while their trigger runs, so the trigger
    itself stops at the earlier of the two.
    """
    limits = [s for s in (seconds(timeout), seconds(execution_timeout)) if s is not None]
    return time.time() + (min(limits) if limits else 7 * 24 * 3600.0)


DEFERRAL_MARGIN = timedelta(minutes=5)
"""Airflow's own deferral timeout, beyond the trigger's deadline: a safety net if no triggerer runs."""


def deferral_timeout(deadline: float) -> timedelta:
    """The ``timeout`` to give ``defer()`` for a trigger that stops itself at ``deadline``."""
    return timedelta(seconds=max(deadline - time.time(), 0)) + DEFERRAL_MARGIN


def as_epoch(end_time: float | int | str | datetime) -> float:
    """Accept epoch seconds, an ISO-8601 string or an aware datetime."""
    if isinstance(end_time, datetime):
        return end_time.timestamp()
    if isinstance(end_time, str):
        try:
            return float(end_time)
        except ValueError:
            return datetime.fromisoformat(end_time).timestamp()
    return float(end_time)
